"""generate_ohlcv: deterministic, window-independent, valid bars with crypto's stylised facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from ops.market.cleaning import clean_ohlcv
from ops.market.schema import RAW_SCHEMA
from ops.market.synthetic import ORIGIN, describe_stylized_facts, generate_ohlcv

START = datetime(2020, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 1, tzinfo=UTC)
VALUES = ["open", "high", "low", "close", "volume", "quote_volume", "trade_count"]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def hourly() -> pl.DataFrame:
    """Four years of hourly bars for three symbols (about 105k bars)."""
    return generate_ohlcv(["BTC-USDT", "ETH-USDT", "XYZ-USD"], "1h", START, END)


def test_contract_and_window(hourly: pl.DataFrame) -> None:
    assert hourly.schema == pl.Schema(RAW_SCHEMA)
    hours = (END - START) // timedelta(hours=1)
    assert hourly.height == 3 * hours
    btc = hourly.filter(pl.col("symbol") == "BTC-USDT")
    assert btc.get_column("ts").to_list()[0] == START and btc.get_column("ts").max() == END - timedelta(
        hours=1
    )
    assert btc.get_column("source_row").to_list() == list(range(1, hours + 1))
    assert set(hourly.get_column("source").unique()) == {f"synthetic:{s}:1h" for s in hourly["symbol"].unique()}
    assert set(hourly.get_column("interval").unique()) == {"1h"}
    assert btc.get_column("ts_raw")[1] == "2020-01-01T01:00:00Z"
    assert hourly.select(pl.all().null_count()).sum_horizontal()[0] == 0


def test_window_bounds_are_half_open_and_aligned() -> None:
    bars = generate_ohlcv(["BTC-USDT"], "1h", _utc(2021, 5, 1, 10, 30), _utc(2021, 5, 1, 13))
    assert bars.get_column("ts").to_list() == [_utc(2021, 5, 1, 11), _utc(2021, 5, 1, 12)]
    days = generate_ohlcv(["BTC-USDT"], "1d", datetime(2021, 5, 1), datetime(2021, 5, 4))  # naive = UTC
    assert days.get_column("ts").to_list() == [_utc(2021, 5, 1), _utc(2021, 5, 2), _utc(2021, 5, 3)]
    assert days.get_column("source_row")[0] == (_utc(2021, 5, 1) - ORIGIN).days + 1
    assert generate_ohlcv(["BTC-USDT"], "1h", _utc(2021, 5, 1), _utc(2021, 5, 1)).is_empty()
    assert generate_ohlcv([], "1h", _utc(2021, 5, 1), _utc(2021, 5, 2)).is_empty()
    before_origin = generate_ohlcv(["BTC-USDT"], "1d", _utc(2019, 12, 30), _utc(2020, 1, 3))
    assert before_origin.get_column("ts").to_list() == [_utc(2020, 1, 1), _utc(2020, 1, 2)]
    with pytest.raises(ValueError, match="unknown interval"):
        generate_ohlcv(["BTC-USDT"], "5m", START, END)


def test_deterministic() -> None:
    a = generate_ohlcv(["BTC-USDT", "SOL-USDT"], "1h", _utc(2022, 1, 1), _utc(2022, 2, 1), seed=7)
    b = generate_ohlcv(["BTC-USDT", "SOL-USDT"], "1h", _utc(2022, 1, 1), _utc(2022, 2, 1), seed=7)
    assert a.equals(b)
    c = generate_ohlcv(["BTC-USDT", "SOL-USDT"], "1h", _utc(2022, 1, 1), _utc(2022, 2, 1), seed=8)
    assert not a.select(VALUES).equals(c.select(VALUES))


def test_same_bar_whatever_the_window(hourly: pl.DataFrame) -> None:
    """A bar's values depend on (seed, symbol, interval, ts) only, not on the window asked for."""
    one_day = generate_ohlcv(["ETH-USDT"], "1h", _utc(2022, 6, 15), _utc(2022, 6, 16))
    other_order = generate_ohlcv(["XYZ-USD", "eth/usdt"], "1h", _utc(2021, 1, 1), _utc(2023, 1, 1))
    in_long = hourly.join(one_day.select("symbol", "ts"), on=["symbol", "ts"], how="semi")
    assert in_long.height == 24 and in_long.equals(one_day)
    in_other = other_order.join(one_day.select("symbol", "ts"), on=["symbol", "ts"], how="semi")
    assert in_other.equals(one_day)
    # windows whose ends fall in different random-draw chunks agree on their overlap
    a = generate_ohlcv(["BTC-USDT"], "1h", _utc(2020, 6, 1), _utc(2020, 7, 9, 5))
    b = generate_ohlcv(["BTC-USDT"], "1h", _utc(2020, 7, 1), _utc(2021, 2, 1))
    overlap = a.join(b.select("ts"), on="ts", how="semi")
    assert overlap.height == 8 * 24 + 5 and overlap.equals(b.head(overlap.height))


def test_bars_are_valid(hourly: pl.DataFrame) -> None:
    assert hourly.filter(
        (pl.col("high") < pl.max_horizontal("open", "close"))
        | (pl.col("low") > pl.min_horizontal("open", "close"))
        | (pl.col("low") <= 0)
        | (pl.col("volume") <= 0)
        | (pl.col("quote_volume") <= 0)
        | (pl.col("trade_count") < 1)
    ).is_empty()
    chained = hourly.with_columns(previous=pl.col("close").shift(1).over("symbol")).drop_nulls("previous")
    assert (chained.get_column("open") == chained.get_column("previous")).all()
    clean, rejects = clean_ohlcv(hourly, now=END)
    assert rejects.is_empty() and clean.height == hourly.height
    assert not clean.get_column("gap_before").any()


def test_symbols_have_their_own_price_levels(hourly: pl.DataFrame) -> None:
    first = dict(hourly.group_by("symbol").agg(pl.col("open").first()).iter_rows())
    assert first["BTC-USDT"] == pytest.approx(30_000) and first["ETH-USDT"] == pytest.approx(2_000)
    assert 1.0 <= first["XYZ-USD"] <= 1_000.0
    medians = dict(hourly.group_by("symbol").agg(pl.col("close").median()).iter_rows())
    assert medians["BTC-USDT"] > 5 * medians["ETH-USDT"]


@pytest.mark.parametrize("seed", [1, 42, 2024])
@pytest.mark.parametrize("interval", ["1h", "1d"])
def test_stylized_facts(interval: str, seed: int) -> None:
    bars = generate_ohlcv(["BTC-USDT"], interval, START, _utc(2026, 1, 1), seed=seed)
    facts = describe_stylized_facts(bars.get_column("close").to_numpy())
    assert facts["excess_kurtosis"] > 1.0  # fat tails
    assert abs(facts["autocorr_returns"]) < 0.1  # little linear predictability
    assert facts["autocorr_abs_returns"] > abs(facts["autocorr_returns"]) + 0.05  # volatility clusters
    close = bars.get_column("close").to_numpy()
    abs_returns = np.abs(np.diff(np.log(close)))
    volume = bars.get_column("volume").to_numpy()[1:]
    assert np.corrcoef(np.log(volume), abs_returns)[0, 1] > 0.1  # busy markets move more


def test_volatility_regimes_shift() -> None:
    bars = generate_ohlcv(["BTC-USDT"], "1d", START, _utc(2026, 1, 1))
    returns = np.diff(np.log(bars.get_column("close").to_numpy()))
    monthly_vol = np.array([returns[i : i + 30].std() for i in range(0, len(returns) - 30, 30)])
    assert np.quantile(monthly_vol, 0.9) > 2 * np.quantile(monthly_vol, 0.1)


def test_describe_stylized_facts_on_a_gaussian_walk() -> None:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200_000)))
    facts = describe_stylized_facts(close)
    assert facts["n_returns"] == 199_999
    assert abs(facts["excess_kurtosis"]) < 0.1
    assert abs(facts["autocorr_returns"]) < 0.02 and abs(facts["autocorr_abs_returns"]) < 0.02
    assert facts["volatility"] == pytest.approx(0.01, rel=0.01)
    short = describe_stylized_facts(np.array([1.0, 2.0, -1.0]))
    assert short["n_returns"] == 1 and np.isnan(short["excess_kurtosis"])


def test_a_late_window_is_a_slice_of_the_whole_simulation() -> None:
    """A day in 2026 is simulated from the 2020 origin, so it equals the same day cut from a long run."""
    one = generate_ohlcv(["BTC-USDT"], "1h", _utc(2026, 11, 1), _utc(2026, 11, 2))
    assert one.height == 24
    long = generate_ohlcv(["BTC-USDT"], "1h", _utc(2026, 10, 1), _utc(2026, 11, 2))
    assert long.tail(24).equals(one)
