"""Address features folded in range by range: the warehouse reads and writes of the incremental path.

A run reads the blocks indexed since its cursor by block range, the whole history of the addresses they
touch by address (the from/to indexes of chain_transactions and token_transfers, the key of contracts),
recomputes those rows with the same pure function as the full path (`ops.fraud.feature_delta`) and writes
the rows that changed: its cost follows the new range and the touched addresses, not the chain's history.
Reads assume what the indexer writes: addresses in lower case (a row is found under the spelling stored)
and every created contract listed in `contracts`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from assets.intel.cluster_store import read_by
from ops.fraud import feature_delta as delta
from ops.fraud.features import address_features
from resources.tables import (
    ADDRESS_FEATURES,
    ADDRESS_FEATURES_CURSOR,
    CHAIN_TRANSACTIONS,
    CONTRACTS,
    TOKEN_TRANSFERS,
)
from resources.warehouse import Warehouse

TX_COLUMNS = ["from_address", "to_address", "value", "block_timestamp", "block_number", "receipt_contract_address"]
TRANSFER_COLUMNS = ["token_address", "from_address", "to_address", "value", "block_number", "block_timestamp",
                    "transaction_hash", "log_index"]
CONTRACT_COLUMNS = ["address", "block_number"]
NAME = "address_features"
SCORES = "address_risk_scores"


def _columns(db: Warehouse, name: str, wanted: list[str]) -> list[str] | None:
    if not db.has_table(name):
        return None
    return [c for c in wanted if c in db.table(name).c]


def _read(db: Warehouse, name: str, wanted: list[str], ranges=None) -> pl.DataFrame | None:
    columns = _columns(db, name, wanted)
    return db.read(name, ranges=ranges, columns=columns) if columns is not None else None


def read_whole(db: Warehouse) -> dict[str, pl.DataFrame | None]:
    """The three chain tables whole (the full path)."""
    return {"transactions": _read(db, CHAIN_TRANSACTIONS.name, TX_COLUMNS),
            "transfers": _read(db, TOKEN_TRANSFERS.name, TRANSFER_COLUMNS),
            "contracts": _read(db, CONTRACTS.name, CONTRACT_COLUMNS)}


def last_block(db: Warehouse) -> int | None:
    """The newest block number in the chain tables (an indexed max)."""
    tops = [db.aggregate(spec.name, last=("max", "block_number")).get("last")
            for spec in (CHAIN_TRANSACTIONS, TOKEN_TRANSFERS, CONTRACTS) if db.has_table(spec.name)]
    tops = [int(t) for t in tops if t is not None]
    return max(tops) if tops else None


def _cursor_row(db: Warehouse, name: str) -> dict | None:
    db.ensure_table(ADDRESS_FEATURES_CURSOR)
    rows = db.read(ADDRESS_FEATURES_CURSOR.name, {"name": name})
    return rows.row(0, named=True) if rows.height else None


def _save_row(db: Warehouse, name: str, folded_to=None, through=None, versions=None) -> None:
    db.upsert(ADDRESS_FEATURES_CURSOR, pl.DataFrame(
        {"name": [name], "folded_to": [folded_to], "through": [through], "versions": [versions]},
        schema=ADDRESS_FEATURES_CURSOR.schema))


def load_cursor(db: Warehouse) -> int | None:
    """The last block folded into address_features, or None (never folded: the full path)."""
    row = _cursor_row(db, NAME)
    return int(row["folded_to"]) if row and row["folded_to"] is not None else None


def save_cursor(db: Warehouse, folded_to: int, written_at: datetime | None = None) -> None:
    """After a run's writes: the block folded to, and the computed_at of the rows it wrote (the scores
    read up to it, so a run still writing is never half seen). A run that wrote nothing keeps it."""
    if written_at is None:
        row = _cursor_row(db, NAME)
        written_at = row["through"] if row else None
    _save_row(db, NAME, folded_to=folded_to, through=written_at)


def features_written_at(db: Warehouse) -> datetime | None:
    """The computed_at of the last address_features run that wrote rows (None before any)."""
    row = _cursor_row(db, NAME)
    return row["through"] if row else None


def scored(db: Warehouse) -> tuple[datetime | None, str | None]:
    """(computed_at the scores are up to date with, the model versions they were made with)."""
    row = _cursor_row(db, SCORES)
    return (row["through"], row["versions"]) if row else (None, None)


def save_scored(db: Warehouse, through: datetime | None, versions: str) -> None:
    _save_row(db, SCORES, through=through, versions=versions)


def features_to_score(db: Warehouse, after: datetime | None, through: datetime | None) -> pl.DataFrame:
    """Feature rows written after `after` up to `through` (all rows when `after` is None)."""
    if after is None:
        return db.read(ADDRESS_FEATURES.name)
    if through is None or through <= after:
        return pl.DataFrame(schema=ADDRESS_FEATURES.schema)
    tick = timedelta(microseconds=1)
    return db.read(ADDRESS_FEATURES.name, ranges={"computed_at": (after + tick, through + tick)})


def _by_address(db: Warehouse, spec, wanted: list[str], addresses: list[str], roles=("from_address", "to_address")):
    columns = _columns(db, spec.name, wanted)
    if columns is None or not addresses:
        return None
    parts = [read_by(db, spec, role, addresses, columns=columns) for role in roles]
    key = ["transaction_hash", "log_index"] if spec is TOKEN_TRANSFERS else None
    both = pl.concat(parts)
    # a row with the address on both sides (a self-transfer) is read twice: keep it once
    return both.unique(subset=key, maintain_order=True) if key and all(k in columns for k in key) else both.unique()


def fold(db: Warehouse, start: int, end: int, computed_at: datetime) -> dict:
    """Recompute the addresses blocks start..end touch; write those whose row changed. Returns a summary."""
    span = {"block_number": (start, end + 1)}
    new_txs = _read(db, CHAIN_TRANSACTIONS.name, TX_COLUMNS + ["hash"], span)
    new_tt = _read(db, TOKEN_TRANSFERS.name, TRANSFER_COLUMNS, span)
    new_cs = _read(db, CONTRACTS.name, CONTRACT_COLUMNS, span)
    touched = delta.range_addresses(new_txs, new_tt)
    created = sorted(delta.new_contracts(new_txs, new_cs))
    if created:  # who paid a contract before it was known to be one: their contract features change
        touched |= delta.senders(_by_address(db, CHAIN_TRANSACTIONS, TX_COLUMNS + ["hash"], created, ("to_address",)),
                                 _by_address(db, TOKEN_TRANSFERS, TRANSFER_COLUMNS, created, ("to_address",)))
    spellings = sorted(touched | {a.lower() for a in touched})
    txs = _by_address(db, CHAIN_TRANSACTIONS, TX_COLUMNS + ["hash"], spellings)
    tt = _by_address(db, TOKEN_TRANSFERS, TRANSFER_COLUMNS, spellings)
    if txs is None:
        txs = pl.DataFrame(schema={c: CHAIN_TRANSACTIONS.schema[c] for c in TX_COLUMNS})
    txs = txs.unique(subset=["hash"], maintain_order=True) if "hash" in txs.columns else txs
    others = sorted(delta.recipients(txs, tt))
    known = (read_by(db, CONTRACTS, "address", others, columns=CONTRACT_COLUMNS)
             if others and db.has_table(CONTRACTS.name) else None)
    fresh = delta.recompute(touched, txs.drop("hash", strict=False), tt, known, computed_at=computed_at)
    stored = read_by(db, ADDRESS_FEATURES, "address", fresh["address"].to_list()) if fresh.height else fresh
    written = delta.changed(fresh, stored)
    db.upsert(ADDRESS_FEATURES, written)
    return {"features": written, "touched": len({a.lower() for a in touched}),
            "transactions": new_txs.height if new_txs is not None else 0,
            "token_transfers": new_tt.height if new_tt is not None else 0}


def full(db: Warehouse, computed_at: datetime) -> dict:
    """Every address from the whole tables; the table is replaced (addresses a reorg removed go too)."""
    frames = read_whole(db)
    txs = frames["transactions"]
    features = address_features(txs, frames["transfers"], frames["contracts"], computed_at=computed_at)
    db.replace_range(ADDRESS_FEATURES, features, "address", None, None)
    return {"features": features, "touched": features.height, "transactions": txs.height,
            "token_transfers": frames["transfers"].height if frames["transfers"] is not None else 0}
