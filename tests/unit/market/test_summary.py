"""Behaviour of the daily OHLCV summary (`ops.market.summary`)."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ops.market.schema import OHLCV_SCHEMA, conform
from ops.market.summary import SUMMARY_KEY, SUMMARY_SCHEMA, summarize_daily


def frame(rows: list[tuple]) -> pl.DataFrame:
    """OHLCV_SCHEMA bars from (symbol, interval, ts, open, high, low, close, volume, quote_volume)."""
    names = ["symbol", "interval", "ts", "open", "high", "low", "close", "volume", "quote_volume"]
    df = pl.DataFrame(
        [dict(zip(names, row, strict=True)) for row in rows], schema_overrides={"quote_volume": pl.Float64}
    )
    df = df.with_columns(
        pl.col("ts").dt.replace_time_zone("UTC"),
        pl.col("ts").dt.strftime("%Y-%m-%d").alias("date"),
        pl.lit("test").alias("source"),
        pl.int_range(1, pl.len() + 1).alias("source_row"),
        pl.lit(False).alias("gap_before"),
    )
    return conform(df, OHLCV_SCHEMA)


def hour(day: int, h: int) -> datetime:
    return datetime(2024, 3, day, h)


@pytest.fixture(scope="module")
def tiny() -> pl.DataFrame:
    # Deliberately out of ts order: open/close must follow ts, not row order.
    return frame(
        [
            ("BTC-USDT", "1h", hour(1, 2), 102.0, 104.0, 90.0, 96.0, 3.0, 290.0),
            ("BTC-USDT", "1h", hour(1, 0), 100.0, 110.0, 95.0, 105.0, 2.0, 210.0),
            ("BTC-USDT", "1h", hour(2, 5), 96.0, 97.0, 95.0, 96.5, 4.0, None),
            ("BTC-USDT", "1h", hour(1, 1), 105.0, 108.0, 100.0, 102.0, 1.0, None),
            ("BTC-USDT", "1d", hour(1, 0), 100.0, 110.0, 90.0, 96.0, 6.0, 500.0),
        ]
    )


def test_contract_and_order(tiny: pl.DataFrame) -> None:
    out = summarize_daily(tiny)
    assert out.schema == pl.Schema(SUMMARY_SCHEMA)
    assert out.select(SUMMARY_KEY).rows() == [
        ("BTC-USDT", "1d", "2024-03-01"),
        ("BTC-USDT", "1h", "2024-03-01"),
        ("BTC-USDT", "1h", "2024-03-02"),
    ]


def test_hand_computed_day(tiny: pl.DataFrame) -> None:
    row = summarize_daily(tiny).filter(interval="1h", date="2024-03-01").row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"]) == (100.0, 110.0, 90.0, 96.0)
    assert row["volume"] == 6.0
    assert row["quote_volume"] == 500.0  # nulls are skipped, not zeroed
    # typical prices 310/3, 310/3, 290/3 weighted by volumes 2, 1, 3: (620 + 310 + 870) / 3 / 6
    assert row["vwap"] == pytest.approx(100.0, abs=1e-12)
    assert (row["n_bars"], row["expected_bars"], row["gap_count"]) == (3, 24, 21)
    assert row["return_pct"] == pytest.approx(96.0 / 100.0 - 1, abs=1e-15)
    bar_returns = [math.log(105 / 100), math.log(102 / 105), math.log(96 / 102)]
    assert row["realized_vol"] == pytest.approx(statistics.stdev(bar_returns), abs=1e-15)
    assert row["first_ts"] == hour(1, 0).replace(tzinfo=UTC)
    assert row["last_ts"] == hour(1, 2).replace(tzinfo=UTC)


def test_single_bar_days(tiny: pl.DataFrame) -> None:
    out = summarize_daily(tiny)
    hourly = out.filter(interval="1h", date="2024-03-02").row(0, named=True)
    assert (hourly["n_bars"], hourly["gap_count"]) == (1, 23)
    assert hourly["quote_volume"] is None  # no bar had one
    assert hourly["realized_vol"] is None  # one bar: no spread
    assert hourly["vwap"] == pytest.approx((97.0 + 95.0 + 96.5) / 3)
    daily = out.filter(interval="1d").row(0, named=True)
    assert (daily["n_bars"], daily["expected_bars"], daily["gap_count"]) == (1, 1, 0)
    assert daily["realized_vol"] is None
    assert daily["return_pct"] == pytest.approx(-0.04)


def full_day(day: int, missing: tuple[int, ...] = ()) -> list[tuple]:
    return [
        ("ETH-USDT", "1h", hour(day, h), 10.0 + h, 11.0 + h, 9.0 + h, 10.5 + h, 1.0, None)
        for h in range(24)
        if h not in missing
    ]


def test_gap_count_counts_missing_hours() -> None:
    out = summarize_daily(frame(full_day(4) + full_day(5, missing=(0, 7, 23))))
    assert out.select("date", "n_bars", "gap_count").rows() == [("2024-03-04", 24, 0), ("2024-03-05", 21, 3)]
    # With the first and last hour missing, open and close come from the bars that exist.
    day5 = out.filter(date="2024-03-05").row(0, named=True)
    assert (day5["open"], day5["close"]) == (11.0, 32.5)
    assert day5["first_ts"] == hour(5, 1).replace(tzinfo=UTC)
    assert day5["last_ts"] == hour(5, 22).replace(tzinfo=UTC)


def test_vwap_lies_within_the_days_range() -> None:
    rng = np.random.default_rng(11)
    n = 24 * 20
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = np.concatenate(([50.0], close[:-1]))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, n))
    volume = rng.lognormal(3, 2, n)
    start = datetime(2024, 3, 1)
    rows = [
        ("SOL-USDT", "1h", start + timedelta(hours=i), open_[i], high[i], low[i], close[i], volume[i], None)
        for i in rng.permutation(n).tolist()
    ]
    out = summarize_daily(frame(rows))
    assert out.height == 20
    assert (out["vwap"] >= out["low"]).all() and (out["vwap"] <= out["high"]).all()
    assert (out["low"] <= out["open"]).all() and (out["open"] <= out["high"]).all()
    assert (out["gap_count"] == 0).all() and out["realized_vol"].is_not_null().all()
    # close of a day is the last bar's close, which is the next day's first open here
    assert out["close"][:-1].to_list() == out["open"][1:].to_list()


def test_zero_volume_day_has_no_vwap() -> None:
    out = summarize_daily(
        frame([("X-USD", "1h", hour(1, h), 1.0, 1.0, 1.0, 1.0, 0.0, None) for h in range(3)])
    )
    assert out["vwap"].to_list() == [None]
    assert out["volume"].to_list() == [0.0]


def test_empty_input() -> None:
    out = summarize_daily(pl.DataFrame(schema=OHLCV_SCHEMA))
    assert out.height == 0 and out.schema == pl.Schema(SUMMARY_SCHEMA)
