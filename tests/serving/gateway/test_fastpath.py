"""The fast path (`serving.fastpath`) answers repeated cached reads exactly as the slow path would.

Every test runs the real app (`create_app`) over a seeded SQLite warehouse. The slow path's answer
is the reference: the same request with the fast path switched off (`app.state.fast_path.enabled`).
`app.state.fast_path.answered` tells which path answered, so each test also proves the fast path
was (or was not) taken. Behaviour is what is compared, never timings.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.testclient import TestClient

from ops.market.schema import OHLCV_SCHEMA, conform
from resources.tables import OHLCV
from resources.tokens import IssuedToken, TokenStore
from resources.warehouse import Warehouse
from serving import cached_reads
from serving.app import GATEWAY, create_app
from serving.auth import require_scopes
from serving.cached_reads import cached_read
from serving.fastpath import RECIPE_SECONDS, FastPath, normalized_query
from tests.fakes import FakeClock
from tests.serving.conftest import T0, bars
from tests.serving.proof.conftest import auth, issue, proof_settings, seed

OHLCV_URL = "/api/v1/data/ohlcv/BTC-USD"
#: Reads of every data route, with and without parameters.
READS = [
    ("/api/v1/data/symbols", {}),
    (OHLCV_URL, {}),
    (OHLCV_URL, {"limit": "5", "offset": "2", "interval": "1h"}),
    (OHLCV_URL, {"interval": "1d", "start": "2024-01-02", "end": "2024-01-04"}),
    ("/api/v1/data/summary/BTC-USD", {"limit": "2"}),
    ("/api/v1/data/features/BTC-USD", {"order": "desc", "limit": "3"}),
    ("/api/v1/data/ohlcv/eth-usd", {"limit": "4"}),
]
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    """The fast path is above the warehouse: SQLite only."""
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"


@pytest.fixture
def seeded(warehouse: Warehouse) -> Warehouse:
    seed(warehouse)
    return warehouse


@pytest.fixture
def make_app(tmp_path: Path, warehouse_url: str, seeded: Warehouse):
    def make(**overrides: Any) -> FastAPI:
        settings = proof_settings(tmp_path / "home", warehouse_url, SERVING_DOMAINS="data", **overrides)
        return create_app(settings=settings, warehouse=seeded)

    return make


@pytest.fixture
def app(make_app) -> FastAPI:
    return make_app()


@pytest.fixture(params=["memory", "redis"])
def cache_url(request) -> str:
    """Where the cache (and the rate limits) live: process memory, or a Redis of this test alone."""
    if request.param == "memory":
        return "mem://"
    return request.getfixturevalue("disposable_redis").url


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture
def token(seeded: Warehouse) -> IssuedToken:
    return issue(seeded, "alice")


def answered(app: FastAPI) -> int:
    return app.state.fast_path.answered


def get(client: TestClient, url: str, params: dict | None = None, headers: dict | None = None):
    return client.get(url, params=params or None, headers=headers or {})  # {} would drop url's query


def learn(client: TestClient, app: FastAPI, url: str, params: dict, headers: dict) -> None:
    """One slow-path answer that the fast path learns from (it answers the next identical request)."""
    before = len(app.state.fast_path)
    response = get(client, url, params, headers)
    assert response.status_code == 200, response.text
    assert len(app.state.fast_path) == before + 1, "the fast path did not learn the request"


def remaining(response) -> int:
    return int(response.headers["x-ratelimit-remaining"])


# -- the same answer ------------------------------------------------------------------------------
@pytest.mark.parametrize(("url", "params"), READS, ids=[f"{u}?{sorted(p.items())}" for u, p in READS])
def test_fast_answer_is_the_slow_answer(app, client, token, url, params) -> None:
    headers = {**auth(token), "X-Request-ID": "req-fast-1"}
    app.state.fast_path.enabled = False
    assert get(client, url, params, headers).headers["x-cache"] == "miss"
    slow = get(client, url, params, headers)  # a hit, through routing and dependencies
    assert (slow.status_code, slow.headers["x-cache"], answered(app)) == (200, "hit", 0)

    app.state.fast_path.enabled = True
    learn(client, app, url, params, headers)
    fast = get(client, url, params, headers)
    assert answered(app) == 1
    assert fast.status_code == 200
    assert fast.content == slow.content  # byte for byte
    assert list(fast.headers.keys()) == list(slow.headers.keys())  # same headers, same order
    for name in fast.headers:
        if name != "x-ratelimit-remaining":
            assert fast.headers[name] == slow.headers[name], name
    assert fast.headers["x-request-id"] == "req-fast-1"
    assert remaining(fast) == remaining(slow) - 2  # one request of its budget each (learn + fast)


def test_a_request_id_is_generated_when_none_is_sent(app, client, token) -> None:
    learn(client, app, OHLCV_URL, {}, auth(token))
    ids = {get(client, OHLCV_URL, {}, auth(token)).headers["x-request-id"] for _ in range(3)}
    assert answered(app) == 3
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)


def test_query_order_does_not_matter_but_repeated_values_keep_theirs() -> None:
    assert normalized_query(b"limit=5&interval=1h") == normalized_query(b"interval=1h&limit=5")
    assert normalized_query(b"b=2&a=1&b=1") == b"a=1&b=2&b=1"
    assert normalized_query(b"b=1&a=1&b=2") == b"a=1&b=1&b=2"
    assert normalized_query(b"limit=5") == b"limit=5"


def test_a_reordered_query_is_answered_by_the_fast_path(app, client, token) -> None:
    learn(client, app, f"{OHLCV_URL}?limit=5&interval=1h", {}, auth(token))
    fast = get(client, f"{OHLCV_URL}?interval=1h&limit=5", {}, auth(token))
    assert (fast.headers["x-cache"], answered(app)) == ("hit", 1)
    assert fast.json()["count"] == 5


# -- metrics and logs -----------------------------------------------------------------------------
def _sample(app: FastAPI, name: str, **labels: str) -> float:
    return app.state.metrics.get_sample_value(name, labels) or 0.0


def test_fast_answers_are_counted_and_logged_like_slow_ones(app, client, token, capsys) -> None:
    endpoint = "/api/v1/data/ohlcv/{symbol}"

    def counters() -> tuple[float, ...]:
        return (
            _sample(app, "python_services_requests_total", service="data", endpoint=endpoint),
            _sample(app, "python_services_requests_success_total", service="data"),
            _sample(app, "python_services_cache_hits_total", service="data"),
            _sample(app, "python_services_request_latency_seconds_count", service="data"),
            app.state.cache.hits,
        )

    headers = auth(token)
    learn(client, app, OHLCV_URL, {"limit": "3"}, headers)
    app.state.fast_path.enabled = False
    before = counters()
    capsys.readouterr()
    get(client, OHLCV_URL, {"limit": "3"}, {**headers, "X-Request-ID": "slow-1"})
    slow_delta = [b - a for a, b in zip(before, counters(), strict=True)]
    slow_lines = _access_lines(capsys.readouterr().out)

    app.state.fast_path.enabled = True
    before = counters()
    get(client, OHLCV_URL, {"limit": "3"}, {**headers, "X-Request-ID": "fast-1"})
    fast_delta = [b - a for a, b in zip(before, counters(), strict=True)]
    fast_lines = _access_lines(capsys.readouterr().out)

    assert answered(app) == 1
    assert fast_delta == slow_delta == [1, 1, 1, 1, 1]
    assert len(slow_lines) == len(fast_lines) == 1  # one access line per request
    slow_line, fast_line = slow_lines[0], fast_lines[0]
    assert list(fast_line) == list(slow_line)  # the same keys in the same order
    for key in ("timestamp", "duration_ms", "request_id"):
        slow_line.pop(key), fast_line.pop(key)
    assert fast_line == slow_line
    assert slow_line["user_id"] == "alice" and slow_line["metadata"]["endpoint"] == endpoint


def test_the_direct_access_line_is_the_line_logging_would_write(app, capsys) -> None:
    """The access line's shortcut (render with the JSON handler's own formatter, write as it writes)
    gives the line the logging module gives, key for key, value for value."""
    import logging

    from serving.observability.json_logs import _sole_json_handler, emit_structured

    marked = [h for h in logging.getLogger().handlers if getattr(h, "_sextant_json_handler", False)]
    assert len(marked) == 1  # create_app configured the JSON logging
    direct = logging.getLogger("tests.fastpath.direct")
    generic = logging.getLogger("tests.fastpath.generic")
    for logger in (direct, generic):
        logger.propagate = False
        logger.handlers = [marked[0]]
    generic.addFilter(lambda record: True)  # any filter on the way: the logging module handles it
    try:
        assert _sole_json_handler(direct, logging.INFO) is marked[0]
        assert _sole_json_handler(generic, logging.INFO) is None
        capsys.readouterr()
        for logger in (direct, generic):
            emit_structured(
                logger,
                logging.INFO,
                {
                    "event": "request",
                    "service": "svc",
                    "duration_ms": 1.5,
                    "user_id": "alice",
                    "metadata": {"a": 1},
                },
            )
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        for logger in (direct, generic):
            logger.handlers = []
            logger.filters = []
            logger.propagate = True
    assert len(lines) == 2
    assert list(lines[0]) == list(lines[1])
    assert (
        lines[0].pop("logger") == "tests.fastpath.direct"
        and lines[1].pop("logger") == "tests.fastpath.generic"
    )
    lines[0].pop("timestamp"), lines[1].pop("timestamp")
    assert lines[0] == lines[1]
    assert lines[0]["metadata"] == {"a": 1} and lines[0]["user_id"] == "alice"


def _access_lines(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "serving.access"]


# -- authentication -------------------------------------------------------------------------------
def test_missing_wrong_and_foreign_tokens_get_the_slow_paths_401(app, client, token) -> None:
    learn(client, app, OHLCV_URL, {}, auth(token))
    missing = get(client, OHLCV_URL)
    assert (missing.status_code, missing.headers["www-authenticate"]) == (401, "Bearer")
    wrong_secret = token.token[:-4] + ("AAAA" if not token.token.endswith("AAAA") else "BBBB")
    for bad in (wrong_secret, "sxt_000000000000_" + "x" * 43, "not-a-token"):
        response = get(client, OHLCV_URL, {}, auth(bad))
        assert response.status_code == 401, bad
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    basic = get(client, OHLCV_URL, {}, {"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert (basic.status_code, basic.headers["www-authenticate"]) == (401, "Bearer")
    assert answered(app) == 0


def test_a_route_needing_another_scope_is_403_for_a_read_token(app, seeded) -> None:
    async def endpoint(request: Request) -> Response:
        return await cached_read(request, "data", [OHLCV.name], {"q": "admin"}, lambda: {"secret": 42})

    app.add_api_route(
        "/api/v1/data/admin-only",
        endpoint,
        methods=["GET"],
        dependencies=[*GATEWAY, Depends(require_scopes("admin"))],
    )
    admin, reader = auth(issue(seeded, "ops", "admin")), auth(issue(seeded, "ops", "read"))
    with TestClient(app) as client:
        learn(client, app, "/api/v1/data/admin-only", {}, admin)
        assert get(client, "/api/v1/data/admin-only", {}, admin).json() == {"secret": 42}
        assert answered(app) == 1
        refused = get(client, "/api/v1/data/admin-only", {}, reader)  # same client, weaker token
        assert refused.status_code == 403
        assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
        assert answered(app) == 1


def test_a_token_revoked_in_this_process_stops_at_once(app, client, token) -> None:
    learn(client, app, OHLCV_URL, {}, auth(token))
    assert get(client, OHLCV_URL, {}, auth(token)).status_code == 200
    assert answered(app) == 1
    assert app.state.token_store.revoke(token.token_id)
    response = get(client, OHLCV_URL, {}, auth(token))
    assert response.status_code == 401 and answered(app) == 1


def test_a_token_revoked_elsewhere_stops_within_the_token_memo_bound(app, seeded, token) -> None:
    clock = FakeClock()
    with TestClient(app) as client:
        memo_seconds = 60.0
        app.state.token_store = TokenStore(seeded, cache_ttl=memo_seconds, clock=clock)
        app.state.fast_path.clock = clock  # recipes live RECIPE_SECONDS of the same clock
        learn(client, app, OHLCV_URL, {}, auth(token))
        assert TokenStore(seeded).revoke(token.token_id)  # another process (the CLI) revokes it
        # Within the memo's bound both paths still know the token as valid (the documented bound) ...
        clock.now += RECIPE_SECONDS / 2
        assert get(client, OHLCV_URL, {}, auth(token)).status_code == 200
        assert answered(app) == 1
        clock.now += memo_seconds  # ... and once it expires, the database says revoked: 401
        response = get(client, OHLCV_URL, {}, auth(token))
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert answered(app) == 1


# -- rate limits ----------------------------------------------------------------------------------
def _statuses_and_budget(client: TestClient, headers: dict, n: int) -> list[tuple]:
    out = []
    for _ in range(n):
        response = get(client, OHLCV_URL, {"limit": "2"}, headers)
        out.append(
            (
                response.status_code,
                response.content if response.status_code == 429 else response.headers["x-cache"],
                response.headers["x-ratelimit-limit"],
                response.headers["x-ratelimit-remaining"],
                response.headers.get("retry-after") is not None,
            )
        )
    return out


@pytest.mark.parametrize("fast", [False, True], ids=["slow-path", "fast-path"])
def test_the_rate_limit_counts_and_refuses_as_on_the_slow_path(make_app, seeded, fast: bool) -> None:
    app = make_app(RATE_LIMIT_DEFAULT="5/minute")
    app.state.fast_path.enabled = fast
    alice, bob = auth(issue(seeded, "alice")), auth(issue(seeded, "bob"))
    with TestClient(app) as client:
        seen = _statuses_and_budget(client, alice, 7)
        refused = {"detail": "rate limit exceeded: 5 per 1 minute"}
        assert seen == [
            (200, "miss", "5", "4", False),
            (200, "hit", "5", "3", False),
            (200, "hit", "5", "2", False),
            (200, "hit", "5", "1", False),
            (200, "hit", "5", "0", False),
            (429, json.dumps(refused, separators=(",", ":")).encode(), "5", "0", True),
            (429, json.dumps(refused, separators=(",", ":")).encode(), "5", "0", True),
        ]
        # Each refusal counted once, by the limiter and in the metrics, whichever path took it.
        assert app.state.rate_limiter.rejected == 2
        assert _sample(app, "python_services_rate_limit_rejections_total", service="data") == 2
        # Bob has a budget of his own, on either path.
        assert [status for status, *_ in _statuses_and_budget(client, bob, 2)] == [200, 200]
    assert answered(app) == (5 if fast else 0)  # alice's 2nd to 5th request, bob's 2nd


def test_two_replicas_on_one_redis_share_one_budget_on_the_fast_path(
    make_app, seeded, disposable_redis
) -> None:
    settings = {
        "CACHE_URL": disposable_redis.url,
        "SERVICE_NAME": "replicated",
        "RATE_LIMIT_DEFAULT": "6/minute",
    }
    one, two = make_app(**settings), make_app(**settings)
    headers = auth(issue(seeded, "alice"))
    with TestClient(one) as first, TestClient(two) as second:
        seen = [
            (response.status_code, response.headers["x-ratelimit-remaining"])
            for response in (get(client, OHLCV_URL, {}, headers) for client in [first, second] * 4)
        ]
        assert seen == [
            (200, "5"),
            (200, "4"),
            (200, "3"),
            (200, "2"),
            (200, "1"),
            (200, "0"),
            (429, "0"),
            (429, "0"),
        ]
        assert one.state.rate_limiter.backend == two.state.rate_limiter.backend == "redis"
    assert (answered(one), answered(two)) == (2, 2)  # each replica's 2nd and 3rd requests


def test_a_fast_path_miss_is_counted_once_against_the_budget(app, client, token) -> None:
    headers = auth(token)
    learn(client, app, OHLCV_URL, {}, headers)
    first = get(client, OHLCV_URL, {}, headers)
    assert answered(app) == 1
    client.portal.call(app.state.cache.clear)  # the entry goes away: the next request falls through
    second = get(client, OHLCV_URL, {}, headers)
    assert (second.headers["x-cache"], answered(app)) == ("miss", 1)
    assert remaining(second) == remaining(first) - 1  # the fast path's count was handed over


# -- cache keys -----------------------------------------------------------------------------------
def _add_identity_routes(app: FastAPI, loads: list[str]) -> None:
    """Answers that depend on the caller: cached per client, and derived from the caller's id
    without `per_client` (the fast path keys its recipes by the caller, so neither leaks)."""

    async def mine(request: Request) -> Response:
        client_id = request.state.principal.client_id

        def load() -> dict[str, str]:
            loads.append(client_id)
            return {"client_id": client_id}

        return await cached_read(request, "data", [OHLCV.name], {"q": "mine"}, load, per_client=True)

    async def derived(request: Request) -> Response:
        client_id = request.state.principal.client_id
        return await cached_read(
            request, "data", [OHLCV.name], {"who": client_id}, lambda: {"who": client_id}
        )

    app.add_api_route("/api/v1/data/mine", mine, methods=["GET"], dependencies=GATEWAY)
    app.add_api_route("/api/v1/data/derived", derived, methods=["GET"], dependencies=GATEWAY)


CLIENTS = ["alice", "bob", "ALICE", "team:alice", "team%3Aalice", "alice:-"]


def test_an_answer_that_depends_on_the_client_is_never_served_to_another(make_app, seeded, cache_url) -> None:
    app = make_app(CACHE_URL=cache_url)
    loads: list[str] = []
    _add_identity_routes(app, loads)
    headers = {client_id: auth(issue(seeded, client_id)) for client_id in CLIENTS}
    with TestClient(app) as client:
        for round_ in range(4):
            for client_id in CLIENTS:
                mine = get(client, "/api/v1/data/mine", {}, headers[client_id])
                assert mine.json() == {"client_id": client_id}, (round_, client_id)
                assert mine.headers["x-cache"] == ("miss" if round_ == 0 else "hit")
                derived = get(client, "/api/v1/data/derived", {}, headers[client_id])
                assert derived.json() == {"who": client_id}, (round_, client_id)
        assert loads == CLIENTS
        assert answered(app) == 3 * 2 * len(CLIENTS)  # every round after the first


def _bar_with_close(close: float) -> pl.DataFrame:
    bar = bars("BTC-USD", "1h", 1).to_dicts()[0]
    bar.update(close=close, high=max(bar["high"], close), low=min(bar["low"], close))
    return conform(pl.DataFrame([bar], schema=OHLCV_SCHEMA), OHLCV_SCHEMA)


def test_a_new_materialization_is_never_hidden(make_app, seeded, token, cache_url, monkeypatch) -> None:
    monkeypatch.setattr(cached_reads, "VERSION_MEMO_SECONDS", 0)
    app = make_app(CACHE_URL=cache_url)
    params = {"limit": "1", "end": (T0 + timedelta(hours=1)).isoformat()}
    with TestClient(app) as client:
        learn(client, app, OHLCV_URL, params, auth(token))
        for close in (555.0, 100.0):
            hit = get(client, OHLCV_URL, params, auth(token))
            assert hit.headers["x-cache"] == "hit"
            fast_before = answered(app)
            seeded.upsert(OHLCV, _bar_with_close(close))
            fresh = get(client, OHLCV_URL, params, auth(token))
            assert fresh.headers["x-cache"] == "miss", close
            assert fresh.json()["items"][0]["close"] == close
            assert answered(app) == fast_before  # the new version's key missed: the app loaded it
            again = get(client, OHLCV_URL, params, auth(token))
            assert (again.headers["x-cache"], again.json()["items"][0]["close"]) == ("hit", close)
            assert answered(app) == fast_before + 1


# -- what falls through ---------------------------------------------------------------------------
def test_unknown_and_unlearnable_requests_take_the_slow_path(app, client, token) -> None:
    headers = auth(token)
    learn(client, app, OHLCV_URL, {"limit": "3"}, headers)
    size = len(app.state.fast_path)
    # Another query, another header value, a HEAD, a body: each answered by the app.
    assert get(client, OHLCV_URL, {"limit": "4"}, headers).headers["x-cache"] == "miss"
    assert (
        get(client, OHLCV_URL, {"limit": "3"}, {**headers, "Accept-Language": "fr"}).headers["x-cache"]
        == "hit"
    )
    assert client.head(f"{OHLCV_URL}?limit=3", headers=headers).status_code in (200, 405)
    with_body = client.request("GET", f"{OHLCV_URL}?limit=3", headers=headers, content=b"{}")
    assert with_body.status_code == 200
    assert answered(app) == 0
    # Errors are never learned: 404, 422.
    assert get(client, "/api/v1/data/ohlcv/NOPE-USD", {}, headers).status_code == 404
    assert get(client, OHLCV_URL, {"limit": "0"}, headers).status_code == 422
    assert get(client, OHLCV_URL, {"limit": "0"}, headers).status_code == 422
    assert get(client, "/api/v1/data/ohlcv/NOPE-USD", {}, headers).status_code == 404
    assert len(app.state.fast_path) == size + 2  # limit=4 and the Accept-Language variant
    assert answered(app) == 0


def test_routes_that_shape_their_own_answer_are_not_learned(app, seeded, token) -> None:
    async def with_header(request: Request) -> Response:
        response = await cached_read(request, "data", [OHLCV.name], {"q": "h"}, lambda: {"ok": True})
        response.headers["X-Extra"] = "1"
        return response

    async def two_reads(request: Request) -> Response:
        await cached_read(request, "data", [OHLCV.name], {"q": "a"}, lambda: {"a": 1})
        return await cached_read(request, "data", [OHLCV.name], {"q": "b"}, lambda: {"b": 2})

    async def not_replayable(request: Request) -> Response:
        return await cached_read(
            request, "data", [OHLCV.name], {"q": "c"}, lambda: {"c": 3}, replayable=False
        )

    for path, endpoint in (("header", with_header), ("two", two_reads), ("clock", not_replayable)):
        app.add_api_route(f"/api/v1/data/{path}", endpoint, methods=["GET"], dependencies=GATEWAY)
    with TestClient(app) as client:
        for path in ("header", "two", "clock"):
            for _ in range(3):
                assert get(client, f"/api/v1/data/{path}", {}, auth(token)).status_code == 200
        assert get(client, "/api/v1/data/header", {}, auth(token)).headers["x-extra"] == "1"
    assert len(app.state.fast_path) == 0 and answered(app) == 0


def test_recipes_expire_and_are_learned_again(app, client, token) -> None:
    clock = FakeClock()
    app.state.fast_path.clock = clock
    learn(client, app, OHLCV_URL, {}, auth(token))
    get(client, OHLCV_URL, {}, auth(token))
    assert answered(app) == 1
    clock.now += RECIPE_SECONDS  # expired: the app answers once more, and the fast path relearns
    assert get(client, OHLCV_URL, {}, auth(token)).headers["x-cache"] == "hit"
    assert answered(app) == 1
    get(client, OHLCV_URL, {}, auth(token))
    assert answered(app) == 2


def test_the_learned_map_is_bounded(app, client, token) -> None:
    app.state.fast_path.max_recipes = 3
    for limit in range(1, 8):
        get(client, OHLCV_URL, {"limit": str(limit)}, auth(token))
    assert len(app.state.fast_path) == 3
    get(client, OHLCV_URL, {"limit": "7"}, auth(token))  # the latest ones are kept
    assert answered(app) == 1
    get(client, OHLCV_URL, {"limit": "1"}, auth(token))  # the oldest were dropped
    assert answered(app) == 1


def test_a_bad_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_recipes"):
        FastPath(max_recipes=0)


# -- the entry a recipe keeps ----------------------------------------------------------------------
def _count_cache_reads(app: FastAPI, monkeypatch) -> list[str]:
    """The keys the app's cache is asked for from now on (the real read still happens)."""
    cache, reads = app.state.cache, []
    real_peek = cache.peek

    async def peek(key: str):
        reads.append(key)
        return await real_peek(key)

    monkeypatch.setattr(cache, "peek", peek)
    return reads


def test_a_recipe_reads_its_entry_once_while_it_is_fresh(make_app, seeded, token, cache_url, monkeypatch) -> None:
    app = make_app(CACHE_URL=cache_url)
    with TestClient(app) as client:
        learn(client, app, OHLCV_URL, {}, auth(token))
        reads = _count_cache_reads(app, monkeypatch)
        answers = [get(client, OHLCV_URL, {}, auth(token)) for _ in range(4)]
        assert answered(app) == 4 and {a.headers["x-cache"] for a in answers} == {"hit"}
        assert len({a.content for a in answers}) == 1
        assert len(reads) == 1  # with Redis: one round trip for four answers
        assert app.state.cache.hits >= 4  # each kept answer still counts as a cache hit


def test_a_kept_entry_ends_with_its_ttl(app, client, token, monkeypatch) -> None:
    wall = FakeClock()
    wall.now = time.time()
    app.state.fast_path.wall_clock = wall
    learn(client, app, OHLCV_URL, {}, auth(token))
    reads = _count_cache_reads(app, monkeypatch)
    get(client, OHLCV_URL, {}, auth(token))
    get(client, OHLCV_URL, {}, auth(token))
    assert (answered(app), len(reads)) == (2, 1)
    wall.now += app.state.cache.ttl_for("data") + 5  # past the entry's TTL: the cache is asked again
    get(client, OHLCV_URL, {}, auth(token))
    assert (answered(app), len(reads)) == (3, 2)


def test_an_entry_dropped_by_this_process_is_not_served_from_the_recipe(app, client, token) -> None:
    learn(client, app, OHLCV_URL, {}, auth(token))
    get(client, OHLCV_URL, {}, auth(token))
    assert answered(app) == 1
    client.portal.call(app.state.cache.clear)
    assert get(client, OHLCV_URL, {}, auth(token)).headers["x-cache"] == "miss"
    assert answered(app) == 1
