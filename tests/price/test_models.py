"""The models: a tiny LSTM learns, fits are deterministic, the stack beats persistence where there is
something to learn and collapses to it where there is not; the promotion rule; drift."""

from __future__ import annotations

import numpy as np
import pytest

from ops.price.artifacts import from_files, to_files, validate
from ops.price.dataset import build_supervised
from ops.price.drift import psi, reference_histogram
from ops.price.ensemble import fit_ensemble
from ops.price.evaluation import WalkForwardConfig, walk_forward
from ops.price.lstm import LSTMConfig, fit_lstm, predict_lstm
from ops.price.promotion import decide
from tests.price.conftest import TINY

HORIZONS = (1, 3)


def learnable_windows(n: int = 400, window: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, window, 3)).astype(np.float32)
    y = np.stack([x[:, -1, 0] - 0.5 * x[:, -2, 1], x[:, :, 2].mean(axis=1)], axis=1).astype(np.float64)
    return x, y


def test_a_tiny_lstm_loss_falls_and_its_predictions_follow_the_signal():
    x, y = learnable_windows()
    fit = fit_lstm(x, y, LSTMConfig(hidden=8, epochs=12, patience=12, learning_rate=0.01), threads=1)
    losses = [p["train_loss"] for p in fit.history]
    assert losses[-1] < 0.5 * losses[0]
    assert min(p["val_loss"] for p in fit.history) < fit.history[0]["val_loss"]
    pred = predict_lstm(fit, x, threads=1)
    assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.6


def test_lstm_fits_are_deterministic():
    x, y = learnable_windows(n=120)
    config = LSTMConfig(hidden=4, epochs=2)
    assert fit_lstm(x, y, config, threads=1).state == fit_lstm(x, y, config, threads=1).state


def test_the_stack_beats_persistence_where_returns_are_predictable(learnable_features):
    data = build_supervised(learnable_features, HORIZONS, TINY.window)
    evaluation = walk_forward(data, TINY, WalkForwardConfig(folds=2), threads=1)
    h1 = evaluation.summary[1]
    assert h1["mae_ratio_persistence"] > 1.1  # AR(0.6) returns: a third of the move is forecastable
    assert h1["mae_ratio_persistence_ci_low"] > 1.05
    # ... by an AR(1) as well: the best baseline is the data's own process, and the stack is no better.
    assert evaluation.baselines[1] == "AR(1)" and h1["mae_ar1"] < h1["mae_persistence"]
    assert h1["mae_ratio"] < 1.05 and h1["mae_ratio_ci_low"] < 1.0  # so it would not be promoted
    assert {"coverage_fold1", "coverage_fold2", "coverage_fold_min"} <= set(h1)
    flat = evaluation.flat_metrics()
    assert {"h1_mae_ratio_ci_low", "h3_dm_pvalue", "mae_ratio_ci_low", "mae_ratio_persistence"} <= set(flat)
    assert h1["directional_accuracy"] > h1["up_share"] and h1["directional_accuracy"] > 0.6
    assert 0.5 < h1["coverage"] <= 1.0
    assert h1["mae_ratio_promoted"] >= 1.0
    assert set(evaluation.folds["fold"].unique()) == {1, 2}
    assert evaluation.predictions.filter(evaluation.predictions["horizon"] == 1).height == h1["rows"]


def test_the_stack_shrinks_towards_persistence_on_noise(synthetic_features):
    data = build_supervised(synthetic_features, HORIZONS, TINY.window)
    model, report = fit_ensemble(data, TINY, threads=1)
    assert (model.weights >= 0).all()
    pred = model.predict(data, threads=1)
    # Nothing to learn in a random walk: forecasts stay an order of magnitude below the moves.
    assert np.abs(pred.mean[:, 0]).mean() < 0.3 * np.nanmean(np.abs(data.targets[:, 0]))
    assert (pred.lower <= pred.mean).all() and (pred.mean <= pred.upper).all()
    assert report.gate["available"]


def test_a_model_survives_its_files_and_a_broken_one_fails_validation(synthetic_features):
    data = build_supervised(synthetic_features, HORIZONS, TINY.window)
    model, _ = fit_ensemble(data, TINY, threads=1)
    again = from_files(to_files(model))
    validate(again)
    np.testing.assert_allclose(again.predict(data).mean, model.predict(data).mean)
    again.interval_quantiles = again.interval_quantiles[:, ::-1]
    with pytest.raises(ValueError, match="inverted"):
        validate(again)


METRICS = {
    "h1_mae": 0.9, "h1_mae_ratio": 1.11, "h1_mae_ratio_ci_low": 1.05, "h1_mae_ratio_ci_high": 1.17,
    "h1_dm_pvalue": 0.001, "h1_best_baseline_index": 0.0,
    "h3_mae": 1.8, "h3_mae_ratio": 1.11, "h3_mae_ratio_ci_low": 1.03, "h3_mae_ratio_ci_high": 1.2,
    "h3_dm_pvalue": 0.01, "h3_best_baseline_index": 2.0,
}


def test_promotion_needs_a_significant_edge_over_the_best_baseline_at_every_horizon():
    assert decide(METRICS, (1, 3)).promote
    # A point win whose CI reaches below 1 is noise: refused, and the reason says where and against what.
    noise = {**METRICS, "h3_mae_ratio": 1.002, "h3_mae_ratio_ci_low": 0.998, "h3_mae_ratio_ci_high": 1.007}
    decision = decide(noise, (1, 3))
    assert not decision.promote
    for part in ("horizon 3", "AR(1)", "1.0020", "[0.9980, 1.0070]", "not significant"):
        assert part in decision.reason, decision.reason
    named = decide(noise, (1, 3), baselines={1: "persistence", 3: "training mean"})
    assert "edge over training mean" in named.reason
    worse = {**METRICS, "h1_mae_ratio": 0.95, "h1_mae_ratio_ci_low": 0.9, "h1_mae_ratio_ci_high": 0.99}
    decision = decide(worse, (1, 3))
    assert not decision.promote and "horizon 1" in decision.reason and "persistence" in decision.reason
    assert "does not beat persistence either" in decision.reason
    assert not decide({**METRICS, "h1_mae": float("nan")}, (1, 3)).promote
    assert not decide({k: v for k, v in METRICS.items() if k != "h3_mae_ratio_ci_low"}, (1, 3)).promote


def test_promotion_refuses_a_model_worse_than_the_current_one():
    current = {"mae_ratio": 1.2}
    decision = decide(METRICS, (1, 3), current, "v1")  # worst ratio 1.11 < 1.2
    assert not decision.promote and "worse than the current version v1" in decision.reason
    assert decide(METRICS, (1, 3), {"mae_ratio": 1.05}, "v1").promote


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift():
    rng = np.random.default_rng(0)
    reference = reference_histogram(rng.normal(0, 0.01, 5000))
    assert psi(reference, rng.normal(0, 0.01, 1000)) < 0.05
    assert psi(reference, rng.normal(0, 0.03, 1000)) > 0.2
