"""The fraud API: stored scores, online scoring with the batch code, feedback labels; both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from ops.fraud.features import address_features
from ops.fraud.model import to_bytes
from ops.fraud.schema import FEATURES
from ops.fraud.scoring import score_features
from resources.model_store import ModelStore
from resources.tables import ADDRESS_FEATURES, ADDRESS_RISK_SCORES
from tests.fraud.conftest import A, B, chain_frames
from tests.serving.conftest import bearer

UNKNOWN = "0x" + "e" * 40


@pytest.fixture
def published(settings, warehouse, tiny_training):
    """Promoted models in the store, chain features and their scores in the warehouse."""
    _frame, result, anomaly = tiny_training
    store = ModelStore(settings.resolved_model_store_url)
    fv = store.save("fraud_model", {"model.pkl": to_bytes(result.model)}, extra={"score_basis": result.model.score_basis})
    store.promote("fraud_model", fv)
    av = store.save("anomaly_model", {"model.pkl": to_bytes(anomaly)})
    store.promote("anomaly_model", av)
    f = chain_frames()
    features = address_features(f["chain_transactions"], f["token_transfers"], f["contracts"],
                                computed_at=datetime.now(UTC))
    warehouse.upsert(ADDRESS_FEATURES, features)
    scores = score_features(result.model, anomaly, features, model_version=fv, anomaly_version=av,
                            scored_at=datetime.now(UTC))
    warehouse.upsert(ADDRESS_RISK_SCORES, scores)
    return {"fraud": fv, "anomaly": av, "scores": {r["address"]: r for r in scores.iter_rows(named=True)},
            "model": result.model, "public": _frame}


def test_stored_score_with_reasons_and_versions(client, published):
    answer = client.get(f"/api/v1/fraud/score/{A.upper().replace('0X', '0x')}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    stored = published["scores"][A]
    assert (body["address"], body["score"], body["band"]) == (A, stored["score"], stored["band"])
    assert body["model_version"] == published["fraud"] and body["anomaly_model_version"] == published["anomaly"]
    assert [r["feature"] for r in body["reasons"]] == [
        r for r in (stored["reason_1"], stored["reason_2"], stored["reason_3"]) if r
    ]
    assert all(r["description"] for r in body["reasons"])
    assert body["cluster"]["id"] == stored["cluster_id"]
    assert body["score_basis"] == published["model"].score_basis  # what the score is, from the model's manifest

    missing = client.get(f"/api/v1/fraud/score/{UNKNOWN}")
    assert missing.status_code == 404 and UNKNOWN in missing.json()["detail"]
    bad = client.get("/api/v1/fraud/score/0x123")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "address"]


def test_score_before_anything_is_materialized_is_404(client):
    answer = client.get(f"/api/v1/fraud/score/{A}")
    assert answer.status_code == 404 and "address_risk_scores" in answer.json()["detail"]
    online = client.post("/api/v1/fraud/score", json={"addresses": [A]})
    assert online.status_code == 404 and "fraud_model" in online.json()["detail"]


def test_online_scoring_equals_the_batch(client, published):
    answer = client.post("/api/v1/fraud/score", json={"addresses": [A, B, UNKNOWN]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["not_found"] == [UNKNOWN] and body["model_version"] == published["fraud"]
    assert body["score_basis"] == published["model"].score_basis
    assert {item["score_basis"] for item in body["items"]} == {body["score_basis"]}
    by_address = {item["address"]: item for item in body["items"]}
    for address in (A, B):
        stored = published["scores"][address]
        assert by_address[address]["probability"] == pytest.approx(stored["probability"])
        assert by_address[address]["band"] == stored["band"]
        assert [r["feature"] for r in by_address[address]["reasons"]] == [
            r for r in (stored["reason_1"], stored["reason_2"], stored["reason_3"]) if r
        ]

    # a record of the public data set scores as the model scores that row
    row = published["public"].filter(pl.col("label") == 1).row(0, named=True)
    record = {f: row[f] for f in FEATURES}
    online = client.post("/api/v1/fraud/score", json={"records": [record]}).json()["items"][0]
    expected = published["model"].predict_proba(
        pl.DataFrame([record]).select([pl.col(f).cast(pl.Float64) for f in FEATURES]).to_numpy()
    )[0]
    assert online["probability"] == pytest.approx(expected)
    assert online["address"] is None and all(r["contribution"] > 0 for r in online["reasons"])
    if online["band"] != "low":  # a flagged record's reasons are its largest TreeSHAP attributions
        phi = published["model"].explainer.shap_values(
            pl.DataFrame([record]).select([pl.col(f).cast(pl.Float64) for f in FEATURES]).to_numpy())[0]
        top = [FEATURES[j] for j in phi.argsort()[::-1][: len(online["reasons"])]]
        assert [r["feature"] for r in online["reasons"]] == top
        assert online["reasons"][0]["contribution"] == pytest.approx(phi.max(), abs=1e-4)


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"records": [{"sent_tx": "many"}]}, ["body", "records", 0, "sent_tx"]),
        ({"records": [{"sent_tx": 1, "sent_txs": 2}]}, ["body", "records", 0, "sent_txs"]),
        ({"addresses": ["0xnothex"]}, ["body", "addresses", 0]),
        ({}, ["body"]),
    ],
)
def test_malformed_requests_name_the_field(client, published, payload, loc):
    answer = client.post("/api/v1/fraud/score", json=payload)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == loc


def test_feedback_is_idempotent_and_needs_write(client, warehouse):
    label = {"address": A.upper().replace("0X", "0x"), "label": 1, "note": "phishing report"}
    refused = client.post("/api/v1/fraud/feedback", json=label)
    assert refused.status_code == 403  # the client's token is read-only
    headers = bearer(warehouse, "analyst", "read,write")
    first = client.post("/api/v1/fraud/feedback", json=label, headers=headers)
    assert first.status_code == 200 and first.json()["changed"] is True
    second = client.post("/api/v1/fraud/feedback", json=label, headers=headers)
    assert second.status_code == 200 and second.json()["changed"] is False
    assert second.json()["updated_at"] == first.json()["updated_at"]
    rows = warehouse.read("fraud_feedback")
    assert rows.to_dicts()[0] | {"updated_at": None} == {
        "address": A, "label": 1, "source": "api:analyst", "note": "phishing report", "updated_at": None
    }
    relabel = client.post("/api/v1/fraud/feedback", json={**label, "label": 0}, headers=headers)
    assert relabel.json()["changed"] is True and warehouse.read("fraud_feedback")["label"].to_list() == [0]
    bad = client.post("/api/v1/fraud/feedback", json={**label, "label": 2}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "label"]


def test_while_no_model_is_promoted_the_stored_scores_say_they_are_the_prior(client, warehouse):
    from ops.fraud.scoring import prior_features

    f = chain_frames()
    features = address_features(f["chain_transactions"], f["token_transfers"], f["contracts"],
                                computed_at=datetime.now(UTC))
    warehouse.upsert(ADDRESS_RISK_SCORES, prior_features(0.2, None, features, anomaly_version=None,
                                                         scored_at=datetime.now(UTC)))
    body = client.get(f"/api/v1/fraud/score/{A}").json()
    assert (body["score_basis"], body["model_version"], body["score"], body["band"]) == ("prior", "prior", 20, "low")
    assert body["reasons"] == [] and body["anomaly_score"] is None
