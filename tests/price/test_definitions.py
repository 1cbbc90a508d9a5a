"""The price graph as the UI shows it, and the drift sensor's decision."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from assets.price.triggers import price_drift_sensor
from ops.market.features import compute_features
from ops.price.drift import reference_histogram
from ops.price.names import MODEL_NAME
from orchestration.definitions import build_definitions
from resources.configurable import ModelStoreResource, PriceModelResource, WarehouseResource
from resources.model_store import ModelStore
from resources.tables import OHLCV_FEATURES
from resources.warehouse import Warehouse
from tests.price.conftest import synthetic_bars


@pytest.fixture(params=["sqlite"])
def warehouse_url(request, tmp_path):  # neither depends on the backend
    return f"sqlite:///{tmp_path / 'w.sqlite'}"


def test_price_assets_lineage_checks_and_triggers(settings):
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    parents = {
        k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys}
        for k in ("price_training_set", "price_lstm", "price_ensemble", "price_model", "price_forecasts")
    }
    assert parents == {
        "price_training_set": {"ohlcv_features"},
        "price_lstm": {"price_training_set"},
        "price_ensemble": {"price_training_set", "price_lstm"},
        "price_model": {"price_training_set", "price_ensemble"},
        "price_forecasts": {"price_model", "ohlcv_features"},
    }
    for key in parents:
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "price_model" and node.description
    specs = {c.name: c for a in defs.assets for c in getattr(a, "check_specs", []) if c.name.startswith("price")}
    assert specs["price_model_promotion"].blocking and not specs["price_drift"].blocking
    assert defs.resolve_schedule_def("price_daily_schedule").cron_schedule == "20 0 * * *"
    assert defs.resolve_sensor_def("price_drift_sensor") is not None


def test_drift_sensor_requests_a_retrain_only_when_returns_shift(settings):
    wh = Warehouse(settings.resolved_warehouse_url)
    store = ModelStore(settings.resolved_model_store_url)
    features = compute_features(synthetic_bars(("BTC-USD",), days=20))
    resources = {
        "warehouse": WarehouseResource(url=settings.resolved_warehouse_url),
        "model_store": ModelStoreResource(url=settings.resolved_model_store_url),
        "price": PriceModelResource(drift_psi=0.2),
    }

    def evaluate():
        with dg.build_sensor_context(resources=resources) as context:
            return price_drift_sensor(context)

    assert isinstance(evaluate(), dg.SkipReason)  # nothing promoted yet
    returns = features["log_return_1"].drop_nulls().to_numpy()
    version = store.save(MODEL_NAME, {"model.json": b"{}"},
                         extra={"drift_reference": reference_histogram(returns).to_dict()})
    store.fs.pipe_file(f"{store.root}/{MODEL_NAME}/current", version.encode())
    wh.upsert(OHLCV_FEATURES, features)
    calm = evaluate()
    assert isinstance(calm, dg.SkipReason) and "no drift" in calm.skip_message

    shifted = reference_histogram(returns / 4)  # training returns were four times calmer
    drifted = store.save(MODEL_NAME, {"model.json": b"{}"}, extra={"drift_reference": shifted.to_dict()})
    store.fs.pipe_file(f"{store.root}/{MODEL_NAME}/current", drifted.encode())
    request = evaluate()
    assert isinstance(request, dg.RunRequest) and drifted in request.run_key
    assert float(request.tags["price/psi"]) > 0.2
    assert np.isfinite(float(request.tags["price/psi"]))
    wh.dispose()
