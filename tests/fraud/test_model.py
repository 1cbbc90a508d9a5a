"""The public data loader, grouped splits, the calibrated model, thresholds, reasons, drift and scores."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from ops.fraud.dataset import labels_frame, training_frame
from ops.fraud.drift import PSI_WARN, psi_per_feature, reference_histograms
from ops.fraud.matrix import feature_matrix
from ops.fraud.model import FraudModel, from_bytes, grouped_split, precision_thresholds, to_bytes
from ops.fraud.reasons import top_reasons
from ops.fraud.schema import FEATURES, RISK_SCORES_SCHEMA
from ops.fraud.scoring import score_features
from ops.fraud.treeshap import TreeShap
from resources.training_data import read_label_file


def test_public_data_set_maps_to_our_features(public_frame):
    assert public_frame.height == 9841
    assert int(public_frame["label"].sum()) == 2179
    assert public_frame.columns[:3] == ["address", "label", "source"] and set(FEATURES) <= set(public_frame.columns)
    # empty ERC-20 cells stay unknown, not zero
    assert public_frame["erc20_total_tx"].null_count() == 829
    first = public_frame.row(0, named=True)
    assert (first["sent_tx"], first["received_tx"], first["total_ether_balance"]) == (721, 89, pytest.approx(-279.2244185))
    assert first["max_value_received"] == pytest.approx(45.806785)  # a column named with a trailing space
    assert public_frame["address"].is_duplicated().sum() == 50  # 25 addresses twice


def test_grouped_split_never_splits_an_address(public_frame):
    y = public_frame["label"].to_numpy()
    addresses = public_frame["address"].to_list()
    train, test = grouped_split(addresses, y, 0.2, seed=3)
    assert not {addresses[i] for i in train} & {addresses[i] for i in test}
    assert 0.15 < len(test) / len(y) < 0.25
    assert abs(y[test].mean() - y.mean()) < 0.03


def test_held_out_quality_beside_its_baselines(tiny_training):
    _frame, result, _anomaly = tiny_training
    m = result.metrics
    assert m["roc_auc"] > 0.97  # a tiny model on 1,500 rows, unseen addresses
    assert m["pr_auc"] > 0.9 and m["prior_pr_auc"] == pytest.approx(result.holdout_y.mean())
    for name in ("roc_auc", "pr_auc", "logistic_roc_auc", "roc_auc_complete_rows"):
        assert m[f"{name}_ci_low"] <= m[name] <= m[f"{name}_ci_high"], name
    assert m["roc_auc_ci_high"] - m["roc_auc_ci_low"] > 0  # an interval, not a point
    # the rows without an ERC-20 history are in the held-out part and all fraud; both figures reported
    assert m["rows_with_missing"] > 0 and m["fraud_share_of_rows_with_missing"] == 1.0
    cuts = result.model.band_cuts()
    assert cuts == sorted(cuts)


def test_thresholds_come_from_the_calibration_split_not_the_reported_one(public_slice_csv):
    """Refit the evaluation model: the served cuts are the calibration split's, and the reported
    precision at each cut is measured on the held-out rows."""
    from ops.fraud.model import fit_classifier, three_way_split, train_fraud_model
    from resources.training_data import load_public_dataset
    from tests.fraud.conftest import TINY

    frame = load_public_dataset(public_slice_csv)
    x, y = feature_matrix(frame), frame["label"].to_numpy()
    groups = np.asarray(frame["address"].to_list())
    params = TINY.__class__(**{**TINY.__dict__, "bootstrap": 50, "fusion": False})
    result = train_fraud_model(x, y, list(groups), params)
    train, cal, test = three_way_split(groups, y, 0.2, params.seed)
    assert not (set(groups[train]) & set(groups[cal])) and not (set(groups[cal]) & set(groups[test]))
    assert sorted(result.holdout_addresses) == sorted(groups[test].tolist())
    evaluation = fit_classifier(x[train], y[train], groups[train], params)
    on_cal = precision_thresholds(y[cal], evaluation.predict_proba(x[cal])[:, 1])
    on_test = precision_thresholds(y[test], evaluation.predict_proba(x[test])[:, 1])
    assert [t.threshold for t in result.model.thresholds] == [t.threshold for t in on_cal]
    assert [t.threshold for t in on_cal] != [t.threshold for t in on_test]  # the choice would differ
    for t in result.model.thresholds:
        if t.threshold is not None:
            flagged = result.holdout_p >= t.threshold
            assert result.metrics[f"precision_at_{t.name}"] == pytest.approx(result.holdout_y[flagged].mean())


def test_thresholds_pick_the_lowest_cut_reaching_each_precision():
    y = np.array([0, 0, 1, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    by_target = {t.precision_target: t for t in precision_thresholds(y, p, (0.8, 0.95))}
    assert by_target[0.8].threshold == pytest.approx(0.3)  # from 0.3 up: 5 of 6 are fraud; from 0.2: 5 of 7
    assert by_target[0.8].recall == pytest.approx(1.0)
    assert by_target[0.95].threshold == pytest.approx(0.5)  # from 0.5 up: 4 of 4; from 0.4: 4 of 5
    assert by_target[0.95].recall == pytest.approx(4 / 5)
    never = precision_thresholds(np.array([1, 0]), np.array([0.1, 0.9]), (0.99,))[0]
    assert never.threshold is None  # no cut reaches it: reported, not invented


def test_reasons_name_the_feature_that_drives_the_model():
    """A model of one feature: its reasons must name that feature for risky rows and nothing for safe ones."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4))
    y = (x[:, 2] > 0.5).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=30).fit(x, y)
    explainer = TreeShap.from_booster(clf)
    idx, vals = top_reasons(explainer.shap_values(np.array([[0, 0, 2.0, 0], [0, 0, -2.0, 0]])))
    assert idx[0, 0] == 2 and vals[0, 0] > 1.0
    assert (idx[1] == -1).all()  # nothing pushed the safe row up


def _shapley_brute_force(predictors, row: np.ndarray) -> np.ndarray:
    """Shapley values of TreeSHAP's game (expectation over the tree covers), enumerating every coalition."""
    import itertools
    from math import factorial

    def expect(nodes, s, n=0):
        r = nodes[n]
        if r["is_leaf"]:
            return r["value"]
        f = r["feature_idx"]
        if f in s:
            v = row[f]
            left = bool(r["missing_go_to_left"]) if np.isnan(v) else v <= r["num_threshold"]
            return expect(nodes, s, r["left"] if left else r["right"])
        lc, rc = nodes[r["left"]]["count"], nodes[r["right"]]["count"]
        return (lc * expect(nodes, s, r["left"]) + rc * expect(nodes, s, r["right"])) / (lc + rc)

    m = len(row)
    phi = np.zeros(m)
    for predictor in predictors:
        nodes = predictor[0].nodes
        for i in range(m):
            others = [j for j in range(m) if j != i]
            for size in range(m):
                for s in itertools.combinations(others, size):
                    w = factorial(size) * factorial(m - size - 1) / factorial(m)
                    phi[i] += w * (expect(nodes, set(s) | {i}) - expect(nodes, set(s)))
    return phi


def test_treeshap_is_exact_including_missing_values():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(1500, 4))
    x[rng.random(x.shape) < 0.15] = np.nan
    filled = np.nan_to_num(x)
    y = ((filled[:, 0] + filled[:, 1] * filled[:, 2] + np.isnan(x[:, 3])) > 0.4).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=8, max_leaf_nodes=6).fit(x, y)
    explainer = TreeShap.from_booster(clf)
    phi = explainer.shap_values(x[:300])
    # local accuracy: attributions plus the expected value are the margin, to rounding
    assert np.abs(phi.sum(axis=1) + explainer.expected_value - clf.decision_function(x[:300])).max() < 1e-9
    for row in (0, 1, int(np.flatnonzero(np.isnan(x[:300]).any(axis=1))[0])):
        assert phi[row] == pytest.approx(_shapley_brute_force(clf._predictors, x[row]), abs=1e-9)
    # a pickled explainer (tables dropped, rebuilt on use) gives the same values
    import pickle

    assert np.array_equal(pickle.loads(pickle.dumps(explainer)).shap_values(x[:50]), phi[:50])


def test_reasons_agree_with_occlusion_where_the_model_is_additive():
    """Stumps make the model additive: there the attribution of a feature is its occlusion effect, so the
    agreement the bench reports must be (near) total; a shuffled attribution must not reach it."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from ops.fraud.reasons import agreement, occlusion

    rng = np.random.default_rng(2)
    x = rng.normal(size=(3000, 6))
    y = (x @ np.array([2.0, -1.5, 1.0, 0.5, 0.0, 0.0]) + rng.normal(size=3000) > 0).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=60, max_depth=1).fit(x, y)
    explainer = TreeShap.from_booster(clf)
    rows = x[:200]
    attr = explainer.shap_values(rows)
    occ = occlusion(clf.decision_function, rows, x[1000:1400])
    assert agreement(attr, occ)["top1_in_top3"].mean() > 0.95
    assert agreement(attr, occ)["top3_overlap"].mean() > 0.9
    assert agreement(rng.permuted(attr, axis=1), occ)["top3_overlap"].mean() < 0.8


def test_drift_is_near_zero_on_the_same_population_and_large_on_another(public_frame):
    x = feature_matrix(public_frame)
    ref = reference_histograms(x[::2], FEATURES)
    same = psi_per_feature(ref, x[1::2])
    assert max(same.values()) < 0.1
    shifted = x[1::2].copy()
    shifted[:, FEATURES.index("sent_tx")] *= 50
    moved = psi_per_feature(ref, shifted)
    assert moved["sent_tx"] > PSI_WARN and moved["received_tx"] < 0.1


def test_scores_bands_reasons_and_context(tiny_training):
    frame, result, anomaly = tiny_training
    model = from_bytes(to_bytes(result.model), FraudModel)  # what the store holds is what scores
    when = datetime(2024, 1, 1, tzinfo=UTC)
    scores = score_features(model, anomaly, frame, model_version="v1", anomaly_version="a1", scored_at=when)
    assert scores.schema == pl.Schema(RISK_SCORES_SCHEMA) and scores.height == frame.height
    assert scores["score"].min() >= 0 and scores["score"].max() <= 100
    joined = scores.with_columns(frame["label"])
    fraud_mean = joined.filter(pl.col("label") == 1)["score"].mean()
    assert fraud_mean > 3 * joined.filter(pl.col("label") == 0)["score"].mean()
    critical = scores.filter(pl.col("band") == "critical")
    assert critical.height and critical["reason_1"].null_count() == 0
    assert set(critical["reason_1"].to_list()) <= set(FEATURES)
    low = scores.filter(pl.col("band") == "low")
    assert low["probability"].max() < model.band_cuts()[0]
    assert low["reason_1"].null_count() == low.height  # reasons explain flags; a low-band address has none
    x = feature_matrix(frame)
    assert scores["probability"].to_list() == pytest.approx(model.score_proba(x).tolist())
    if model.score_basis == "classifier":  # fusion did not win: the score is the classifier's alone
        assert scores["probability"].to_list() == pytest.approx(model.predict_proba(x).tolist())
    assert scores["anomaly_score"].is_between(0, 1).all() and scores["cluster_id"].null_count() == 0
    assert (scores["model_version"] == "v1").all()


def test_label_files_and_training_frame(tmp_path):
    (tmp_path / "truth.json").write_text('{"scam_addresses": ["0xAB"], "normal_addresses": ["0xcd"]}')
    (tmp_path / "labels.csv").write_text("address,is_fraud\n0xcd,true\n")
    truth = read_label_file(tmp_path / "truth.json")
    assert dict(truth.select("address", "label").iter_rows()) == {"0xab": 1, "0xcd": 0}
    feedback = read_label_file(tmp_path / "labels.csv")
    chain = pl.DataFrame({"address": ["0xab", "0xcd", "0xef"], **{f: [1.0, 2.0, 3.0] for f in FEATURES}})
    frame = training_frame(None, chain, [truth, feedback])  # feedback (later) relabels 0xcd
    assert dict(frame.select("address", "label").iter_rows()) == {"0xab": 1, "0xcd": 1}
    assert training_frame(None, None, [labels_frame([("0x1", 1)], "x")]).is_empty()


def test_the_devnet_ground_truth_is_a_label_file(played_devnet, tmp_path):
    """The devnet's own ground truth labels its scam addresses as fraud and its traders as normal."""
    import json

    _, truth = played_devnet
    path = tmp_path / "ground_truth.json"
    path.write_text(json.dumps(truth))
    labels = dict(read_label_file(path).select("address", "label").iter_rows())
    scams = {s["address"] for s in truth["scam_addresses"]}
    assert scams and all(labels[a] == 1 for a in scams)
    assert all(labels[a] == 0 for a in truth["accounts"]["traders"])
    assert sum(labels.values()) == len(truth["accounts"]["scam_addresses"])


def test_a_devnet_sized_label_set_still_learns():
    """25 labelled addresses (5 fraud), the size `make run` trains on: leaves of 20 rows would forbid every
    split and leave a constant model (held-out ROC-AUC 0.5); the leaf size shrinks with the data."""
    from ops.fraud.model import train_fraud_model

    rng = np.random.default_rng(3)
    y = np.array([1] * 5 + [0] * 20)
    x = rng.normal(size=(25, len(FEATURES))).astype(np.float32)
    x[:, 0] += 4.0 * y  # one feature tells fraud apart, as received-from-many-victims does on the devnet
    result = train_fraud_model(x, y, [f"0x{i:040x}" for i in range(25)])
    assert result.metrics["roc_auc"] == 1.0 and result.holdout_y.sum() >= 1
    assert np.ptp(result.model.predict_proba(x)) > 0.5  # not a constant model


def test_path_occlusion_is_the_drop_when_a_feature_is_marginalized_by_the_trees():
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(4)
    x = rng.normal(size=(1000, 3))
    x[rng.random(x.shape) < 0.1] = np.nan
    y = (np.nan_to_num(x[:, 0]) * np.nan_to_num(x[:, 1]) > 0).astype(int)
    clf = HistGradientBoostingClassifier(max_iter=5, max_leaf_nodes=5).fit(x, y)
    drop = TreeShap.from_booster(clf).path_occlusion(x[:5])

    def expect(nodes, row, skip, n=0):
        r = nodes[n]
        if r["is_leaf"]:
            return r["value"]
        if r["feature_idx"] == skip:
            lc, rc = nodes[r["left"]]["count"], nodes[r["right"]]["count"]
            return (lc * expect(nodes, row, skip, r["left"]) + rc * expect(nodes, row, skip, r["right"])) / (lc + rc)
        v = row[r["feature_idx"]]
        left = bool(r["missing_go_to_left"]) if np.isnan(v) else v <= r["num_threshold"]
        return expect(nodes, row, skip, r["left"] if left else r["right"])

    for i in range(5):
        full = sum(expect(p[0].nodes, x[i], -1) for p in clf._predictors)
        for j in range(3):
            assert drop[i, j] == pytest.approx(full - sum(expect(p[0].nodes, x[i], j) for p in clf._predictors))
