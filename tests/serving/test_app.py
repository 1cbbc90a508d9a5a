"""The app itself: routes and OpenAPI, domain mounting, lifespan ownership, error bodies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from ops.market.schema import INTERVAL_SECONDS
from resources.tables import OHLCV
from resources.warehouse import Warehouse
from serving import package_version
from serving.app import DOMAIN_ROUTERS, create_app
from serving.schemas import Interval
from tests.serving.conftest import bars, bearer

DATA_ROUTES = {
    "/api/v1/data/symbols",
    "/api/v1/data/ohlcv/{symbol}",
    "/api/v1/data/summary/{symbol}",
    "/api/v1/data/features/{symbol}",
}


def test_openapi_lists_the_routes(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "Sextant API"
    assert spec["info"]["version"] == package_version()
    assert {"/api/health/live", "/api/health/ready"} | DATA_ROUTES <= set(spec["paths"])
    ohlcv = spec["paths"]["/api/v1/data/ohlcv/{symbol}"]["get"]
    params = {p["name"] for p in ohlcv["parameters"]}
    assert {"symbol", "interval", "start", "end", "limit", "offset"} <= params
    assert client.get("/api/docs").status_code == 200


def test_only_the_configured_domains_are_mounted(make_client, settings):
    bare = make_client(settings=settings.model_copy(update={"serving_domains": []}))
    paths = set(bare.get("/api/openapi.json").json()["paths"])
    assert paths == {"/api/health/live", "/api/health/ready", "/api/metrics", "/api/dashboard", "/api/dashboard/html"}
    assert bare.get("/api/v1/data/symbols").status_code == 404
    assert set(DOMAIN_ROUTERS) >= {"data"}


def test_interval_enum_matches_the_market_contract():
    assert {i.value for i in Interval} == set(INTERVAL_SECONDS)


def test_unhandled_errors_are_500_without_details(make_client):
    client = make_client(raise_server_exceptions=False)

    @client.app.get("/api/boom")
    def boom():
        raise RuntimeError("secret connection string postgres://user:pw@host")

    response = client.get("/api/boom")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_the_app_opens_and_disposes_its_own_warehouse(settings, monkeypatch):
    disposed = []
    dispose = Warehouse.dispose

    def spy(self: Warehouse) -> None:
        disposed.append(self.url)
        dispose(self)

    monkeypatch.setattr(Warehouse, "dispose", spy)
    app = create_app(settings=settings)
    with TestClient(app) as client:
        assert isinstance(app.state.warehouse, Warehouse)
        assert app.state.warehouse.url == settings.resolved_warehouse_url
        assert client.get("/api/health/ready").status_code == 200
    assert disposed == [settings.resolved_warehouse_url]
    assert app.state.warehouse is None


def test_an_injected_warehouse_stays_open(settings, warehouse, monkeypatch):
    disposed = []
    monkeypatch.setattr(Warehouse, "dispose", lambda self: disposed.append(self.url))
    with TestClient(create_app(settings=settings, warehouse=warehouse)) as client:
        assert client.get("/api/health/ready").status_code == 200
    assert disposed == []


def test_concurrent_first_requests_all_succeed(settings, warehouse):
    # The first lookup of a table reflects it; concurrent first requests must not see it half-built.
    warehouse.upsert(OHLCV, bars("BTC-USD", "1h", 5))
    fresh = Warehouse(settings.resolved_warehouse_url)  # has not reflected anything yet
    try:
        app = create_app(settings=settings, warehouse=fresh)
        with TestClient(app, headers=bearer(warehouse)) as client, ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: client.get("/api/v1/data/ohlcv/BTC-USD").status_code, range(16))
            )
        assert statuses == [200] * 16
    finally:
        fresh.dispose()
