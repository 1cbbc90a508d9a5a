"""The ML API: forecasts from the promoted model or the baseline, scoring a sent series, the model list,
hot reload of a new version and refusal of a corrupted one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ops.price.artifacts import to_files
from ops.price.dataset import build_supervised, required_bars
from ops.price.ensemble import fit_ensemble
from ops.price.names import MODEL_NAME
from resources.model_store import ModelStore
from resources.tables import OHLCV_FEATURES
from resources.tokens import TokenStore
from serving.routers.ml import _load, _validate
from serving.served_models import ServedModel
from tests.price.conftest import TINY, synthetic_bars

HORIZONS = (1, 3)


@pytest.fixture(scope="module")
def tiny_model(synthetic_features):
    model, _ = fit_ensemble(build_supervised(synthetic_features, HORIZONS, TINY.window), TINY, threads=1)
    return model


def save(store: ModelStore, model, promote: bool = True, **metrics) -> str:
    version = store.save(MODEL_NAME, to_files(model), metrics={"mae_ratio": 1.01, **metrics},
                         extra={"interval": "1h", "horizons": list(HORIZONS)})
    if promote:
        store.promote(MODEL_NAME, version)
    return version


@pytest.fixture
def store(settings) -> ModelStore:
    return ModelStore(settings.resolved_model_store_url)


@pytest.fixture
def client(settings, warehouse, synthetic_features):
    from serving.app import create_app

    warehouse.upsert(OHLCV_FEATURES, synthetic_features)
    app = create_app(settings.model_copy(update={"rate_limit_default": "100000/minute"}), warehouse)
    with TestClient(app) as test_client:
        token = TokenStore(warehouse).create("price-tests", "read").token
        test_client.headers.update({"Authorization": f"Bearer {token}"})
        # Re-read `current` on every request (the default waits 10 s between looks).
        app.state.models[MODEL_NAME] = ServedModel(app.state.model_store, MODEL_NAME, _load, _validate,
                                                   check_seconds=0)
        yield test_client


def test_forecast_from_the_promoted_model(client, store, tiny_model, synthetic_features):
    version = save(store, tiny_model)
    answer = client.get("/api/v1/ml/predict/btc-usd", params={"horizon": 3})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model"] == {"name": MODEL_NAME, "version": version, "baseline": False, "note": None}
    last = synthetic_features.filter(symbol="BTC-USD")["ts"].max()
    assert body["as_of"].startswith(last.strftime("%Y-%m-%dT%H:%M:%S")) and body["horizon"] == 3
    band = body["prediction_interval"]
    assert band["lower"] < body["forecast"] < band["upper"] and band["level"] == 0.8

    assert client.get("/api/v1/ml/predict/BTC-USD", params={"horizon": 2}).status_code == 422
    missing = client.get("/api/v1/ml/predict/DOGE-USD")
    assert missing.status_code == 404 and "DOGE-USD" in missing.json()["detail"]


def test_without_a_promoted_model_the_baseline_answers_and_says_so(client):
    body = client.get("/api/v1/ml/predict/ETH-USD").json()
    assert body["model"]["baseline"] and body["model"]["name"] == "persistence"
    assert body["log_return"] == 0 and body["forecast"] == body["close"]
    assert body["prediction_interval"]["lower"] < body["close"] < body["prediction_interval"]["upper"]


def test_the_baseline_says_why_the_newest_version_was_not_promoted(client, store, tiny_model):
    reason = "its walk-forward edge over persistence at horizon 1 is not significant: MAE ratio 1.0024"
    store.save(MODEL_NAME, to_files(tiny_model), metrics={"mae_ratio": 1.0024},
               extra={"interval": "1h", "horizons": list(HORIZONS), "promotion": {"promote": False, "reason": reason}})
    body = client.get("/api/v1/ml/predict/ETH-USD").json()
    assert body["model"]["baseline"] and body["model"]["note"] == f"no promoted price_model: {reason}"


def series(n: int) -> list[dict]:
    bars = synthetic_bars(("SOL-USD",), days=6).filter(interval="1h").tail(n)
    return [{"ts": r["ts"].isoformat(), **{k: r[k] for k in ("open", "high", "low", "close", "volume")}}
            for r in bars.iter_rows(named=True)]


def test_scoring_a_sent_series_validates_it(client, store, tiny_model):
    version = save(store, tiny_model)
    ok = client.post("/api/v1/ml/predict", json={"symbol": "sol-usd", "horizon": 1, "bars": series(80)})
    assert ok.status_code == 200, ok.text
    assert ok.json()["model"]["version"] == version and ok.json()["symbol"] == "SOL-USD"

    short = client.post("/api/v1/ml/predict", json={"bars": series(required_bars(TINY.window) - 1)})
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "bars"]
    assert "at least 49 items" in short.json()["detail"][0]["msg"]  # the schema's minItems, whatever the model
    broken = series(80)
    broken[10]["low"] = broken[10]["high"] * 2
    bad = client.post("/api/v1/ml/predict", json={"bars": broken})
    assert bad.status_code == 422 and "bar 10" in bad.json()["detail"][0]["msg"]
    shuffled = series(80)
    shuffled[5], shuffled[6] = shuffled[6], shuffled[5]
    assert client.post("/api/v1/ml/predict", json={"bars": shuffled}).status_code == 422
    negative = series(80)
    negative[0]["close"] = -1
    assert client.post("/api/v1/ml/predict", json={"bars": negative}).status_code == 422
    assert client.post("/api/v1/ml/predict", json={"horizon": 5, "bars": series(80)}).status_code == 422


def forget_recipes(client) -> None:
    """The fast path replays a learned answer for up to 2 s (as long as table versions are trusted);
    the test does not wait that long."""
    client.app.state.fast_path.clear()


def test_a_new_promotion_is_served_without_restart_and_a_corrupt_one_is_refused(client, store, tiny_model):
    v1 = save(store, tiny_model)
    assert client.get("/api/v1/ml/predict/BTC-USD").json()["model"]["version"] == v1
    v2 = save(store, tiny_model, mae_ratio=1.02)
    forget_recipes(client)
    assert client.get("/api/v1/ml/predict/BTC-USD").json()["model"]["version"] == v2

    v3 = save(store, tiny_model, promote=False)
    store.fs.pipe_file(f"{store.root}/{MODEL_NAME}/{v3}/sklearn.pkl", b"not a model")  # bits rot on disk
    store.fs.pipe_file(f"{store.root}/{MODEL_NAME}/current", v3.encode())  # pointer moved anyway
    forget_recipes(client)
    answer = client.get("/api/v1/ml/predict/BTC-USD").json()
    assert answer["model"]["version"] == v2

    listing = client.get("/api/v1/ml/models").json()
    assert listing["current"] == v3 and listing["serving"]["version"] == v2
    assert "checksum" in listing["serving"]["last_error"]
    assert [v["version"] for v in listing["versions"]] == [v3, v2, v1]
    assert [v["current"] for v in listing["versions"]] == [True, False, False]
    assert listing["versions"][1]["metrics"]["mae_ratio"] == 1.02


def test_readiness_reports_the_model_freshness_without_failing_on_it(client, store, tiny_model):
    import anyio

    monitor = client.app.state.health_monitor
    status = anyio.run(monitor.run_once)[f"model:{MODEL_NAME}"]
    assert status.last_error == "Missing"
    save(store, tiny_model)
    assert anyio.run(monitor.run_once)[f"model:{MODEL_NAME}"].last_error is None
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200 and f"model:{MODEL_NAME}" in ready.json()["monitor"]
