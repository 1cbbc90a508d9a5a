"""One row per (symbol, interval, date): the daily OHLCV summary (`market_daily_summary`).

The summary is what dashboards and the API show for a day, so it is built only from that day's
own bars (the `date` partition column): it can be recomputed for one partition without reading
any other, and a half-finished day simply shows fewer bars and a positive `gap_count`.
"""

from __future__ import annotations

import polars as pl

from ops.market.schema import INTERVAL_SECONDS, UTC_TS, conform, empty

SUMMARY_KEY = ("symbol", "interval", "date")

SUMMARY_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.Utf8,
    "interval": pl.Utf8,
    "date": pl.Utf8,
    "open": pl.Float64,  # first bar's open (by ts)
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,  # last bar's close (by ts)
    "volume": pl.Float64,
    "quote_volume": pl.Float64,  # null when no bar of the day has one
    "vwap": pl.Float64,  # volume-weighted typical price (h+l+c)/3
    "n_bars": pl.Int64,
    "expected_bars": pl.Int64,  # bars a complete UTC day has at this interval
    "gap_count": pl.Int64,  # expected_bars - n_bars, never negative
    "return_pct": pl.Float64,  # close / open - 1, as a fraction
    "realized_vol": pl.Float64,  # std of the day's per-bar log returns, not annualized
    "first_ts": UTC_TS,
    "last_ts": UTC_TS,
}

#: Bars in a complete UTC day, per interval (24 for 1h, 1 for 1d).
EXPECTED_BARS: dict[str, int] = {interval: 86400 // seconds for interval, seconds in INTERVAL_SECONDS.items()}


def summarize_daily(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """Aggregate OHLCV bars (OHLCV_SCHEMA, any order) to one row per (symbol, interval, date).

    realized_vol is the sample standard deviation of the bars' own log returns ln(close/open):
    each bar contributes one return without needing the previous day's last close, so the
    value depends on this partition only. It is null with fewer than two bars, which includes
    every 1d row (one bar per day). vwap is null when the day traded no volume.
    """
    if ohlcv.height == 0:
        return empty(SUMMARY_SCHEMA)

    high, low, close, volume = pl.col("high"), pl.col("low"), pl.col("close"), pl.col("volume")
    typical_price = (high + low + close) / 3
    quote_volume = pl.col("quote_volume")

    out = (
        ohlcv.lazy()
        .group_by(*SUMMARY_KEY)
        .agg(
            pl.col("open").sort_by("ts").first(),
            high.max(),
            low.min(),
            close.sort_by("ts").last(),
            volume.sum(),
            pl.when(quote_volume.is_not_null().any()).then(quote_volume.sum()).alias("quote_volume"),
            (typical_price * volume).sum().alias("_pv"),
            pl.len().cast(pl.Int64).alias("n_bars"),
            (close / pl.col("open")).log().std().alias("realized_vol"),
            pl.col("ts").min().alias("first_ts"),
            pl.col("ts").max().alias("last_ts"),
        )
        .with_columns(
            pl.when(volume > 0).then(pl.col("_pv") / volume).alias("vwap"),
            pl.col("interval")
            .replace_strict(EXPECTED_BARS, default=None, return_dtype=pl.Int64)
            .alias("expected_bars"),
            (close / pl.col("open") - 1).alias("return_pct"),
        )
        .with_columns((pl.col("expected_bars") - pl.col("n_bars")).clip(lower_bound=0).alias("gap_count"))
        .sort(*SUMMARY_KEY)
        .collect()
    )
    return conform(out, SUMMARY_SCHEMA)
