"""Which addresses' features a new block range can change, and their recomputation from their own rows.

`ops.fraud.features.address_features` gives an address a row that depends on (a) the transactions and
token transfers in which it is the sender or the recipient (counts, values, counterparties, timing,
block span, creations) and (b) whether each recipient of those is a contract (the "sent to contract"
ether and token features). Nothing else: no rank, no population statistic. So a new range changes
exactly the addresses that appear in its rows (any role), plus the senders to a contract that became
known in it (a contract created or listed there, funded before); recomputing those from their whole
history, with the contract status of their recipients, equals the full computation for them.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ops.fraud.features import address_features
from ops.fraud.schema import ADDRESS_FEATURES_SCHEMA

#: The columns two feature rows must agree on to be the same (computed_at says when, not what).
COMPARED = [c for c in ADDRESS_FEATURES_SCHEMA if c != "computed_at"]


def _lowered(frame: pl.DataFrame | None, *columns: str) -> set[str]:
    if frame is None or frame.is_empty():
        return set()
    out: set[str] = set()
    for c in columns:
        if c in frame.columns:
            out |= set(frame[c].drop_nulls().cast(pl.Utf8).str.to_lowercase().to_list())
    return out


def _spellings(frame: pl.DataFrame | None, *columns: str) -> set[str]:
    """The addresses as stored (the indexer stores lower case; other spellings are read as they are)."""
    if frame is None or frame.is_empty():
        return set()
    return {v for c in columns if c in frame.columns for v in frame[c].drop_nulls().cast(pl.Utf8).to_list()}


def range_addresses(transactions: pl.DataFrame | None, transfers: pl.DataFrame | None) -> set[str]:
    """Every sender and recipient of the range's transactions and token transfers, as stored."""
    return _spellings(transactions, "from_address", "to_address") | _spellings(transfers, "from_address", "to_address")


def new_contracts(transactions: pl.DataFrame | None, contracts: pl.DataFrame | None) -> set[str]:
    """Contracts created or listed in the range (their earlier senders' contract features change)."""
    return _spellings(transactions, "receipt_contract_address") | _spellings(contracts, "address")


def senders(*frames: pl.DataFrame | None) -> set[str]:
    """The senders of rows (transactions or transfers to the new contracts)."""
    return set().union(*(_spellings(f, "from_address") for f in frames))


def recompute(
    touched: set[str],
    transactions: pl.DataFrame,
    transfers: pl.DataFrame | None,
    contracts: pl.DataFrame | None,
    *,
    computed_at: datetime | None = None,
) -> pl.DataFrame:
    """The feature rows of `touched` (lower-cased) from their rows: `transactions` and `transfers` hold
    every row in which a touched address is sender or recipient (other addresses' rows may be there
    too: they are computed and dropped), `contracts` every contract among their recipients."""
    wanted = {a.lower() for a in touched}
    if not wanted:
        return pl.DataFrame(schema=ADDRESS_FEATURES_SCHEMA)
    out = address_features(transactions, transfers, contracts, computed_at=computed_at)
    return out.filter(pl.col("address").is_in(sorted(wanted)))


def recipients(transactions: pl.DataFrame, transfers: pl.DataFrame | None) -> set[str]:
    """Whose contract status the touched rows need: every recipient of those rows, as stored."""
    return _spellings(transactions, "to_address") | _spellings(transfers, "to_address")


def changed(fresh: pl.DataFrame, stored: pl.DataFrame) -> pl.DataFrame:
    """The rows of `fresh` that differ from `stored` (same address) in any column but computed_at."""
    if fresh.is_empty() or stored.is_empty():
        return fresh
    same = fresh.select(COMPARED).join(stored.select(COMPARED), on=COMPARED, how="semi", nulls_equal=True)
    return fresh.filter(~pl.col("address").is_in(same["address"].implode()))
