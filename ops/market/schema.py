"""The column contracts shared by every market-data step.

Each stage of the ETL hands the next a polars frame with exactly these columns, so the
parsers, the cleaner, the warehouse tables and the API all agree on names and types.
"""

from __future__ import annotations

import polars as pl

UTC_TS = pl.Datetime("us", "UTC")

#: What a source (a CSV file or the synthetic generator) produces: one row per input line,
#: typed where the text parsed, null where it did not. Nothing is dropped at this stage.
RAW_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.Utf8,  # file name, or "synthetic"
    "source_row": pl.Int64,  # 1-based data-line number in the source (stable id of the input row)
    "symbol": pl.Utf8,  # normalized, e.g. "BTC-USDT"
    "interval": pl.Utf8,  # "1h" or "1d"
    "ts_raw": pl.Utf8,  # the timestamp text as found
    "ts": UTC_TS,  # bar open time, null when unparseable
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,  # base-asset volume
    "quote_volume": pl.Float64,  # quote-asset volume, null when the source has none
    "trade_count": pl.Int64,  # null when the source has none
}

#: The validated bars (`ohlcv` table). Key: (symbol, interval, ts).
OHLCV_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.Utf8,
    "interval": pl.Utf8,
    "ts": UTC_TS,
    "date": pl.Utf8,  # ts as YYYY-MM-DD (the daily partition the bar belongs to)
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,
    "quote_volume": pl.Float64,
    "trade_count": pl.Int64,
    "gap_before": pl.Boolean,  # the previous expected bar of this series is missing
    "source": pl.Utf8,
    "source_row": pl.Int64,
}
OHLCV_KEY = ("symbol", "interval", "ts")

#: Rejected input rows (`ohlcv_rejects` table), each with one reason. Key: (source, source_row).
REJECTS_SCHEMA: dict[str, pl.DataType] = {
    **RAW_SCHEMA,
    "date": pl.Utf8,  # null when the timestamp did not parse
    "reason": pl.Utf8,  # one of REJECT_REASONS
    "detail": pl.Utf8,  # human-readable explanation
}
REJECTS_KEY = ("source", "source_row")

REJECT_REASONS = (
    "unparseable_timestamp",
    "out_of_range",  # dated before the market partitions' first day (MARKET_START_DATE): no partition holds it
    "missing_value",  # a price or the volume is null / not a number
    "non_positive_price",
    "negative_volume",
    "ohlc_inconsistent",  # high < max(open, close) or low > min(open, close) or high < low
    "implausible_range",  # high/low ratio beyond what the interval allows (bad tick)
    "duplicate_timestamp",  # another row of the same series has this ts; the first one is kept
    "future_timestamp",  # bar opens after the time of cleaning
)

INTERVAL_SECONDS = {"1h": 3600, "1d": 86400}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty frame with the given contract, for steps that have nothing to emit."""
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast `df` to exactly the contract's columns, in order (missing ones as null)."""
    if df.width == 0:  # a null literal would broadcast to one row
        return empty(schema)
    return df.select(
        [
            (pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in schema.items()
        ]
    )
