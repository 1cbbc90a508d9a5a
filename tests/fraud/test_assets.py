"""Real Dagster runs of the fraud group over chain tables written into the warehouse, on both backends."""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.fraud.assets import FRAUD_ASSETS, FRAUD_CHECKS
from assets.fraud.triggers import fraud_rescore_sensor
from resources.configurable import build_resources
from resources.model_store import ModelStore
from resources.tables import CHAIN_TRANSACTIONS, CONTRACTS, TOKEN_TRANSFERS
from resources.warehouse import Warehouse
from tests.fraud.conftest import A, C, chain_frames

SMALL = {"ops": {"fraud_model": {"config": {"max_iter": 25, "calibration_folds": 2, "bootstrap": 200}}}}


def conform(frame: pl.DataFrame, spec) -> pl.DataFrame:
    """The hand-built frame with the table's other columns as nulls (what the indexer would also write)."""
    return frame.with_columns(
        [pl.lit(None, dtype=dtype).alias(c) for c, dtype in spec.schema.items() if c not in frame.columns]
    ).select([pl.col(c).cast(d) for c, d in spec.schema.items()])


def seed_chain(url: str) -> None:
    wh = Warehouse(url)
    frames = chain_frames()
    for spec in (CHAIN_TRANSACTIONS, TOKEN_TRANSFERS, CONTRACTS):
        wh.upsert(spec, conform(frames[spec.name], spec))
    wh.dispose()


def materialize(instance, settings, selection=None, raise_on_error=True):
    with set_defs_state_storage(instance.defs_state_storage):
        return dg.materialize(
            [*FRAUD_ASSETS, *FRAUD_CHECKS], instance=instance, resources=build_resources(settings),
            run_config=SMALL if selection is None or "fraud_model" in selection else None, selection=selection, raise_on_error=raise_on_error,
        )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_the_fraud_group_end_to_end(instance, settings, public_slice_csv, tmp_path):
    truth = tmp_path / "ground_truth.json"
    truth.write_text(f'{{"scam_addresses": ["{A}"], "normal_addresses": ["{C}"]}}')
    settings = settings.model_copy(update={"fraud_training_csv": public_slice_csv, "fraud_labels_path": truth})
    seed_chain(settings.resolved_warehouse_url)

    result = materialize(instance, settings)
    assert result.success
    wh = Warehouse(settings.resolved_warehouse_url)
    assert wh.count("address_features") == 4
    scores = wh.read("address_risk_scores")
    assert scores.height == 4 and scores["score"].is_between(0, 100).all()
    store = ModelStore(settings.resolved_model_store_url)
    version = store.current_version("fraud_model")
    assert version is not None and (scores["model_version"] == version).all()
    assert scores["anomaly_model_version"].to_list() == [store.current_version("anomaly_model")] * 4
    manifest = store.manifest("fraud_model", version)
    assert manifest["data_range"]["sources"]["labels:ground_truth.json"] == {"rows": 2, "fraud": 1}
    assert manifest["metrics"]["roc_auc"] > 0.9

    assert manifest["metrics"]["roc_auc_ci_low"] > 0.5  # promoted: told apart from a random score
    assert manifest["score_basis"] in ("classifier", "fused") and manifest["fusion"]
    trained = result.asset_materializations_for_node("fraud_model")[0].metadata
    assert trained["score_basis"].value == manifest["score_basis"]
    assert "logistic regression" in trained["figures"].value and "rows without missing values" in trained["figures"].value
    metrics = wh.read("model_metrics", {"model": "fraud_model", "version": version})
    assert {"roc_auc", "roc_auc_ci_low", "logistic_roc_auc", "roc_auc_complete_rows", "pr_auc", "accuracy",
            "recall_at_p90", "fusion_roc_auc_difference"} <= set(metrics["metric"].to_list())
    anomaly = result.asset_materializations_for_node("anomaly_model")[0].metadata
    served = store.current_version("anomaly_model")
    assert anomaly["promoted"].value == (anomaly["held_out_roc_auc_ci_low"].value > 0.5) == (served is not None)
    evaluation = result.asset_materializations_for_node("fraud_model_evaluation")[0].metadata
    assert "data:image/png;base64," in evaluation["calibration_curve"].value
    assert "precision >= 0.95" in evaluation["thresholds"].value

    # the devnet-like addresses look nothing like the public data: the drift check warns, it does not block
    drift = [e.asset_check_evaluation_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert [(d.check_name, d.passed, d.severity) for d in drift] == [
        ("feature_drift", False, dg.AssetCheckSeverity.WARN)
    ]
    assert drift[0].metadata["max_psi"].value > 0.25

    # every address at or above STREAM_RISK_MIN_SCORE on its first scoring is one `risk` event
    import json

    high = set(scores.filter(pl.col("score") >= settings.stream_risk_min_score)["address"])
    assert high and len(high) < 4  # the scam address crossed, the normal ones did not
    events = wh.read("stream_events", {"topic": "risk"}).to_dicts() if wh.has_table("stream_events") else []
    assert {e["key"] for e in events} == high
    assert all(json.loads(e["payload"])["previous_score"] is None for e in events)

    # re-scoring alone after new chain data reuses the promoted models and keeps one row per address
    again = materialize(instance, settings, selection=["address_features", "address_risk_scores"])
    assert again.success and wh.count("address_risk_scores") == 4
    assert len(wh.read("stream_events", {"topic": "risk"}) if events else []) == len(events)  # nothing crossed again
    wh.dispose()


def test_a_model_that_cannot_be_told_from_a_random_score_is_not_promoted(instance, settings, public_slice_csv,
                                                                       tmp_path):
    """Labels shuffled against the features: whatever the held-out ROC-AUC, its CI reaches 0.5, so
    neither the fraud model nor the anomaly model is served, and the run says why."""
    raw = pl.read_csv(public_slice_csv, infer_schema_length=0)
    shuffled = raw.with_columns(pl.col("FLAG").shuffle(seed=3))
    path = tmp_path / "shuffled.csv"
    shuffled.write_csv(path)
    settings = settings.model_copy(update={"fraud_training_csv": path, "fraud_min_roc_auc": 0.0})
    seed_chain(settings.resolved_warehouse_url)
    result = materialize(instance, settings, selection=["address_features", "fraud_model", "anomaly_model"])
    store = ModelStore(settings.resolved_model_store_url)
    trained = result.asset_materializations_for_node("fraud_model")[0].metadata
    assert trained["promoted"].value is False and store.current_version("fraud_model") is None
    assert store.versions("fraud_model")  # saved for inspection, not served
    assert store.current_version("anomaly_model") is None

    # With no model served the prior scores: every address the labelled base rate, band low, no reasons.
    scored = materialize(instance, settings, selection=["address_risk_scores"])
    assert scored.success
    meta = scored.asset_materializations_for_node("address_risk_scores")[0].metadata
    assert meta["score_basis"].value == "prior" and meta["model_version"].value == "prior"
    rows = Warehouse(settings.resolved_warehouse_url).read("address_risk_scores")
    base_rate = store.manifest("fraud_model", store.versions("fraud_model")[-1])["metrics"]["base_rate"]
    assert rows.height == 4 and set(rows["model_version"]) == {"prior"} and set(rows["band"]) == {"low"}
    assert set(rows["score"]) == {round(100 * base_rate)} and rows["reason_1"].is_null().all()


def test_without_labelled_data_the_model_says_so(instance, settings):
    seed_chain(settings.resolved_warehouse_url)
    result = materialize(instance, settings, selection=["address_features", "fraud_model"], raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = str(failures[0].event_specific_data.error)
    assert "No labelled data to train the fraud model on" in text and "FRAUD_TRAINING_CSV" in text


def test_new_chain_ranges_start_one_rescoring_run_once_a_model_is_trained(instance, tmp_path):
    from resources.configurable import ModelStoreResource
    from resources.model_store import ModelStore

    store = ModelStoreResource(url=str(tmp_path / "models"))

    def evaluate(cursor=None):
        return fraud_rescore_sensor(dg.build_sensor_context(instance=instance, cursor=cursor), model_store=store)

    for key in ("000000000000", "000000000100"):
        instance.report_runless_asset_event(dg.AssetMaterialization("chain_transactions", partition=key))
    skipped = evaluate()  # chain ranges arrived, but scoring would fail without a model: no run
    assert isinstance(skipped, dg.SkipReason) and "no fraud_model trained yet" in skipped.skip_message
    models = ModelStore(str(tmp_path / "models"))
    models.save("fraud_model", {"model.bin": b"stand-in"})  # trained, not promoted: its prior scores

    result = evaluate()
    assert len(result.run_requests) == 1
    assert result.run_requests[0].tags["fraud/chain_ranges"] == "000000000000,000000000100"
    assert isinstance(evaluate(result.cursor), dg.SkipReason)  # nothing new since the cursor: no run
    instance.report_runless_asset_event(dg.AssetMaterialization("chain_transactions", partition="000000000200"))
    # While a re-scoring run runs, no second one: the next takes what arrived meanwhile.
    queued = instance.add_run(dg.DagsterRun(job_name="fraud_scoring_job", status=dg.DagsterRunStatus.STARTED))
    waiting = evaluate(result.cursor)
    assert isinstance(waiting, dg.SkipReason) and "queued or running" in waiting.skip_message
    instance.report_run_canceled(queued)
    later = evaluate(result.cursor)
    assert later.run_requests[0].run_key != result.run_requests[0].run_key


def test_the_promotion_rule_names_what_stops_a_model():
    from ops.fraud.promotion import promotion_refusal

    good = {"roc_auc": 0.99, "roc_auc_ci_low": 0.98, "roc_auc_ci_high": 0.995, "roc_auc_p_value": 0.0001,
            "rows": 400.0, "roc_auc_minus_logistic": 0.01, "roc_auc_minus_logistic_ci_high": 0.02}
    assert promotion_refusal(good, 0.9) is None
    assert "FRAUD_MIN_ROC_AUC" in promotion_refusal(good, 0.995)
    assert "prior 0.5" in promotion_refusal({**good, "roc_auc_ci_low": 0.45}, 0.9)
    assert "too few to tell" in promotion_refusal({**good, "roc_auc_p_value": 0.2}, 0.9)
    assert "too few to tell" in promotion_refusal({k: v for k, v in good.items() if k != "roc_auc_p_value"}, 0.9)
    worse = {**good, "roc_auc_minus_logistic": -0.02, "roc_auc_minus_logistic_ci_high": -0.005}
    assert "logistic baseline is better" in promotion_refusal(worse, 0.9)
