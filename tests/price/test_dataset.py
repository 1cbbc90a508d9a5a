"""Supervised windows: no look-ahead, targets from the future only, and the warm-up they need."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from ops.market.features import compute_features
from ops.price.dataset import INPUTS, build_supervised, latest_rows, required_bars
from tests.price.conftest import synthetic_bars

HORIZONS = (1, 3)


def test_perturbing_the_future_leaves_every_past_row_unchanged():
    bars = synthetic_bars(days=8)
    cutoff = bars["ts"].sort()[bars.height // 2]
    # Rewrite everything after the cutoff: prices tripled, volumes scrambled.
    future = pl.col("ts") > cutoff
    perturbed = bars.with_columns(
        [pl.when(future).then(pl.col(c) * 3).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")]
        + [pl.when(future).then(pl.col("volume").reverse()).otherwise(pl.col("volume")).alias("volume")]
    )
    a = build_supervised(compute_features(bars), HORIZONS, window=8)
    b = build_supervised(compute_features(perturbed), HORIZONS, window=8)
    past_a, past_b = a.index["ts"] <= cutoff, b.index["ts"] <= cutoff
    assert past_a.sum() > 50 and past_a.sum() == past_b.sum()
    rows_a, rows_b = np.flatnonzero(past_a.to_numpy()), np.flatnonzero(past_b.to_numpy())
    assert a.index[rows_a].select("symbol", "ts", "close").equals(b.index[rows_b].select("symbol", "ts", "close"))
    # Equal up to float rounding: polars' rolling kernels may sum in a different order over a
    # different column, a 1e-16 effect; any leak of the tripled prices would be of order 1.
    np.testing.assert_allclose(a.sequences[rows_a], b.sequences[rows_b], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(a.tabular[rows_a], b.tabular[rows_b], rtol=1e-9, atol=1e-12)
    # Targets whose horizon ends by the cutoff are unchanged too; later ones see the new future.
    ends = a.index[rows_a]["target_end_ts"]
    known = np.flatnonzero((ends <= cutoff).fill_null(False).to_numpy())
    np.testing.assert_array_equal(a.targets[rows_a][known], b.targets[rows_b][known])
    assert not np.allclose(a.targets[rows_a][len(known):], b.targets[rows_b][len(known):], equal_nan=True)


def test_targets_are_future_log_returns_and_the_last_rows_have_none():
    bars = synthetic_bars(symbols=("BTC-USD",), days=5)
    data = build_supervised(compute_features(bars), HORIZONS, window=4)
    close = dict(zip(bars["ts"], bars["close"], strict=True))
    step = timedelta(hours=1)
    for i in (0, len(data) // 2):
        t = data.index["ts"][i]
        assert np.isclose(data.targets[i, 1], np.log(close[t + 3 * step] / close[t]))
        assert data.index["target_end_ts"][i] == t + 3 * step
    assert np.isnan(data.targets[-1]).all() and not data.labelled[-1]
    assert np.isnan(data.targets[-3, 1]) and not np.isnan(data.targets[-3, 0])


def test_first_complete_row_needs_the_features_warm_up_plus_the_window():
    bars = synthetic_bars(symbols=("BTC-USD",), days=4)
    features = compute_features(bars)
    for window in (1, 8):
        data = build_supervised(features, HORIZONS, window)
        first = data.index["ts"][0]
        assert bars["ts"].sort().to_list().index(first) == required_bars(window) - 1
        assert not np.isnan(data.sequences).any() and data.sequences.shape[1:] == (window, len(INPUTS))


def test_rows_are_in_time_order_across_symbols_and_latest_rows_pick_each_series_end(synthetic_features):
    data = build_supervised(synthetic_features, HORIZONS, window=8)
    assert data.index["ts"].is_sorted()
    last = latest_rows(data)
    assert last.index["symbol"].to_list() == ["BTC-USD", "ETH-USD"]
    assert (last.index["ts"] == data.index["ts"].max()).all()
