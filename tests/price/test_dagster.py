"""Real Dagster runs of the price_model group: a learnable market is promoted (its edge over the best simple
baseline is significant), a worse candidate is not and the check says why."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.price.assets import PRICE_ASSETS
from ops.market.features import compute_features
from ops.price.names import MODEL_NAME
from resources.configurable import PriceModelResource, build_resources
from resources.model_store import ModelStore
from resources.tables import OHLCV_FEATURES
from resources.warehouse import Warehouse
from tests.price.conftest import learnable_bars, synthetic_bars


@pytest.fixture(params=["sqlite"])
def warehouse_url(request, tmp_path):  # two full training runs: one backend is enough here
    return f"sqlite:///{tmp_path / 'w.sqlite'}"


def run(instance, resources):
    with set_defs_state_storage(instance.defs_state_storage):
        return dg.materialize(PRICE_ASSETS, instance=instance, resources=resources, raise_on_error=False)


def check(result, name):
    (evaluation,) = [
        e.asset_check_evaluation_data for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == name
    ]
    return evaluation


def test_a_better_model_is_promoted_and_a_worse_one_is_refused_with_the_reason(settings):
    tiny = PriceModelResource(window=8, lstm_hidden=8, lstm_epochs=4, gbm_max_iter=15, walk_forward_folds=2,
                              torch_threads=1)
    resources = {**build_resources(settings), "price": tiny}
    wh = Warehouse(settings.resolved_warehouse_url)
    store = ModelStore(settings.resolved_model_store_url)
    # Returns lean on the return two bars back: nothing an AR(1) or the mean can use, the model can.
    wh.upsert(OHLCV_FEATURES, compute_features(learnable_bars(lag=2)))

    with dg.instance_for_test() as instance:
        first = run(instance, resources)
        assert first.success
        promotion = check(first, "price_model_promotion")
        assert promotion.passed, promotion.description
        promoted = store.current_version(MODEL_NAME)
        assert promoted is not None
        manifest = store.manifest(MODEL_NAME, promoted)
        assert manifest["metrics"]["h1_mae"] < manifest["metrics"]["h1_mae_persistence"]
        assert manifest["metrics"]["h1_mae_ratio_ci_low"] > 1 and manifest["metrics"]["h3_mae_ratio_ci_low"] > 1
        assert set(manifest["best_baseline"]) == {"h1", "h3"} and manifest["promotion"]["promote"]
        assert {"forecast_vs_actual_h1.png", "model.json", "lstm.pt"} <= set(manifest["files"])
        assert manifest["data_range"]["symbols"] == ["AR-USD"] and manifest["drift_reference"]["edges"]
        forecasts = wh.read("price_forecasts")
        assert forecasts.height == 2 and forecasts["model_version"].to_list() == [promoted] * 2
        assert not forecasts["baseline"].any()
        assert set(wh.read("model_metrics", {"model": MODEL_NAME})["metric"]) >= {
            "h1_mae_ratio", "mae_ratio", "h1_mae_ratio_ci_low", "h1_dm_pvalue", "h1_coverage_fold1"}
        mats = {e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
                for e in first.all_events if e.event_type_value == "ASSET_MATERIALIZATION"}
        assert mats["price_model"]["h1_mae_ratio"].value > 1
        assert "data:image/png;base64" in mats["price_lstm"]["loss_curve"].value

        # The market turns into a random walk: the next candidate cannot beat the promoted model.
        wh.delete(OHLCV_FEATURES)
        wh.upsert(OHLCV_FEATURES, compute_features(synthetic_bars(("AR-USD",), days=25)))
        second = run(instance, resources)
        assert second.success  # a refused candidate warns; the forecasts still come from `current`
        refused = check(second, "price_model_promotion")
        assert not refused.passed and refused.severity == dg.AssetCheckSeverity.WARN
        assert "not significant" in refused.description or "worse than the current version" in refused.description
        assert "95 % CI" in refused.description and "horizon" in refused.description
        assert store.current_version(MODEL_NAME) == promoted
        assert len(store.versions(MODEL_NAME)) == 2
        latest = wh.read("price_forecasts").sort("horizon")
        assert latest["model_version"].to_list() == [promoted] * 2
        assert latest["close"].to_list() != forecasts.sort("horizon")["close"].to_list()  # from the new bars
    wh.dispose()
