"""Honest figures: bootstrap intervals, baselines, the fusion decision, the anomaly model's input space."""

from __future__ import annotations

import numpy as np
import pytest

from ops.fraud.anomaly import choose_scaling, evaluate_anomaly, fit_isolation_forest, scaled
from ops.fraud.figures import figures_with_baselines
from ops.fraud.fusion import evaluate_fusion
from ops.fraud.uncertainty import mean_ci, roc_auc, with_ci


def test_the_interval_narrows_with_more_addresses_and_holds_the_figure():
    rng = np.random.default_rng(0)

    def sample(n):
        y = rng.integers(0, 2, n)
        return y, y + rng.normal(scale=1.5, size=n), [f"a{i}" for i in range(n)]

    y, p, g = sample(200)
    small = with_ci(roc_auc, y, [p], g, resamples=300)
    y2, p2, g2 = sample(5000)
    large = with_ci(roc_auc, y2, [p2], g2, resamples=300)
    for fig in (small, large):
        assert fig["ci_low"] < fig["value"] < fig["ci_high"]
    assert large["ci_high"] - large["ci_low"] < 0.5 * (small["ci_high"] - small["ci_low"])


def test_rows_of_one_address_resample_together():
    """Two copies of every row under one address: the interval must be that of the unique rows, not narrower."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = y + rng.normal(scale=1.5, size=300)
    once = with_ci(roc_auc, y, [p], [f"a{i}" for i in range(300)], resamples=400)
    twice = with_ci(roc_auc, np.tile(y, 2), [np.tile(p, 2)], [f"a{i}" for i in range(300)] * 2, resamples=400)
    naive = with_ci(roc_auc, np.tile(y, 2), [np.tile(p, 2)], [f"r{i}" for i in range(600)], resamples=400)
    width = lambda f: f["ci_high"] - f["ci_low"]
    assert width(twice) == pytest.approx(width(once), rel=0.25)
    assert width(naive) < 0.85 * width(twice)


def test_figures_stand_beside_baselines_and_the_complete_rows():
    rng = np.random.default_rng(2)
    n = 2000
    y = rng.integers(0, 2, n)
    p = y + rng.normal(scale=0.8, size=n)
    weak = y + rng.normal(scale=3.0, size=n)
    complete = rng.random(n) > 0.1
    p[~complete] = 10.0 * y[~complete]  # rows with a gap are perfectly separated: the artifact
    figs = figures_with_baselines(y, p, weak, complete, [f"a{i}" for i in range(n)], resamples=300)
    assert figs["roc_auc_minus_logistic_ci_low"] > 0  # the model beats the weak baseline beyond noise
    assert figs["roc_auc_complete_rows"] < figs["roc_auc"]  # the gap rows flatter the pooled figure
    assert figs["prior_pr_auc"] == pytest.approx(y.mean()) and figs["rows_with_missing"] == (~complete).sum()
    assert figs["accuracy_ci_low"] <= figs["accuracy"] <= figs["accuracy_ci_high"]
    assert figs["prior_accuracy"] == pytest.approx(max(y.mean(), 1 - y.mean()))
    assert figs["prior_brier"] == pytest.approx(y.mean() * (1 - y.mean()))


def _fusion_case(informative: bool, seed: int):
    rng = np.random.default_rng(seed)
    n = 1500
    y = rng.integers(0, 2, n)
    hidden = rng.normal(size=n) + 1.5 * y  # what the context sees and the classifier does not
    p = 1 / (1 + np.exp(-(0.8 * y + rng.normal(size=n))))
    ctx = np.column_stack([hidden if informative else rng.normal(size=n), rng.normal(size=(n, 3))])
    half = n // 2
    groups = np.array([f"a{i}" for i in range(n)])
    return evaluate_fusion(p[:half], ctx[:half], y[:half], p[half:], ctx[half:], y[half:], groups[half:],
                           resamples=300)


def test_context_joins_the_score_only_when_it_wins_beyond_uncertainty():
    wins = _fusion_case(True, 3)
    assert wins.fused and wins.figures["roc_auc_difference_ci_low"] > 0 and wins.stacker is not None
    noise = _fusion_case(False, 4)
    assert not noise.fused and noise.stacker is None and "context" in noise.note
    assert noise.figures["roc_auc_difference_ci_low"] <= 0
    tiny = evaluate_fusion(*(np.array([0.2, 0.8]), np.zeros((2, 4)), np.array([0, 1])) * 2, np.array(["a", "b"]))
    assert not tiny.evaluated and not tiny.fused


def test_the_anomaly_input_space_follows_the_data_shape():
    rng = np.random.default_rng(5)
    counts = rng.pareto(1.0, size=(2000, 6)) * 1e3  # heavy tails: orders of magnitude
    assert choose_scaling(counts) == "signed_log"
    assert choose_scaling(rng.normal(size=(2000, 6))) == "raw"
    assert scaled(np.array([[np.nan, 2.0]]), "raw").tolist() == [[0.0, 2.0]]


@pytest.mark.parametrize("name", ["adbench_6_cardio", "adbench_38_thyroid"])
def test_the_anomaly_model_is_not_below_sklearns_default_isolation_forest(shared_data, name):
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    data = np.load(shared_data / "anomaly" / f"{name}.npz")
    x, y = data["X"].astype(np.float64), data["y"].astype(int)
    order = np.random.default_rng(0).permutation(len(y))
    train, test = order[: int(0.6 * len(y))], order[int(0.6 * len(y)):]
    scaling = choose_scaling(x[train])
    ours = roc_auc_score(y[test], -fit_isolation_forest(x[train], 0, scaling=scaling).score_samples(
        scaled(x[test], scaling)))
    default = roc_auc_score(y[test], -IsolationForest(random_state=0).fit(x[train]).score_samples(x[test]))
    assert ours >= default - 1e-9


def test_the_anomaly_model_is_evaluated_on_held_out_labelled_rows(public_frame):
    from ops.fraud.matrix import feature_matrix

    frame = public_frame.sample(n=2500, seed=1)
    x, labels = feature_matrix(frame), frame["label"].to_numpy()
    ev = evaluate_anomaly(x, labels, frame["address"].to_list(), resamples=200, n_estimators=50)
    assert 0 < ev["held_out_rows"] < 0.3 * len(labels)
    assert ev["roc_auc_ci_low"] <= ev["roc_auc"] <= ev["roc_auc_ci_high"]
    assert ev["distinguishable"] == float(ev["roc_auc_ci_low"] > 0.5)
    shuffled = evaluate_anomaly(x, np.random.default_rng(0).permutation(labels), frame["address"].to_list(),
                                resamples=200, n_estimators=50)
    assert shuffled["roc_auc_ci_low"] < 0.5 < shuffled["roc_auc_ci_high"]  # labels it cannot see: not served


def test_mean_ci_over_seeds():
    fig = mean_ci([0.90, 0.92, 0.91, 0.93, 0.89])
    assert fig["ci_low"] < 0.91 < fig["ci_high"] and mean_ci([0.5])["ci_low"] == 0.5


def test_the_fast_metrics_are_scikit_learns():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from ops.fraud.uncertainty import pr_auc

    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 500)
    p = np.round(y + rng.normal(size=500), 1)  # ties
    w = rng.integers(0, 3, 500).astype(float)
    assert roc_auc(y, p, w) == pytest.approx(roc_auc_score(y, p, sample_weight=w))
    assert pr_auc(y, p, w) == pytest.approx(average_precision_score(y, p, sample_weight=w))
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p))
    from sklearn.metrics import accuracy_score, brier_score_loss

    from ops.fraud.uncertainty import accuracy, brier

    prob = 1 / (1 + np.exp(-p))
    assert accuracy(y, prob, w) == pytest.approx(accuracy_score(y, prob >= 0.5, sample_weight=w))
    assert brier(y, prob, w) == pytest.approx(brier_score_loss(y, prob, sample_weight=w))


def test_a_fusion_that_wins_becomes_the_score_and_its_bands(monkeypatch, public_slice_csv):
    """Force the decision (the public data never gives fusion a win): the served score is then the
    stacker's over the classifier and its own anomaly model, the bands cut that score, and scoring says so."""
    from datetime import UTC, datetime

    import ops.fraud.model as model_module
    from ops.fraud.fusion import FusionReport, fit_stacker
    from ops.fraud.matrix import feature_matrix
    from ops.fraud.scoring import score_features
    from resources.training_data import load_public_dataset
    from tests.fraud.conftest import TINY

    real = model_module.evaluate_fusion

    def forced(p_cal, ctx_cal, y_cal, *rest, **kw):
        report = real(p_cal, ctx_cal, y_cal, *rest, **kw)
        return FusionReport(True, True, "forced", report.figures, fit_stacker(p_cal, ctx_cal, y_cal))

    monkeypatch.setattr(model_module, "evaluate_fusion", forced)
    frame = load_public_dataset(public_slice_csv)
    x, y = feature_matrix(frame), frame["label"].to_numpy()
    plain = model_module.train_fraud_model(x, y, frame["address"].to_list(), TINY.__class__(
        **{**TINY.__dict__, "fusion": False}))
    result = model_module.train_fraud_model(x, y, frame["address"].to_list(), TINY)
    model = result.model
    assert model.score_basis == "fused" and result.metrics["fused"] == 1.0
    p = model.predict_proba(x)
    fused = model.score_proba(x)
    assert fused == pytest.approx(model.fusion.fuse(p, x)) and not np.allclose(fused, p)
    assert [t.threshold for t in model.thresholds] != [t.threshold for t in plain.model.thresholds]
    scores = score_features(model, None, frame, model_version="v", anomaly_version=None,
                            scored_at=datetime(2024, 1, 1, tzinfo=UTC))
    assert scores["probability"].to_list() == pytest.approx(fused.tolist())
