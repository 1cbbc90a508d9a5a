"""Every warehouse table Sextant publishes, by name: the one registry assets write and serving reads."""

from __future__ import annotations

import polars as pl

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

ALL_TABLES = (RAW_OHLCV, OHLCV, OHLCV_REJECTS, OHLCV_FEATURES, MARKET_DAILY_SUMMARY, DATA_QUALITY)
