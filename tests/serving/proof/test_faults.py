"""Proof of the gateway under real faults: Redis killed under load, the warehouse cut off behind a
TCP proxy and given back, and request bodies over the size limit.

Nothing here waits for a fixed time: outages are made and ended by the test, and recovery is
polled with a bounded loop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from resources.warehouse import Warehouse
from serving import cached_reads
from serving.app import GATEWAY, create_app
from tests.serving.proof.conftest import (
    UvicornServer,
    app_routes,
    auth,
    issue,
    poll,
    proof_settings,
    running,
    seed,
)

#: Several cache keys over three tables: the load mixes hits and misses.
KEYS = [
    "/api/v1/data/ohlcv/BTC-USD?limit=1",
    "/api/v1/data/ohlcv/BTC-USD?limit=2",
    "/api/v1/data/ohlcv/ETH-USD?limit=3",
    "/api/v1/data/ohlcv/BTC-USD?interval=1d",
    "/api/v1/data/summary/BTC-USD",
    "/api/v1/data/features/BTC-USD?limit=4",
    "/api/v1/data/features/ETH-USD?order=desc",
    "/api/v1/data/symbols",
]
READY = "/api/health/ready"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


# -- Redis killed mid-load -------------------------------------------------------------------------
def test_redis_killed_mid_load_never_gives_a_5xx(tmp_path: Path, sqlite_url: str, disposable_redis) -> None:
    warehouse = Warehouse(sqlite_url)
    try:
        seed(warehouse)
        token = auth(issue(warehouse, "loader"))
        settings = proof_settings(tmp_path / "home", sqlite_url, CACHE_URL=disposable_redis.url)
        app = create_app(settings=settings, warehouse=warehouse)
        with running(app, raise_server_exceptions=False) as client:
            assert app.state.cache.backend == app.state.rate_limiter.backend == "redis"
            assert client.get(READY).json()["checks"]["cache"] == "ok"

            total, kill_after = 200, 100
            done = 0
            done_lock = threading.Lock()
            halfway = threading.Event()
            paths = cycle([*KEYS, READY])  # the probe is hit throughout the outage too

            def one(path: str) -> tuple[str, int, dict[str, Any] | None, str]:
                nonlocal done
                response = client.get(path, headers=token)
                with done_lock:
                    done += 1
                    if done == kill_after:
                        halfway.set()
                body = (
                    response.json()
                    if response.headers.get("content-type", "").startswith("application/json")
                    else None
                )
                return path, response.status_code, body, response.headers.get("X-Cache", "")

            with ThreadPoolExecutor(max_workers=8) as pool:
                futures = [pool.submit(one, next(paths)) for _ in range(total)]
                assert halfway.wait(timeout=60), "the load did not get halfway"
                disposable_redis.kill()  # SIGKILL while requests are in flight
                results = [future.result(timeout=60) for future in futures]

            server_errors = [(path, status) for path, status, _, _ in results if status >= 500]
            assert not server_errors, server_errors
            assert all(status == 200 for _, status, _, _ in results), [r[:2] for r in results if r[1] != 200]
            cache_states = {x_cache for path, _, _, x_cache in results if path != READY}
            assert {"hit", "miss"} <= cache_states, cache_states
            # Both Redis users gave up on it for process memory: the limiter at once (every request
            # counts), the cache at its first read after the kill (the fast path's recipes may keep
            # answering hot keys from the entries they read before; a new key is read for sure).
            assert app.state.rate_limiter.backend == "memory" and app.state.rate_limiter.fallbacks == 1
            fresh = client.get("/api/v1/data/ohlcv/ETH-USD?limit=5&offset=1", headers=token)
            assert (fresh.status_code, fresh.headers["X-Cache"]) == (200, "miss"), fresh.text
            assert app.state.cache.backend == "memory" and app.state.cache.fallbacks == 1

            ready = client.get(READY)
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready"
            assert ready.json()["checks"]["cache"].startswith("degraded"), ready.json()

            # Redis back on the same port: requests still answer (the cache returns to Redis later).
            disposable_redis.start()
            for path in [*KEYS, *KEYS]:
                response = client.get(path, headers=token)
                assert response.status_code == 200, (path, response.status_code, response.text)
            # The probe pings Redis itself (a connection from before the kill may need one retry).
            poll(
                lambda: (r := client.get(READY)).status_code == 200 and r.json()["checks"]["cache"] == "ok",
                timeout=10,
                what="readiness reporting the cache ok again",
            )
    finally:
        warehouse.dispose()


# -- warehouse unreachable ---------------------------------------------------------------------------
WARM = "/api/v1/data/ohlcv/BTC-USD?limit=5"
UNSEEN = "/api/v1/data/ohlcv/BTC-USD?limit=6"


def _assert_clean_503(response, proxy_port: int) -> None:
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"]
    text = response.text
    for leak in (
        "Traceback",
        'File "',
        "psycopg2",
        "sqlalchemy",
        "OperationalError",
        str(proxy_port),
        "postgres",
    ):
        assert leak not in text, (leak, text)
    assert int(response.headers["Retry-After"]) >= 1


def test_warehouse_cut_off_then_back(tmp_path: Path, pg_proxy, monkeypatch) -> None:
    proxy, url = pg_proxy
    # Every request re-reads the table versions, so the outage is seen by the version read too.
    monkeypatch.setattr(cached_reads, "VERSION_MEMO_SECONDS", 0)
    warehouse = Warehouse(url)  # through the proxy
    try:
        seed(warehouse)
        token = auth(issue(warehouse, "survivor"))
        unseen_token = auth(issue(warehouse, "first-call-during-the-outage"))
        settings = proof_settings(
            tmp_path / "home",
            url,
            BREAKER_RECOVERY_SECONDS=0.5,
            RETRY_ATTEMPTS=2,
            HEALTH_INTERVAL_SECONDS=0.25,
            HEALTH_TIMEOUT_SECONDS=2,
        )
        app = create_app(settings=settings, warehouse=warehouse)
        with running(app, raise_server_exceptions=False) as client:
            warm = client.get(WARM, headers=token)
            assert (warm.status_code, warm.headers["X-Cache"]) == (200, "miss")
            assert client.get(READY).status_code == 200

            proxy.cut()
            for _ in range(3):  # the outage is seen by the version read, the loader and the breaker
                cached = client.get(WARM, headers=token)
                assert cached.status_code == 200, cached.text
                assert cached.headers["X-Cache"] in ("hit", "stale")
                assert cached.json() == warm.json()
            for _ in range(8):  # enough failures to open the breaker: a refusal is as clean
                _assert_clean_503(client.get(UNSEEN, headers=token), proxy.port)
            # Open, or half-open when recovery_seconds went by since the last failed probe.
            assert app.state.guard.states()["warehouse"] in ("open", "half-open")
            # A token the app never verified cannot be checked now: that is an outage (503), not
            # bad credentials (401).
            _assert_clean_503(client.get(WARM, headers=unseen_token), proxy.port)
            cached = client.get(WARM, headers=token)
            assert (cached.status_code, cached.json()) == (200, warm.json())
            ready = client.get(READY)
            assert ready.status_code == 503, ready.text
            assert ready.json()["status"] == "not_ready"
            assert ready.json()["checks"]["warehouse"] != "ok"

            proxy.restore()
            # No restart, no reset: the breaker half-opens, one probe succeeds, and it closes.
            recovered = poll(
                lambda: (r := client.get(UNSEEN, headers=token)).status_code == 200 and r,
                timeout=20,
                what="the never-seen request answering 200",
            )
            assert recovered.json()["limit"] == 6 and recovered.json()["count"] == 6
            assert app.state.guard.states()["warehouse"] == "closed"
            poll(lambda: client.get(READY).status_code == 200, timeout=20, what="readiness back to 200")
            again = client.get(WARM, headers=token)
            assert (again.status_code, again.json()) == (200, warm.json())
    finally:
        warehouse.dispose()


# -- request bodies over the limit --------------------------------------------------------------------
LIMIT = 1024


def _add_body_route(app: FastAPI) -> None:
    """A route that reads its body, behind the gateway (the product has none yet)."""

    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_api_route("/api/v1/proof/echo", echo, methods=["POST"], dependencies=GATEWAY)


def _assert_413(response) -> None:
    assert response.status_code == 413, (response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"detail": f"request body larger than {LIMIT} bytes"}


@pytest.fixture
def body_app(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[FastAPI, Warehouse, dict[str, str]]]:
    warehouse = Warehouse(sqlite_url)
    try:
        seed(warehouse)
        token = auth(issue(warehouse, "poster"))
        app = create_app(
            settings=proof_settings(tmp_path / "home", sqlite_url, MAX_BODY_BYTES=LIMIT), warehouse=warehouse
        )
        _add_body_route(app)
        yield app, warehouse, token
    finally:
        warehouse.dispose()


def test_declared_body_over_the_limit_is_413_on_every_route(body_app) -> None:
    app, _, token = body_app
    routes = app_routes(app)
    with running(app, raise_server_exceptions=False) as client:
        under = client.post("/api/v1/proof/echo", content=b"x" * LIMIT, headers=token)
        assert (under.status_code, under.json()) == (200, {"received": LIMIT})
        for route in routes:
            for method in dict.fromkeys(["POST", route.method]):
                for headers in ({}, token):
                    _assert_413(
                        client.request(method, route.path, content=b"x" * (LIMIT + 1), headers=headers)
                    )
        _assert_413(client.post("/no/such/route", content=b"x" * (LIMIT + 1)))


def _chunks(total: int, size: int = 256) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b"y" * min(size, total - sent)
        sent += len(chunk)
        yield chunk


def test_chunked_body_over_the_limit_is_413_on_a_real_server(body_app) -> None:
    app, _, token = body_app
    with UvicornServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        fits = client.post("/api/v1/proof/echo", content=_chunks(LIMIT), headers=token)
        assert fits.request.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in fits.request.headers
        assert (fits.status_code, fits.json()) == (200, {"received": LIMIT})
        too_big = client.post("/api/v1/proof/echo", content=_chunks(4 * LIMIT), headers=token)
        assert "content-length" not in too_big.request.headers
        _assert_413(too_big)


def test_chunked_body_over_the_limit_is_413_on_every_route(body_app) -> None:
    app, _, token = body_app
    answers = {}
    with running(app, raise_server_exceptions=False) as client:
        for route in app_routes(app):
            response = client.post(route.path, content=_chunks(4 * LIMIT), headers=token)
            answers[str(route)] = response.status_code
    assert set(answers.values()) == {413}, answers
