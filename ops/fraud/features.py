"""Per-address features from the indexed chain tables, under the public data set's names and meanings.

Inputs are ethereum-etl-shaped frames (column names as ethereum-etl exports them):

- transactions: hash, from_address, to_address, value (decimal string of wei), block_timestamp
  (int seconds), block_number, receipt_contract_address, receipt_status
- token_transfers: token_address, from_address, to_address, value (decimal string), transaction_hash,
  log_index, block_number
- contracts: address, block_number (creator_address when present)

Conventions (the public data set was collected from Etherscan's account lists, so we follow them):
a transaction with no recipient is a contract creation, counted in `created_contracts` and not in
`sent_tx`; failed transactions are listed and counted like the others; values are ether (wei / 1e18);
token values are raw units / 1e18 (the transfers table has no decimals, and most tokens use 18);
an average of no values is 0, as in the public file. See `ops.fraud.schema` for every feature.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from ops.fraud.schema import ADDRESS_FEATURES_SCHEMA, FEATURES

WEI = 1e18


def _sum(values: pl.Expr) -> pl.Expr:
    """A float sum added in ascending order: the same bits whatever the rows' order or the frame's size
    (a plain group sum adds per thread partition), so an address's row computed from its own rows (the
    incremental path) equals the one computed from the whole table."""
    return values.sort().sum()


def _mean(values: pl.Expr) -> pl.Expr:
    return values.sort().mean()


def _amount(column: str) -> pl.Expr:
    """A decimal string (or integer) of base units as a float in whole units (ether or tokens)."""
    return pl.col(column).cast(pl.Utf8).cast(pl.Float64) / WEI


def _lower(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Utf8).str.to_lowercase()


def _value_stats(frame: pl.DataFrame, key: str, prefix: str, value: str = "amount") -> pl.DataFrame:
    return frame.group_by(key).agg(
        pl.col(value).min().alias(f"min_{prefix}"),
        pl.col(value).max().alias(f"max_{prefix}"),
        _mean(pl.col(value)).alias(f"avg_{prefix}"),
        _sum(pl.col(value)).alias(f"total_{prefix}"),
        pl.len().alias(f"n_{prefix}"),
    )


def _mean_gap_minutes(ts: pl.Expr) -> pl.Expr:
    """Mean minutes between consecutive events: (last - first) / (n - 1), 0 with fewer than two."""
    n = ts.count()
    return pl.when(n > 1).then((ts.max() - ts.min()) / (n - 1) / 60.0).otherwise(0.0)


def contract_addresses(transactions: pl.DataFrame, contracts: pl.DataFrame | None) -> pl.Series:
    """Every address known to be a contract: created by a transaction, or listed in `contracts`."""
    created = transactions.select(_lower("receipt_contract_address").alias("address")).drop_nulls()
    listed = contracts.select(_lower("address").alias("address")) if contracts is not None else None
    both = pl.concat([created, listed]) if listed is not None and listed.height else created
    return both.unique()["address"]


def address_features(
    transactions: pl.DataFrame,
    token_transfers: pl.DataFrame | None = None,
    contracts: pl.DataFrame | None = None,
    *,
    addresses: list[str] | None = None,
    computed_at: datetime | None = None,
) -> pl.DataFrame:
    """One row per address seen in the tables (or only `addresses`), conformed to ADDRESS_FEATURES_SCHEMA."""
    txs = transactions.select(
        _lower("from_address").alias("from_address"),
        _lower("to_address").alias("to_address"),
        _lower("receipt_contract_address").alias("created"),
        _amount("value").alias("amount"),
        pl.col("block_timestamp").cast(pl.Int64).alias("ts"),
        pl.col("block_number").cast(pl.Int64).alias("block"),
    )
    is_contract = contract_addresses(transactions, contracts)

    sent = txs.filter(pl.col("to_address").is_not_null()).rename({"from_address": "address"})
    received = txs.filter(pl.col("to_address").is_not_null()).rename({"to_address": "address"})
    creations = txs.filter(pl.col("created").is_not_null()).rename({"from_address": "address"})
    to_contract = sent.filter(pl.col("to_address").is_in(is_contract.implode()))

    sent_stats = _value_stats(sent, "address", "value_sent").join(
        sent.group_by("address").agg(
            pl.col("to_address").n_unique().alias("unique_sent_to"),
            _mean_gap_minutes(pl.col("ts")).alias("avg_min_between_sent_tx"),
        ),
        on="address",
    )
    received_stats = _value_stats(received, "address", "value_received").join(
        received.group_by("address").agg(
            pl.col("from_address").n_unique().alias("unique_received_from"),
            _mean_gap_minutes(pl.col("ts")).alias("avg_min_between_received_tx"),
        ),
        on="address",
    )
    contract_stats = _value_stats(to_contract, "address", "value_sent_to_contract")
    created_stats = creations.group_by("address").agg(pl.len().alias("created_contracts"))

    # every appearance of an address in a transaction (any role) for its time span and block range
    appearances = pl.concat(
        [
            sent.select("address", "ts", "block"),
            received.select("address", "ts", "block"),
            creations.select("address", "ts", "block"),
        ]
    )
    tokens = _token_features(token_transfers, is_contract) if token_transfers is not None else None
    if tokens is not None and tokens["appearances"].height:
        appearances = pl.concat([appearances, tokens["appearances"]])
    span = appearances.group_by("address").agg(
        pl.col("block").min().alias("first_block"),
        pl.col("block").max().alias("last_block"),
    )
    # the time span of the public data set covers normal transactions only
    tx_span = pl.concat([sent.select("address", "ts"), received.select("address", "ts"),
                         creations.select("address", "ts")]).group_by("address").agg(
        ((pl.col("ts").max() - pl.col("ts").min()) / 60.0).alias("tx_time_diff")
    )

    out = span
    for part in (sent_stats, received_stats, contract_stats, created_stats, tx_span):
        out = out.join(part, on="address", how="left")
    if tokens is not None:
        out = out.join(tokens["stats"], on="address", how="left")
    if addresses is not None:
        wanted = pl.DataFrame({"address": [a.lower() for a in addresses]})
        out = wanted.join(out, on="address", how="left")

    out = out.with_columns(
        pl.col("n_value_sent").fill_null(0).alias("sent_tx"),
        pl.col("n_value_received").fill_null(0).alias("received_tx"),
        pl.col("created_contracts").fill_null(0),
        pl.col("tx_time_diff").fill_null(0.0).alias("time_diff_first_last_min"),
        pl.col("total_value_sent").fill_null(0.0).alias("total_ether_sent"),
        pl.col("total_value_received").fill_null(0.0).alias("total_ether_received"),
        pl.col("total_value_sent_to_contract").fill_null(0.0).alias("total_ether_sent_contracts"),
    ).with_columns(
        (pl.col("sent_tx") + pl.col("received_tx") + pl.col("created_contracts")).alias("total_transactions"),
        (pl.col("total_ether_received") - pl.col("total_ether_sent")).alias("total_ether_balance"),
    )
    out = out.with_columns(
        [pl.col(name).cast(pl.Float64).fill_null(0.0) for name in FEATURES if name in out.columns]
        + [pl.lit(0.0).alias(name) for name in FEATURES if name not in out.columns]
        + [pl.lit(computed_at, dtype=ADDRESS_FEATURES_SCHEMA["computed_at"]).alias("computed_at")]
    )
    return out.select(
        [pl.col(name).cast(dtype) for name, dtype in ADDRESS_FEATURES_SCHEMA.items()]
    ).sort("address")


def _token_features(transfers: pl.DataFrame, is_contract: pl.Series) -> dict[str, pl.DataFrame]:
    tt = transfers.select(
        _lower("token_address").alias("token"),
        _lower("from_address").alias("from_address"),
        _lower("to_address").alias("to_address"),
        _amount("value").alias("amount"),
        pl.col("block_number").cast(pl.Int64).alias("block"),
        *([pl.col("block_timestamp").cast(pl.Int64).alias("ts")] if "block_timestamp" in transfers.columns
          else [pl.lit(None, dtype=pl.Int64).alias("ts")]),
    )
    out_ = tt.rename({"from_address": "address", "to_address": "counterparty"})
    in_ = tt.rename({"to_address": "address", "from_address": "counterparty"})
    sent = out_.group_by("address").agg(
        pl.len().alias("erc20_n_sent"),
        _sum(pl.col("amount")).alias("erc20_total_sent"),
        pl.col("amount").min().alias("erc20_min_val_sent"),
        pl.col("amount").max().alias("erc20_max_val_sent"),
        _mean(pl.col("amount")).alias("erc20_avg_val_sent"),
        pl.col("counterparty").n_unique().alias("erc20_uniq_sent_addr"),
        pl.col("token").n_unique().alias("erc20_uniq_sent_token"),
        _sum(pl.col("amount").filter(pl.col("counterparty").is_in(is_contract.implode())))
        .alias("erc20_total_sent_contract"),
        pl.col("counterparty").filter(pl.col("counterparty").is_in(is_contract.implode())).n_unique()
        .alias("erc20_uniq_sent_contract_addr"),
    )
    received = in_.group_by("address").agg(
        pl.len().alias("erc20_n_rec"),
        _sum(pl.col("amount")).alias("erc20_total_received"),
        pl.col("amount").min().alias("erc20_min_val_rec"),
        pl.col("amount").max().alias("erc20_max_val_rec"),
        _mean(pl.col("amount")).alias("erc20_avg_val_rec"),
        pl.col("counterparty").n_unique().alias("erc20_uniq_rec_addr"),
        pl.col("token").n_unique().alias("erc20_uniq_rec_contract_addr"),
        pl.col("token").n_unique().alias("erc20_uniq_rec_token"),
    )
    stats = sent.join(received, on="address", how="full", coalesce=True).with_columns(
        (pl.col("erc20_n_sent").fill_null(0) + pl.col("erc20_n_rec").fill_null(0)).alias("erc20_total_tx")
    )
    appearances = pl.concat([out_.select("address", "ts", "block"), in_.select("address", "ts", "block")])
    return {"stats": stats, "appearances": appearances.filter(pl.col("address").is_not_null())}
