"""The operations dashboard: JSON, the HTML page, Dagster runs, and the page in a real browser."""

from __future__ import annotations

import asyncio
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from resources.model_store import ModelStore
from resources.settings import Settings
from resources.tables import DATA_QUALITY, OHLCV
from resources.warehouse import Warehouse
from serving.routers.dashboard import RUNS_QUERY, recent_runs, render_html
from tests.services import free_port
from tests.serving.conftest import bars
from tests.serving.observability.conftest import MODEL_METRICS, observed_app

CHROMIUM = "/usr/bin/chromium"
RUN_ID = "5f1c2a9e-7b3d-4e21-9c8a-0d6e4b2f1a77"
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


# -- seeding --------------------------------------------------------------------------------------
def seed_warehouse(warehouse: Warehouse) -> None:
    warehouse.upsert(OHLCV, bars("BTC-USD", "1h", 6))  # last bar 2024-01-01 05:00
    warehouse.upsert(OHLCV, bars("ETH-USD", "1d", 3))  # last bar 2024-01-03 00:00
    warehouse.upsert(
        DATA_QUALITY,
        pl.DataFrame(
            {
                "asset": ["ohlcv"],
                "partition": ["2024-01-01|BTC-USD"],
                "check_name": ["bars_suite"],
                "success": [True],
                "evaluated": [200],
                "passed": [195],
                "pass_rate": [0.975],
                "row_count": [200],
                "measured_at": [T0],
            }
        ),
    )
    warehouse.upsert(
        MODEL_METRICS,
        pl.DataFrame(
            {
                "model": ["price"],
                "metric": ["mae_ratio"],
                "value": [0.91],
                "version": ["v7"],
                "measured_at": [T0],
            }
        ),
    )


def model_store(root: Path) -> tuple[ModelStore, str]:
    store = ModelStore(str(root))
    version = store.save("price_forecaster", {"model.bin": b"weights"}, metrics={"mae_ratio": 0.91})
    store.promote("price_forecaster", version)
    store.save("unpromoted", {"model.bin": b"x"})
    return store, version


class FakeGuard:
    def __init__(self, states):
        self._states = states

    def states(self):
        if isinstance(self._states, Exception):
            raise self._states
        return dict(self._states)


def dress(app, store: ModelStore | None = None, guard=None, cache_counts=(3, 1)) -> None:
    """Put the optional components on a started app (its lifespan set its own first)."""
    if store is not None:
        app.state.model_store = store
    app.state.guard = (
        guard if guard is not None else FakeGuard({"warehouse": "closed", "model_store": "open"})
    )
    cache = getattr(app.state, "cache", None)
    if cache is None:
        app.state.cache = SimpleNamespace(hits=cache_counts[0], misses=cache_counts[1])
    else:  # the app's own cache: only its counters change, so it still closes at shutdown
        cache.hits, cache.misses = cache_counts


# -- a fake Dagster webserver ---------------------------------------------------------------------
def fake_dagster(mode: str = "ok", seen: list | None = None) -> Starlette:
    async def graphql(request: Request):
        body = await request.json()
        if seen is not None:
            seen.append(body)
        if mode == "slow":
            await asyncio.sleep(3)
        if mode == "error":
            return PlainTextResponse("boom", status_code=500)
        if mode == "garbage":
            return JSONResponse({"data": {"runsOrError": {"__typename": "PythonError", "message": "no"}}})
        return JSONResponse(
            {
                "data": {
                    "runsOrError": {
                        "results": [
                            {
                                "runId": RUN_ID,
                                "jobName": "market_hourly_job",
                                "status": "SUCCESS",
                                "startTime": T0.timestamp(),
                                "endTime": T0.timestamp() + 42.5,
                            },
                            {
                                "runId": "0a1b2c3d-0000-4000-8000-000000000000",
                                "jobName": "__ASSET_JOB",
                                "status": "STARTED",
                                "startTime": T0.timestamp() + 100,
                                "endTime": None,
                            },
                        ]
                    }
                }
            }
        )

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


def dagster_down(settings: Settings) -> Settings:
    """Settings whose Dagster URL names a port nothing listens on."""
    return settings.model_copy(update={"dagster_graphql_url": f"http://127.0.0.1:{free_port()}/graphql"})


# -- JSON -----------------------------------------------------------------------------------------
def test_dashboard_json_shape(make_observed_client, settings, warehouse, tmp_path):
    seed_warehouse(warehouse)
    client = make_observed_client(settings=dagster_down(settings))
    store, version = model_store(tmp_path / "models")
    dress(client.app, store)
    client.get("/api/health/live")

    response = client.get("/api/dashboard")  # Dagster's GraphQL is down: the page still answers
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    data = response.json()
    assert set(data) >= {
        "service", "version", "generated_at", "services", "models", "quality",
        "freshness", "cache", "breakers", "runs", "unavailable",
    }  # fmt: skip
    assert data["service"] == settings.service_name
    assert data["unavailable"] == {}

    services = {s["name"]: s for s in data["services"]}
    assert services["data"]["configured"] and services["data"]["mounted"] and services["data"]["routes"] == 4
    for domain in ("ml", "fraud", "nlp", "chain"):
        assert services[domain]["configured"] and services[domain]["mounted"] and services[domain]["routes"] >= 1
    assert services["health"]["mounted"] and not services["health"]["configured"]
    assert services["health"]["requests"] >= 1
    assert services["dashboard"]["mounted"]

    models = {m["name"]: m for m in data["models"]}
    assert models["price_forecaster"]["version"] == version
    assert models["price_forecaster"]["metrics"] == {"mae_ratio": 0.91}
    assert models["unpromoted"]["version"] is None

    assert data["quality"]["validation"] == [
        {
            "asset": "ohlcv",
            "check": "bars_suite",
            "pass_rate": 0.975,
            "measured_at": "2024-01-01T00:00:00+00:00",
        }
    ]
    assert data["quality"]["model_metrics"] == [
        {
            "model": "price",
            "metric": "mae_ratio",
            "value": 0.91,
            "version": "v7",
            "measured_at": "2024-01-01T00:00:00+00:00",
        }
    ]

    fresh = data["freshness"]
    tables = {t["table"]: t for t in fresh["tables"]}
    assert {"ohlcv", "data_quality_metrics", "model_metrics"} <= set(tables)
    assert datetime.fromisoformat(tables["ohlcv"]["last_write"]) > T0
    assert tables["ohlcv"]["age_seconds"] >= 0
    assert fresh["ohlcv"]["latest_ts"] == "2024-01-03T00:00:00+00:00"
    assert {(s["symbol"], s["interval"], s["latest_ts"]) for s in fresh["ohlcv"]["series"]} == {
        ("BTC-USD", "1h", "2024-01-01T05:00:00+00:00"),
        ("ETH-USD", "1d", "2024-01-03T00:00:00+00:00"),
    }

    assert data["cache"] == {"source": "cache", "hits": 3, "misses": 1, "hit_rate": 0.75}
    assert data["breakers"] == [
        {"dependency": "model_store", "state": "open"},
        {"dependency": "warehouse", "state": "closed"},
    ]
    assert data["runs"] == {"reachable": False}


def test_dashboard_without_optional_components(settings):
    """An app with nothing but settings (no warehouse, cache, guard or model store): empty sections."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from serving.observability.install import install_observability
    from serving.observability.metrics import Metrics
    from serving.routers import dashboard

    app = FastAPI()
    app.state.settings = settings.model_copy(
        update={"serving_domains": ["data"], "dagster_graphql_url": f"http://127.0.0.1:{free_port()}/graphql"}
    )
    install_observability(app, Metrics(process_metrics=False), "bare")
    app.include_router(dashboard.router)
    with TestClient(app) as client:
        data = client.get("/api/dashboard").json()
        page = client.get("/api/dashboard/html")
    assert data["unavailable"] == {}
    assert data["models"] == []
    assert data["quality"] == {"validation": [], "model_metrics": []}
    assert data["freshness"] == {"tables": [], "ohlcv": None}
    assert data["cache"] == {"source": "metrics", "hits": 0, "misses": 0, "hit_rate": None}
    assert data["breakers"] == []
    assert data["runs"] == {"reachable": False}
    services = {s["name"]: s for s in data["services"]}
    assert services["data"]["configured"] and not services["data"]["mounted"]
    assert services["dashboard"]["mounted"] and services["dashboard"]["routes"] == 2
    assert page.status_code == 200
    assert 'id="runs"' not in page.text and 'id="runs-unreachable"' in page.text
    assert "nothing written to the warehouse yet" in page.text


def test_a_failing_component_is_named_not_fatal(make_observed_client, settings):
    client = make_observed_client(settings=dagster_down(settings))
    dress(client.app, guard=FakeGuard(RuntimeError("guard exploded")), cache_counts=(0, 0))

    class BrokenStore:
        root = "/nowhere"

        class fs:  # stands in for an fsspec filesystem
            @staticmethod
            def ls(path, detail=False):
                raise PermissionError("denied")

    client.app.state.model_store = BrokenStore()
    response = client.get("/api/dashboard")
    assert response.status_code == 200
    data = response.json()
    assert data["unavailable"] == {"breakers": "RuntimeError", "models": "PermissionError"}
    assert data["models"] == [] and data["breakers"] == []
    assert data["cache"] == {"source": "cache", "hits": 0, "misses": 0, "hit_rate": None}
    page = client.get("/api/dashboard/html").text
    assert 'id="unavailable"' in page and "PermissionError" in page and "denied" not in page


# -- Dagster runs ---------------------------------------------------------------------------------
def test_recent_runs_from_the_dagster_graphql_api(make_observed_client, settings, serve):
    seen: list = []
    dagster = serve(fake_dagster("ok", seen))
    client = make_observed_client(
        settings=settings.model_copy(update={"dagster_graphql_url": f"{dagster.url}/graphql"})
    )
    runs = client.get("/api/dashboard").json()["runs"]
    assert seen == [{"query": RUNS_QUERY}]
    assert "runsOrError(limit: 10)" in RUNS_QUERY
    assert runs["reachable"] is True
    assert runs["url"] == dagster.url
    assert runs["runs"][0] == {
        "run_id": RUN_ID,
        "job": "market_hourly_job",
        "status": "SUCCESS",
        "start_time": "2024-01-01T00:00:00+00:00",
        "end_time": "2024-01-01T00:00:42.500000+00:00",
    }
    assert runs["runs"][1]["end_time"] is None and runs["runs"][1]["status"] == "STARTED"

    page = client.get("/api/dashboard/html").text
    assert 'id="runs"' in page and "market_hourly_job" in page
    assert f'href="{dagster.url}/runs/{RUN_ID}"' in page


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_a_dagster_that_answers_badly_or_slowly_is_unreachable(mode, serve):
    dagster = serve(fake_dagster(mode))
    # "slow" answers correctly, but after 3 s: unreachable means the 1 s timeout cut it off.
    assert asyncio.run(recent_runs(f"{dagster.url}/graphql")) == {"reachable": False}


def test_nothing_listening_is_unreachable():
    assert asyncio.run(recent_runs(f"http://127.0.0.1:{free_port()}/graphql")) == {"reachable": False}
    assert asyncio.run(recent_runs("not a url")) == {"reachable": False}


# -- HTML -----------------------------------------------------------------------------------------
def test_html_is_self_contained_and_escapes_everything(make_observed_client, settings):
    client = make_observed_client(settings=dagster_down(settings))
    evil = '<script>alert("x")</script>'
    dress(client.app, guard=FakeGuard({evil: "open", "warehouse": "half-open"}))
    response = client.get("/api/dashboard/html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert evil not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    for section in ("services", "models", "freshness", "quality", "cache", "breakers"):
        assert f'id="{section}"' in page
    assert "<link" not in page and "src=" not in page


def test_render_html_from_plain_data():
    data = {
        "service": "svc & co",
        "version": "1.0",
        "generated_at": T0,
        "services": [
            {"name": "data", "configured": True, "mounted": True, "routes": 4, "requests": 9, "failed": 1}
        ],
        "models": [{"name": "m<1>", "version": "v1", "created_at": "2024", "metrics": {"bleu": 31.5}}],
        "quality": {"validation": [], "model_metrics": []},
        "freshness": {"tables": [], "ohlcv": None},
        "cache": {"source": "cache", "hits": 1, "misses": 3, "hit_rate": 0.25},
        "breakers": [],
        "runs": {"reachable": False},
        "unavailable": {},
    }
    page = render_html(data)
    assert "svc &amp; co dashboard" in page and "m&lt;1&gt;" in page and "bleu=31.5" in page
    assert '<p class="big" id="cache-hit-rate">25.0%</p>' in page
    assert "2024-01-01 00:00:00 UTC" in page


# -- a real browser -------------------------------------------------------------------------------
@pytest.fixture
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        if _under_ci():
            pytest.fail(f"{CHROMIUM} is required under CI (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium; .ci/run installs it)")
    return CHROMIUM


def dump_dom(browser: str, url: str, profile: Path, timeout: float = 60) -> str:
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    env = {**os.environ, "HOME": str(profile)}
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}): {result.stderr[-2000:]}"
    return result.stdout


def test_dashboard_page_in_headless_chromium(chromium, serve, tmp_path):
    """The page served by uvicorn, opened by Chromium: every section and the seeded values are shown."""
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    try:
        seed_warehouse(warehouse)
        dagster = serve(fake_dagster("ok"))
        settings = Settings(
            SEXTANT_HOME=tmp_path / "home",
            WAREHOUSE_URL=warehouse.url,
            DAGSTER_GRAPHQL_URL=f"{dagster.url}/graphql",
            SERVICE_NAME="sextant-browser",
        )
        app = observed_app(settings, warehouse)
        server = serve(app)
        store, version = model_store(tmp_path / "models")
        dress(app, store)

        profile = tmp_path / "chromium-profile"
        profile.mkdir()
        dom = dump_dom(chromium, f"{server.url}/api/dashboard/html", profile)
    finally:
        warehouse.dispose()

    assert "<title>sextant-browser dashboard</title>" in dom
    for section in ("services", "models", "freshness", "quality", "cache", "breakers", "runs"):
        assert f'id="{section}"' in dom, section
    # seeded values, as the browser parsed them
    assert "price_forecaster" in dom and version in dom
    assert "BTC-USD" in dom and "ETH-USD" in dom and "2024-01-03 00:00:00 UTC" in dom
    assert "ohlcv / bars_suite" in dom and "0.975" in dom
    assert "price / mae_ratio" in dom and "0.91" in dom
    assert '<p class="big" id="cache-hit-rate">75.0%</p>' in dom
    assert "model_store" in dom and '<span class="badge bad">open</span>' in dom
    assert "market_hourly_job" in dom and RUN_ID[:8] in dom and '<span class="badge ok">SUCCESS</span>' in dom


def test_a_model_manifest_with_an_undefined_figure_still_answers(make_observed_client, settings, tmp_path):
    """A NaN in a manifest (an undefined ratio) is null on the dashboard, not a 500."""
    store, _version = model_store(tmp_path / "models")
    undefined = store.save("odd_model", {"model.bin": b"w"}, metrics={"ratio": float("nan"), "rows": 3})
    store.promote("odd_model", undefined)
    client = make_observed_client(settings=dagster_down(settings))
    dress(client.app, store)
    response = client.get("/api/dashboard")
    assert response.status_code == 200
    models = {m["name"]: m for m in response.json()["models"]}
    assert models["odd_model"]["metrics"] == {"ratio": None, "rows": 3}
