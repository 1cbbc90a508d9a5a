"""Every warehouse table Sextant publishes, by name: the one registry assets write and serving reads."""

from __future__ import annotations

import polars as pl

from ops.chain.schema import (
    BLOCKS_KEY,
    BLOCKS_SCHEMA,
    CONTRACTS_KEY,
    CONTRACTS_SCHEMA,
    LOGS_KEY,
    LOGS_SCHEMA,
    TOKEN_TRANSFERS_KEY,
    TOKEN_TRANSFERS_SCHEMA,
    TRANSACTIONS_KEY,
    TRANSACTIONS_SCHEMA,
)
from ops.market.features import FEATURES_KEY, FEATURES_SCHEMA
from ops.market.schema import OHLCV_KEY, OHLCV_SCHEMA, RAW_SCHEMA, REJECTS_KEY, REJECTS_SCHEMA
from ops.market.summary import SUMMARY_KEY, SUMMARY_SCHEMA
from resources.warehouse import TableSpec

RAW_OHLCV = TableSpec(
    "raw_ohlcv", {**RAW_SCHEMA, "date": pl.Utf8}, ("source", "source_row"), indexes=(("symbol", "date"),)
)
OHLCV = TableSpec("ohlcv", OHLCV_SCHEMA, OHLCV_KEY, indexes=(("symbol", "date"),))
OHLCV_REJECTS = TableSpec("ohlcv_rejects", REJECTS_SCHEMA, REJECTS_KEY, indexes=(("symbol", "date"),))
OHLCV_FEATURES = TableSpec("ohlcv_features", FEATURES_SCHEMA, FEATURES_KEY, indexes=(("symbol", "date"),))
MARKET_DAILY_SUMMARY = TableSpec("market_daily_summary", SUMMARY_SCHEMA, SUMMARY_KEY)

#: Data-quality results, one row per check evaluation of a partition (the pass rate lives here too).
DATA_QUALITY = TableSpec(
    "data_quality_metrics",
    {
        "asset": pl.Utf8,
        "partition": pl.Utf8,
        "check_name": pl.Utf8,
        "success": pl.Boolean,
        "evaluated": pl.Int64,
        "passed": pl.Int64,
        "pass_rate": pl.Float64,
        "row_count": pl.Int64,
        "measured_at": pl.Datetime("us", "UTC"),
    },
    ("asset", "partition", "check_name"),
)

# -- chain (ethereum-etl column names; a range is replaced by block number on re-index) ----------
CHAIN_BLOCKS = TableSpec("chain_blocks", BLOCKS_SCHEMA, BLOCKS_KEY, indexes=(("hash",),))
CHAIN_TRANSACTIONS = TableSpec(
    "chain_transactions",
    TRANSACTIONS_SCHEMA,
    TRANSACTIONS_KEY,
    indexes=(("block_number",), ("from_address",), ("to_address",)),
)
CHAIN_LOGS = TableSpec("chain_logs", LOGS_SCHEMA, LOGS_KEY, indexes=(("address", "topic0"), ("transaction_hash",)))
TOKEN_TRANSFERS = TableSpec(
    "token_transfers",
    TOKEN_TRANSFERS_SCHEMA,
    TOKEN_TRANSFERS_KEY,
    indexes=(("block_number",), ("from_address", "block_number"), ("to_address", "block_number"), ("token_address",)),
)
CONTRACTS = TableSpec("contracts", CONTRACTS_SCHEMA, CONTRACTS_KEY, indexes=(("block_number",),))

ALL_TABLES = (
    RAW_OHLCV,
    OHLCV,
    OHLCV_REJECTS,
    OHLCV_FEATURES,
    MARKET_DAILY_SUMMARY,
    DATA_QUALITY,
    CHAIN_BLOCKS,
    CHAIN_TRANSACTIONS,
    CHAIN_LOGS,
    TOKEN_TRANSFERS,
    CONTRACTS,
)
