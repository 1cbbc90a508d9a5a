"""Proof of the response cache behind the real app, in process memory and in Redis.

- the same request twice is a miss, then a hit with the same body (X-Cache and the cache counters);
- a new materialization of a table is served fresh at once (version memo set to 0), never the old
  entry, and tables that did not change keep their entries;
- an answer cached per client (`cached_read(..., per_client=True)`) is never served to another client.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from fastapi import FastAPI, Request

from ops.market.schema import OHLCV_SCHEMA, conform
from resources.tables import OHLCV
from serving import cached_reads
from serving.app import GATEWAY
from serving.cached_reads import cached_read
from tests.serving.conftest import T0, bars
from tests.serving.proof.conftest import auth, issue, running

OHLCV_URL = "/api/v1/data/ohlcv/BTC-USD"
SUMMARY_URL = "/api/v1/data/summary/BTC-USD"


@pytest.fixture(params=["memory", "redis"])
def cache_settings(request) -> dict[str, str]:
    if request.param == "memory":
        return {"CACHE_URL": "mem://"}
    return {
        "CACHE_URL": request.getfixturevalue("redis_url"),
        "SERVICE_NAME": request.getfixturevalue("service_name"),
    }


@pytest.fixture
def warehouse_url(tmp_path) -> str:
    """The cache is under test, not the backend: SQLite only."""
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


def _counts(app: FastAPI) -> tuple[int, int]:
    return app.state.cache.hits, app.state.cache.misses


def test_same_request_twice_is_a_miss_then_a_hit(make_app, seeded, cache_settings) -> None:
    app = make_app(**cache_settings)
    reader, other = auth(issue(seeded, "reader")), auth(issue(seeded, "other-reader"))
    with running(app) as client:
        assert app.state.cache.backend == (
            "redis" if cache_settings["CACHE_URL"].startswith("redis") else "memory"
        )
        hits, misses = _counts(app)
        first = client.get(OHLCV_URL, params={"limit": 7}, headers=reader)
        assert (first.status_code, first.headers["X-Cache"]) == (200, "miss")
        assert _counts(app) == (hits, misses + 1)
        second = client.get(OHLCV_URL, params={"limit": 7}, headers=reader)
        assert (second.status_code, second.headers["X-Cache"]) == (200, "hit")
        assert second.json() == first.json()
        assert _counts(app) == (hits + 1, misses + 1)
        # Anything that changes the answer is in the key; the case of the symbol is not.
        assert client.get(OHLCV_URL, params={"limit": 8}, headers=reader).headers["X-Cache"] == "miss"
        assert (
            client.get(OHLCV_URL, params={"limit": 7, "offset": 1}, headers=reader).headers["X-Cache"]
            == "miss"
        )
        assert (
            client.get(OHLCV_URL, params={"limit": 7, "interval": "1d"}, headers=reader).headers["X-Cache"]
            == "miss"
        )
        assert client.get(SUMMARY_URL, params={"limit": 7}, headers=reader).headers["X-Cache"] == "miss"
        lower = client.get(OHLCV_URL.lower(), params={"limit": 7}, headers=reader)
        assert (lower.headers["X-Cache"], lower.json()) == ("hit", first.json())
        # Market data is the same for every reader: shared entries.
        shared = client.get(OHLCV_URL, params={"limit": 7}, headers=other)
        assert (shared.headers["X-Cache"], shared.json()) == ("hit", first.json())
        assert _counts(app) == (hits + 3, misses + 5)


def _bar_with_close(close: float) -> pl.DataFrame:
    """The first BTC-USD hourly bar (T0) rewritten with another close (a new materialization)."""
    bar = bars("BTC-USD", "1h", 1).to_dicts()[0]
    bar.update(close=close, high=max(bar["high"], close), low=min(bar["low"], close))
    return conform(pl.DataFrame([bar], schema=OHLCV_SCHEMA), OHLCV_SCHEMA)


def test_a_new_materialization_is_served_fresh(make_app, seeded, cache_settings, monkeypatch) -> None:
    monkeypatch.setattr(cached_reads, "VERSION_MEMO_SECONDS", 0)
    app = make_app(**cache_settings)
    reader = auth(issue(seeded, "reader"))
    params = {"limit": 1, "end": (T0 + timedelta(hours=1)).isoformat()}
    with running(app) as client:
        first = client.get(OHLCV_URL, params=params, headers=reader)
        assert first.headers["X-Cache"] == "miss"
        assert first.json()["items"][0]["close"] == 100.0
        assert client.get(OHLCV_URL, params=params, headers=reader).headers["X-Cache"] == "hit"
        summary = client.get(SUMMARY_URL, headers=reader)
        assert summary.headers["X-Cache"] == "miss"

        for close in (555.0, 556.5, 100.0):  # back to the first value too: still a new version
            seeded.upsert(OHLCV, _bar_with_close(close))
            fresh = client.get(OHLCV_URL, params=params, headers=reader)
            assert fresh.headers["X-Cache"] == "miss", close
            assert fresh.json()["items"][0]["close"] == close
            again = client.get(OHLCV_URL, params=params, headers=reader)
            assert (again.headers["X-Cache"], again.json()["items"][0]["close"]) == ("hit", close)
            # The summary table was not written: its entry stays valid.
            kept = client.get(SUMMARY_URL, headers=reader)
            assert (kept.headers["X-Cache"], kept.json()) == ("hit", summary.json())


# -- answers that depend on who asks ---------------------------------------------------------------
def _add_identity_routes(app: FastAPI, loads: list[str]) -> None:
    """Two routes behind the gateway answering the caller's client id: cached per client, and not."""

    def route(per_client: bool):
        async def endpoint(request: Request) -> Any:
            client_id = request.state.principal.client_id

            def load() -> dict[str, str]:
                loads.append(client_id)
                return {"client_id": client_id}

            return await cached_read(
                request, "data", [OHLCV.name], {"q": "identity"}, load, per_client=per_client
            )

        return endpoint

    app.add_api_route("/api/v1/proof/mine", route(True), methods=["GET"], dependencies=GATEWAY)
    app.add_api_route("/api/v1/proof/shared", route(False), methods=["GET"], dependencies=GATEWAY)


#: Client ids that differ only in case or in characters the cache key must escape.
CLIENTS = ["alice", "bob", "ALICE", "team:alice", "team%3Aalice", "team/alice", "alice:-"]


def test_a_per_client_answer_is_never_served_to_another_client(make_app, seeded, cache_settings) -> None:
    app = make_app(**cache_settings)
    loads: list[str] = []
    _add_identity_routes(app, loads)
    headers = {client_id: auth(issue(seeded, client_id)) for client_id in CLIENTS}
    with running(app) as client:
        for round_ in range(3):
            for client_id in CLIENTS:
                response = client.get("/api/v1/proof/mine", headers=headers[client_id])
                assert response.status_code == 200, response.text
                assert response.json() == {"client_id": client_id}, (round_, client_id)
                assert response.headers["X-Cache"] == ("miss" if round_ == 0 else "hit"), (round_, client_id)
        assert loads == CLIENTS  # one load per client, each served back to its own client only

        # Control: without per_client, the first caller's answer is everyone's (so the test above
        # would have seen a leak).
        loads.clear()
        answers = {
            client_id: client.get("/api/v1/proof/shared", headers=headers[client_id]).json()
            for client_id in CLIENTS
        }
        assert loads == [CLIENTS[0]]
        assert all(answer == {"client_id": CLIENTS[0]} for answer in answers.values())
