"""Behaviour of the market feature pipeline (`ops.market.features`).

Frames are built here with numpy (seeded random walks with consistent OHLC) so the tests do
not depend on the parsing, cleaning or synthetic modules.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from ops.market.features import FEATURES_KEY, FEATURES_SCHEMA, WARMUP_BARS, compute_features
from ops.market.features_pandas import compute_features_pandas
from ops.market.schema import INTERVAL_SECONDS, OHLCV_SCHEMA, conform

FLOAT_FEATURES = [name for name, dtype in FEATURES_SCHEMA.items() if dtype == pl.Float64 and name != "close"]


def make_bars(
    series: list[tuple[str, str]] | None = None,
    n_bars: int = 300,
    *,
    seed: int = 0,
    price: float = 100.0,
    shuffle: bool = True,
) -> pl.DataFrame:
    """OHLCV_SCHEMA bars: one geometric random walk per (symbol, interval), rows shuffled."""
    series = series or [("BTC-USDT", "1h"), ("BTC-USDT", "1d"), ("ETH-USDT", "1h"), ("ETH-USDT", "1d")]
    rng = np.random.default_rng(seed)
    frames = []
    for symbol, interval in series:
        log_ret = rng.normal(0.0, 0.01, n_bars)
        close = price * rng.uniform(0.5, 2.0) * np.exp(np.cumsum(log_ret))
        open_ = np.concatenate(([close[0]], close[:-1]))
        high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n_bars))
        low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n_bars))
        volume = rng.lognormal(6, 1, n_bars)
        step = np.timedelta64(INTERVAL_SECONDS[interval], "s")
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "interval": interval,
                    "ts": np.datetime64("2024-01-01T00:00:00", "us") + np.arange(n_bars) * step,
                    "open": open_,
                    "high": high,
                    "low": low,
                    "close": close,
                    "volume": volume,
                    "quote_volume": volume * close,
                    "trade_count": np.full(n_bars, 10, dtype=np.int64),
                    "gap_before": np.zeros(n_bars, dtype=bool),
                    "source": "test",
                    "source_row": np.arange(1, n_bars + 1, dtype=np.int64),
                }
            )
        )
    bars = pl.concat(frames).with_columns(pl.col("ts").dt.replace_time_zone("UTC"))
    bars = conform(bars.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d").alias("date")), OHLCV_SCHEMA)
    if shuffle:
        bars = bars[rng.permutation(bars.height)]
    return bars


def assert_close(actual: pl.DataFrame, expected: pl.DataFrame, tol: float, columns=FLOAT_FEATURES) -> None:
    """Same nulls, and |a - b| <= tol * max(1, |b|) everywhere both are defined."""
    for name in columns:
        a, b = actual[name].to_numpy().astype(float), expected[name].to_numpy().astype(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{name}: null pattern differs"
        ok = ~np.isnan(b)
        err = np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(b[ok]))
        assert err.size == 0 or err.max() <= tol, f"{name}: max relative error {err.max():.3g} > {tol}"


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return make_bars(seed=1)


@pytest.fixture(scope="module")
def features(bars: pl.DataFrame) -> pl.DataFrame:
    return compute_features(bars)


def test_output_contract(bars: pl.DataFrame, features: pl.DataFrame) -> None:
    assert features.schema == pl.Schema(FEATURES_SCHEMA)
    assert features.height == bars.height
    assert features.select(FEATURES_KEY).equals(bars.select(FEATURES_KEY).sort(FEATURES_KEY))
    assert features.select(FEATURES_KEY).is_duplicated().sum() == 0


def test_matches_pandas_oracle(bars: pl.DataFrame, features: pl.DataFrame) -> None:
    expected = conform(pl.from_pandas(compute_features_pandas(bars.to_pandas())), FEATURES_SCHEMA)
    assert features.select(FEATURES_KEY, "date", "close").equals(
        expected.select(FEATURES_KEY, "date", "close")
    )
    assert_close(features, expected, tol=1e-9)


def test_input_order_does_not_matter(bars: pl.DataFrame, features: pl.DataFrame) -> None:
    ordered = bars.sort(FEATURES_KEY)
    half = ordered.height // 2 + 7  # mid-series: each run is in ts order, but a series is split
    by_series_desc = ordered.sort(["symbol", "interval"], descending=True, maintain_order=True)
    for reordered in (ordered, bars.reverse(), pl.concat([ordered[half:], ordered[:half]]), by_series_desc):
        again = compute_features(reordered)
        assert again.select(FEATURES_KEY, "date", "close").equals(
            features.select(FEATURES_KEY, "date", "close")
        )
        assert_close(again, features, tol=1e-12)  # the engine may split windows differently


def test_warm_up_nulls_stay_within_each_series(features: pl.DataFrame) -> None:
    """Every series starts from nothing: no lag or window reaches into the previous series."""
    first_defined = {
        "return_1": 1,
        "momentum_24": 24,
        "sma_20": 19,
        "bb_width_20": 19,
        "volume_z_24": 23,
        "volatility_24": 24,
        "rsi_14": 14,
        "atr_14": 13,
        "ema_12": 11,
        "ema_26": 25,
        "macd": 25,
        "macd_signal": 33,
        "hl_range": 0,
    }
    for _, series in features.group_by("symbol", "interval"):
        for name, position in first_defined.items():
            defined = series[name].is_not_null().to_numpy()
            assert not defined[:position].any(), name
            assert defined[position:].all(), name


def test_no_look_ahead(bars: pl.DataFrame, features: pl.DataFrame) -> None:
    """Rewriting every bar after a cut-off leaves all features at or before it untouched."""
    cut = bars.sort("ts")["ts"][bars.height // 2]
    rng = np.random.default_rng(5)
    later = pl.col("ts") > cut
    price_factor = pl.Series(rng.uniform(0.5, 1.5, bars.height))
    perturbed = bars.with_columns(
        *[
            pl.when(later).then(pl.col(c) * price_factor).otherwise(pl.col(c))
            for c in ("open", "high", "low", "close")
        ],
        pl.when(later).then(pl.col("volume") * 7.0).otherwise(pl.col("volume")),
    )
    changed = compute_features(perturbed)
    assert_close(changed.filter(pl.col("ts") <= cut), features.filter(pl.col("ts") <= cut), tol=1e-12)
    after = changed.filter(pl.col("ts") > cut)["close"] != features.filter(pl.col("ts") > cut)["close"]
    assert after.all()  # the perturbation really did reach the later bars


def test_rsi_is_bounded(features: pl.DataFrame) -> None:
    rsi = features["rsi_14"].drop_nulls()
    assert rsi.len() > 0
    assert rsi.min() >= 0 and rsi.max() <= 100


def _single_series(close: np.ndarray, interval: str = "1h") -> pl.DataFrame:
    bars = make_bars([("X-USD", interval)], n_bars=len(close), shuffle=False)
    spread = np.full(len(close), 0.5)
    return bars.with_columns(
        pl.Series("close", close),
        pl.Series("open", close),
        pl.Series("high", close + spread),
        pl.Series("low", close - spread),
    )


def test_rsi_of_a_strictly_rising_series_is_100() -> None:
    rising = compute_features(_single_series(100 + np.arange(60) * 0.3))
    assert rising["rsi_14"].drop_nulls().to_list() == [100.0] * (60 - 14)
    falling = compute_features(_single_series(100 - np.arange(60) * 0.3))
    assert falling["rsi_14"].drop_nulls().to_list() == [0.0] * (60 - 14)


def test_flat_series_has_neutral_rsi_zero_macd_and_no_volume_z() -> None:
    flat = compute_features(_single_series(np.full(80, 1234.5)).with_columns(pl.lit(10.0).alias("volume")))
    defined = flat.filter(pl.col("macd_signal").is_not_null())
    assert defined.height == 80 - 33
    for name in ("macd", "macd_signal", "macd_hist", "return_1", "volatility_24", "momentum_24"):
        assert defined[name].abs().max() <= 1e-9, name
    assert defined["rsi_14"].to_list() == [50.0] * defined.height
    assert flat["volume_z_24"].null_count() == 80  # zero spread: no z-score rather than inf


def test_row_wise_values(features: pl.DataFrame) -> None:
    rows = features.filter(pl.col("volatility_24").is_not_null())
    bars_per_year = pl.col("interval").replace_strict({"1h": 24 * 365, "1d": 365}, return_dtype=pl.Float64)
    check = rows.select(
        (pl.col("realized_vol_annualized") - pl.col("volatility_24") * bars_per_year.sqrt()).abs().max(),
        (pl.col("macd_hist") - (pl.col("macd") - pl.col("macd_signal"))).abs().max(),
        (pl.col("log_return_1") - (1 + pl.col("return_1")).log()).abs().max(),
    )
    assert max(check.row(0)) < 1e-12


def test_hand_computed_simple_features() -> None:
    close = 100.0 * 1.01 ** np.arange(30)
    out = compute_features(_single_series(close))
    assert out["return_1"][1] == pytest.approx(0.01, abs=1e-12)
    assert out["log_return_1"][5] == pytest.approx(np.log(1.01), abs=1e-12)
    assert out["momentum_24"][29] == pytest.approx(1.01**24 - 1, abs=1e-12)
    assert out["hl_range"][3] == pytest.approx(1.0 / close[3], abs=1e-12)
    assert out["sma_20"][19] == pytest.approx(close[:20].mean(), abs=1e-9)
    assert out["volatility_24"][24] == pytest.approx(0.0, abs=1e-12)  # constant growth rate


def test_warmup_bars_suffice() -> None:
    """The last bar computed from only WARMUP_BARS of history matches the full history.

    EMAs never fully forget, so WARMUP_BARS is chosen so the forgotten weight (13/14)^400 is
    ~1e-13; at a price near 60,000 that keeps every feature within 1e-6 of the full-history
    value. The series here is long and priced like BTC to make that bound bite.
    """
    full = make_bars([("BTC-USDT", "1h")], n_bars=3 * WARMUP_BARS, seed=3, price=60_000.0, shuffle=False)
    expected = compute_features(full).tail(1)
    truncated = compute_features(full.tail(WARMUP_BARS + 1)).tail(1)
    assert all(truncated[name].is_not_null().all() for name in FLOAT_FEATURES)
    for name in FLOAT_FEATURES:
        assert abs(truncated[name][0] - expected[name][0]) <= 1e-6, name

    # Sanity: with far too little history the same comparison does fail (EMA memory is real).
    too_short = compute_features(full.tail(60)).tail(1)
    assert max(abs(too_short[n][0] - expected[n][0]) for n in FLOAT_FEATURES) > 1e-6


def test_empty_input() -> None:
    out = compute_features(pl.DataFrame(schema=OHLCV_SCHEMA))
    assert out.height == 0 and out.schema == pl.Schema(FEATURES_SCHEMA)
