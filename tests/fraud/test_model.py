"""The public data loader, grouped splits, the calibrated model, thresholds, reasons, drift and scores."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from ops.fraud.dataset import labels_frame, read_label_file, training_frame
from ops.fraud.drift import PSI_WARN, psi_per_feature, reference_histograms
from ops.fraud.matrix import feature_matrix
from ops.fraud.model import FraudModel, from_bytes, grouped_split, precision_thresholds, to_bytes
from ops.fraud.reasons import fit_evidence, top_reasons
from ops.fraud.schema import FEATURES, RISK_SCORES_SCHEMA
from ops.fraud.scoring import score_features


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


def test_held_out_quality_and_thresholds(tiny_training):
    _frame, result, _anomaly = tiny_training
    assert result.metrics["roc_auc"] > 0.97  # a tiny model on 1,500 rows, unseen addresses
    assert result.metrics["pr_auc"] > 0.9
    cuts = result.model.band_cuts()
    assert cuts == sorted(cuts)
    for t in result.model.thresholds:
        if t.threshold is not None:
            flagged = result.holdout_p >= t.threshold
            assert result.holdout_y[flagged].mean() >= t.precision_target  # the cut keeps its promise


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
    evidence = fit_evidence(clf, x, ("a", "b", "c", "d"))
    idx, vals = top_reasons(evidence.contributions_of(np.array([[0, 0, 2.0, 0], [0, 0, -2.0, 0]])))
    assert idx[0, 0] == 2 and vals[0, 0] > 1.0
    assert (idx[1] == -1).all()  # nothing pushed the safe row up


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
    assert scores.filter(pl.col("band") == "low")["probability"].max() < model.band_cuts()[0]
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
