"""Liveness and readiness, with the warehouse up and with it unreachable."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from resources.settings import Settings
from resources.warehouse import Warehouse
from serving.app import create_app

CLOSED_PORT_URL = "postgresql+psycopg2://postgres@127.0.0.1:1/x"


def test_live(client):
    response = client.get("/api/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready(client):
    response = client.get("/api/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"warehouse": "ok", "cache": "ok"}
    assert body["monitor"]["warehouse"]["healthy"] is True


@pytest.fixture
def unreachable_client(tmp_path):
    warehouse = Warehouse(CLOSED_PORT_URL)
    settings = Settings(SEXTANT_HOME=tmp_path / "home", WAREHOUSE_URL=CLOSED_PORT_URL)
    with TestClient(create_app(settings=settings, warehouse=warehouse)) as client:
        # A well-formed token: checking it needs the database, which does not answer.
        client.headers["Authorization"] = "Bearer sxt_0123456789ab_" + "x" * 43
        yield client
    warehouse.dispose()


def test_ready_is_503_when_the_warehouse_does_not_answer(unreachable_client):
    response = unreachable_client.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["warehouse"] == "OperationalError"
    # Liveness does not depend on the database: the process itself is fine.
    assert unreachable_client.get("/api/health/live").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/data/symbols", "/api/v1/data/ohlcv/BTC-USD"])
def test_data_is_503_not_500_when_the_warehouse_does_not_answer(unreachable_client, path):
    response = unreachable_client.get(path)
    assert response.status_code == 503
    assert response.json() == {"detail": "warehouse unavailable, try again shortly"}
    assert response.headers["retry-after"].isdigit()
