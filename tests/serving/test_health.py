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


# --- a SQLite warehouse whose file is moved away, moved back, replaced --------------------------------


def _symbols_table(warehouse: Warehouse, symbol: str) -> None:
    from resources.tables import OHLCV
    from tests.serving.conftest import bars

    warehouse.upsert(OHLCV, bars(symbol, "1h", 3))


@pytest.fixture
def sqlite_file_client(tmp_path):
    """(client, warehouse, path): an app over a real SQLite file in tmp_path."""
    path = tmp_path / "warehouse.sqlite"
    url = f"sqlite:///{path}"
    warehouse = Warehouse(url)
    _symbols_table(warehouse, "BTC-USD")
    settings = Settings(SEXTANT_HOME=tmp_path / "home", WAREHOUSE_URL=url)
    with TestClient(create_app(settings=settings, warehouse=warehouse)) as client:
        yield client, warehouse, path
    warehouse.dispose()


def test_ready_follows_the_sqlite_file_moved_away_and_back(sqlite_file_client, tmp_path):
    client, warehouse, path = sqlite_file_client
    assert client.get("/api/health/ready").status_code == 200
    assert path.exists() and warehouse.sqlite_path == str(path)

    moved = tmp_path / "elsewhere.sqlite"
    path.rename(moved)  # the pooled connections still read the moved file
    response = client.get("/api/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["warehouse"].startswith("WarehouseFileMissing: ")
    assert str(path) in body["checks"]["warehouse"]
    assert not path.exists()  # the probe did not create an empty database in its place
    assert client.get("/api/health/ready").status_code == 503  # still gone: still not ready

    moved.rename(path)  # the same file (device and inode) is back
    response = client.get("/api/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["warehouse"] == "ok"
    assert warehouse.distinct("ohlcv", "symbol") == ["BTC-USD"]


def test_ready_reopens_the_pool_on_a_different_file_at_the_path(sqlite_file_client, tmp_path):
    client, warehouse, path = sqlite_file_client
    assert client.get("/api/health/ready").status_code == 200
    assert warehouse.distinct("ohlcv", "symbol") == ["BTC-USD"]  # a pooled connection on the file

    other_path = tmp_path / "other.sqlite"
    other = Warehouse(f"sqlite:///{other_path}")
    _symbols_table(other, "ETH-USD")
    other.dispose()  # checkpointed: the whole database is in the one file
    other_path.replace(path)  # another file (another inode) now at the path

    response = client.get("/api/health/ready")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["warehouse"] == "ok"
    # The pool was disposed: connections from now on read the file that is there now.
    assert warehouse.distinct("ohlcv", "symbol") == ["ETH-USD"]
    assert client.get("/api/health/ready").status_code == 200


def test_a_sqlite_file_not_created_yet_is_created_by_the_first_ping(tmp_path):
    """Nothing opened yet is no identity to lose: the first connection creates the file, as before."""
    path = tmp_path / "fresh" / "warehouse.sqlite"
    warehouse = Warehouse(f"sqlite:///{path}")
    try:
        warehouse.ping()
        assert path.exists()
        path.unlink()
        with pytest.raises(ConnectionError, match="is gone"):
            warehouse.ping()
        warehouse.dispose()  # a deliberate reopen forgets the old file
        warehouse.ping()
        assert path.exists()
    finally:
        warehouse.dispose()


def test_non_file_warehouses_have_no_file_identity():
    assert Warehouse("sqlite://").sqlite_path is None
    assert Warehouse(CLOSED_PORT_URL).sqlite_path is None
