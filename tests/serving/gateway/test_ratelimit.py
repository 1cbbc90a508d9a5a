"""Rate limits: budgets per client and route, headers, X-Forwarded-For, Redis sharing and failover."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Annotated

import anyio
import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from starlette.requests import Request as StarletteRequest

from serving.ratelimit import (
    RateLimitDecision,
    RateLimiter,
    client_key,
    install_rate_limit_headers,
    rate_limit,
)

pytestmark = pytest.mark.anyio

OHLCV = "/api/v1/data/ohlcv/{symbol}"
PREDICT = "/api/v1/ml/predict"


async def fake_auth(request: Request) -> None:
    """Stands in for the auth dependency: a principal when the test names a client."""
    client_id = request.headers.get("x-test-client")
    if client_id:
        request.state.principal = SimpleNamespace(client_id=client_id, scopes=frozenset())


def make_app(limiter: RateLimiter) -> FastAPI:
    app = FastAPI()
    app.state.rate_limiter = limiter
    install_rate_limit_headers(app)
    guarded = [Depends(fake_auth), Depends(rate_limit)]

    @app.get(OHLCV, dependencies=guarded)
    async def ohlcv(symbol: str) -> dict:
        return {"symbol": symbol}

    @app.get("/api/v1/data/symbols", dependencies=guarded)
    async def symbols() -> list:
        return []

    @app.post(PREDICT, dependencies=guarded)
    async def predict() -> dict:
        return {"ok": True}

    @app.get("/api/health/live")
    async def live() -> dict:
        return {"status": "ok"}

    return app


def client_for(app: FastAPI, peer: str = "192.0.2.10") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(peer, 50000)), base_url="http://test"
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def storage(request) -> tuple[str, str]:
    """(storage URL, key namespace) on both backends."""
    if request.param == "memory":
        return "mem://", "gwtest"
    return request.getfixturevalue("redis_url"), request.getfixturevalue("redis_namespace")


async def test_101st_request_in_the_minute_is_refused(storage) -> None:
    url, namespace = storage
    limiter = RateLimiter(url, "100/minute", {}, namespace=namespace)
    app = make_app(limiter)
    try:
        async with client_for(app) as client:
            remaining = []
            for _ in range(100):
                response = await client.get("/api/v1/data/ohlcv/BTC-USD", headers={"x-test-client": "alice"})
                assert response.status_code == 200
                assert response.headers["X-RateLimit-Limit"] == "100"
                assert int(response.headers["X-RateLimit-Reset"]) >= int(time.time())
                remaining.append(int(response.headers["X-RateLimit-Remaining"]))
            assert remaining == list(range(99, -1, -1))

            refused = await client.get("/api/v1/data/ohlcv/BTC-USD", headers={"x-test-client": "alice"})
            assert refused.status_code == 429
            assert refused.json() == {"detail": "rate limit exceeded: 100 per 1 minute"}
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert refused.headers["X-RateLimit-Limit"] == "100"
            assert refused.headers["X-RateLimit-Remaining"] == "0"
            assert int(refused.headers["X-RateLimit-Reset"]) >= int(time.time())

            # Routes without the dependency are not counted and carry no rate limit headers.
            live = await client.get("/api/health/live")
            assert live.status_code == 200
            assert "X-RateLimit-Limit" not in live.headers
        assert limiter.rejected == 1
        assert limiter.backend == ("memory" if url == "mem://" else "redis")
        assert limiter.fallbacks == 0
    finally:
        await limiter.close()


async def test_clients_have_separate_budgets() -> None:
    limiter = RateLimiter("mem://", "3/minute", {})
    async with client_for(make_app(limiter)) as client:
        for _ in range(3):
            assert (
                await client.get("/api/v1/data/symbols", headers={"x-test-client": "alice"})
            ).status_code == 200
        assert (
            await client.get("/api/v1/data/symbols", headers={"x-test-client": "alice"})
        ).status_code == 429
        bob = await client.get("/api/v1/data/symbols", headers={"x-test-client": "bob"})
        assert bob.status_code == 200
        assert bob.headers["X-RateLimit-Remaining"] == "2"
        # Anonymous calls from the same address are a budget of their own, not alice's.
        anonymous = await client.get("/api/v1/data/symbols")
        assert anonymous.status_code == 200
    assert limiter.rejected == 1


async def test_route_override_has_its_own_limit_and_budget() -> None:
    limiter = RateLimiter("mem://", "5/minute", {PREDICT: "2/minute"})
    headers = {"x-test-client": "alice"}
    async with client_for(make_app(limiter)) as client:
        for expected in ("1", "0"):
            response = await client.post(PREDICT, headers=headers)
            assert response.status_code == 200
            assert response.headers["X-RateLimit-Limit"] == "2"
            assert response.headers["X-RateLimit-Remaining"] == expected
        refused = await client.post(PREDICT, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["detail"] == "rate limit exceeded: 2 per 1 minute"
        assert refused.headers["X-RateLimit-Limit"] == "2"

        # The default budget is untouched by the overridden route, and shared by the other routes.
        statuses = []
        for path in ["/api/v1/data/ohlcv/BTC-USD", "/api/v1/data/symbols"] * 3:
            response = await client.get(path, headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 200:
                assert response.headers["X-RateLimit-Limit"] == "5"
        assert statuses == [200, 200, 200, 200, 200, 429]


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() -> None:
    # The peer 192.0.2.10 is not a trusted proxy: whatever X-Forwarded-For says, one budget.
    limiter = RateLimiter("mem://", "2/minute", {}, trusted_proxies=["10.0.0.0/8"])
    async with client_for(make_app(limiter), peer="192.0.2.10") as client:
        statuses = [
            (
                await client.get("/api/v1/data/symbols", headers={"X-Forwarded-For": f"198.51.100.{i}"})
            ).status_code
            for i in range(3)
        ]
    assert statuses == [200, 200, 429]

    # Behind the trusted proxy 10.1.2.3, each forwarded client has its own budget.
    limiter = RateLimiter("mem://", "2/minute", {}, trusted_proxies=["10.0.0.0/8"])
    async with client_for(make_app(limiter), peer="10.1.2.3") as client:
        for i in range(3):
            for _ in range(2):
                response = await client.get(
                    "/api/v1/data/symbols", headers={"X-Forwarded-For": f"198.51.100.{i}"}
                )
                assert response.status_code == 200
        third = await client.get("/api/v1/data/symbols", headers={"X-Forwarded-For": "198.51.100.0"})
        assert third.status_code == 429
        # A caller who writes its own X-Forwarded-For (the proxy appends the real address) gains nothing.
        spoofed = await client.get(
            "/api/v1/data/symbols", headers={"X-Forwarded-For": "203.0.113.99, 198.51.100.0"}
        )
        assert spoofed.status_code == 429


def _request(peer: str | None, forwarded: list[str] = ()) -> StarletteRequest:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""}
    if peer is not None:
        scope["client"] = (peer, 1234)
    return StarletteRequest(scope)


async def test_client_key() -> None:
    trusted = ["10.0.0.0/8", "2001:db8::1"]
    # Authenticated: the token's client id, whatever the network says.
    assert client_key(_request("10.0.0.1", ["1.2.3.4"]), "acme", trusted) == "client:acme"
    # Untrusted peer: its own address.
    assert client_key(_request("192.0.2.1", ["1.2.3.4"]), None, trusted) == "ip:192.0.2.1"
    assert client_key(_request("192.0.2.1", ["1.2.3.4"]), None, []) == "ip:192.0.2.1"
    # Trusted peer: the first hop that is not a trusted proxy, walking from the right.
    assert client_key(_request("10.0.0.1", ["198.51.100.7"]), None, trusted) == "ip:198.51.100.7"
    assert client_key(_request("10.0.0.1", ["198.51.100.7, 10.0.0.2"]), None, trusted) == "ip:198.51.100.7"
    assert client_key(_request("10.0.0.1", ["6.6.6.6", "198.51.100.7"]), None, trusted) == "ip:198.51.100.7"
    assert client_key(_request("2001:db8::1", ["[2001:db8::7]:443"]), None, trusted) == "ip:2001:db8::7"
    # Trusted peer without (or with a garbage) header: the peer, or the last hop that parsed.
    assert client_key(_request("10.0.0.1"), None, trusted) == "ip:10.0.0.1"
    assert client_key(_request("10.0.0.1", ["not-an-ip"]), None, trusted) == "ip:10.0.0.1"
    assert client_key(_request(None), None, trusted) == "ip:unknown"
    with pytest.raises(ValueError):
        RateLimiter("mem://", "1/minute", {}, trusted_proxies=["not-a-network"])


async def test_decision_is_left_on_request_state() -> None:
    limiter = RateLimiter("mem://", "10/minute", {})
    app = FastAPI()
    app.state.rate_limiter = limiter

    @app.get("/thing/{name}")
    async def thing(name: str, decision: Annotated[RateLimitDecision, Depends(rate_limit)]) -> dict:
        return {"remaining": decision.remaining, "limit": decision.limit}

    async with client_for(app) as client:
        response = await client.get("/thing/a")
    assert response.json() == {"remaining": 9, "limit": 10}
    assert "X-RateLimit-Limit" not in response.headers  # no header middleware installed on this app


@pytest.mark.redis
async def test_two_apps_on_one_redis_share_the_budget(redis_url: str, redis_namespace: str) -> None:
    first = RateLimiter(redis_url, "100/minute", {}, namespace=redis_namespace)
    second = RateLimiter(redis_url, "100/minute", {}, namespace=redis_namespace)
    headers = {"x-test-client": "shared"}
    try:
        async with client_for(make_app(first)) as one, client_for(make_app(second)) as two:
            for i in range(100):
                client = one if i % 2 == 0 else two
                response = await client.get("/api/v1/data/ohlcv/ETH-USD", headers=headers)
                assert response.status_code == 200
                assert response.headers["X-RateLimit-Remaining"] == str(99 - i)
            assert (await two.get("/api/v1/data/ohlcv/ETH-USD", headers=headers)).status_code == 429
            assert (await one.get("/api/v1/data/ohlcv/ETH-USD", headers=headers)).status_code == 429
            # Another client still has its whole budget on both replicas.
            other = await one.get("/api/v1/data/ohlcv/ETH-USD", headers={"x-test-client": "other"})
            assert other.headers["X-RateLimit-Remaining"] == "99"
        assert first.rejected + second.rejected == 2
        assert first.backend == second.backend == "redis"
        assert await first.ping()
    finally:
        await first.close()
        await second.close()


@pytest.mark.redis
async def test_redis_outage_falls_back_to_memory_and_recovers(disposable_redis, caplog) -> None:
    limiter = RateLimiter(disposable_redis.url, "50/minute", {}, namespace="gwtest", retry_seconds=0.2)
    headers = {"x-test-client": "alice"}
    try:
        async with client_for(make_app(limiter)) as client:
            for _ in range(3):
                assert (await client.get("/api/v1/data/symbols", headers=headers)).status_code == 200
            assert limiter.backend == "redis"
            assert await limiter.ping()

            disposable_redis.stop()
            with caplog.at_level("WARNING", logger="serving.ratelimit"):
                for _ in range(5):
                    response = await client.get("/api/v1/data/symbols", headers=headers)
                    assert response.status_code == 200
                    assert "X-RateLimit-Remaining" in response.headers
            assert limiter.backend == "memory"
            assert limiter.fallbacks == 1
            assert not await limiter.ping()
            warnings = [r for r in caplog.records if "failed" in r.getMessage()]
            assert len(warnings) == 1  # one warning per outage

            # The in-memory budget still limits while Redis is away.
            statuses = [
                (await client.get("/api/v1/data/symbols", headers=headers)).status_code for _ in range(50)
            ]
            assert 429 in statuses

            disposable_redis.start()
            with anyio.fail_after(20):
                while limiter.backend != "redis":
                    await anyio.sleep(0.05)
                    response = await client.get("/api/v1/data/symbols", headers={"x-test-client": "bob"})
                    assert response.status_code == 200
            # Back on Redis: bob's budget lives there now.
            response = await client.get("/api/v1/data/symbols", headers={"x-test-client": "bob"})
            assert response.status_code == 200
            assert limiter.fallbacks == 1
    finally:
        await limiter.close()


@pytest.mark.redis
async def test_redis_down_from_the_start_still_answers(disposable_redis) -> None:
    url = disposable_redis.url
    disposable_redis.stop()
    limiter = RateLimiter(url, "2/minute", {}, retry_seconds=60)
    try:
        async with client_for(make_app(limiter)) as client:
            statuses = [(await client.get("/api/v1/data/symbols")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert limiter.backend == "memory"
        assert limiter.fallbacks == 1
    finally:
        await limiter.close()


async def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter("memcached://x", "1/minute", {})
    with pytest.raises(ValueError):
        RateLimiter("mem://", "lots", {})
    app = FastAPI()

    @app.get("/x", dependencies=[Depends(rate_limit)])
    async def x() -> dict:
        return {}

    with pytest.raises(RuntimeError, match="rate_limiter"):
        async with client_for(app) as client:
            await client.get("/x")


async def test_hanging_redis_times_out_to_memory(hanging_redis_url: str) -> None:
    limiter = RateLimiter(hanging_redis_url, "2/minute", {}, retry_seconds=60, socket_timeout=0.2)
    try:
        async with client_for(make_app(limiter)) as client:
            with anyio.fail_after(30):  # a guard against hanging forever, not a timing assertion
                statuses = [(await client.get("/api/v1/data/symbols")).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert limiter.backend == "memory" and limiter.fallbacks == 1
    finally:
        await limiter.close()


# --- Redis down with several replicas: each grants only its share ------------------------------------


def _unreachable_redis_url() -> str:
    from tests.services import free_port

    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: connections are refused


async def test_two_replicas_without_redis_grant_together_at_most_the_budget() -> None:
    """RATE_LIMIT_REPLICAS=2, Redis unreachable: two limiters (two replicas) each grant 50 of 100."""
    url = _unreachable_redis_url()
    replicas = [RateLimiter(url, "100/minute", {}, retry_seconds=60, replicas=2) for _ in range(2)]
    headers = {"x-test-client": "mallory"}
    try:
        async with client_for(make_app(replicas[0])) as one, client_for(make_app(replicas[1])) as two:
            granted = 0
            for i in range(200):  # the client alternates replicas, as a load balancer spreads it
                response = await (one if i % 2 == 0 else two).get("/api/v1/data/symbols", headers=headers)
                assert response.status_code in (200, 429), response.status_code
                assert response.headers["X-RateLimit-Limit"] == "50"  # the fallback's limit, said so
                if response.status_code == 200:
                    granted += 1
                else:
                    assert int(response.headers["Retry-After"]) >= 1
                    assert "50 per 1 minute" in response.json()["detail"]
        assert granted == 100  # 50 on each replica: together the budget, never more
        assert all(limiter.backend == "memory" and limiter.fallbacks == 1 for limiter in replicas)
        assert replicas[0].rejected == replicas[1].rejected == 50
    finally:
        for limiter in replicas:
            await limiter.close()


async def test_the_fallback_share_rounds_down_keeps_at_least_one_and_applies_to_overrides() -> None:
    url = _unreachable_redis_url()
    limiter = RateLimiter(url, "100/minute", {PREDICT: "2/minute"}, retry_seconds=60, replicas=3)
    try:
        assert limiter.fallback_limit_for(OHLCV).amount == 33  # 3 x 33 <= 100
        assert limiter.fallback_limit_for(PREDICT).amount == 1  # 2 // 3 = 0, but never 0
        assert limiter.limit_for(OHLCV).amount == 100  # the configured budget is unchanged
        decisions = [await limiter.hit("client:c", PREDICT) for _ in range(2)]
        assert [d.allowed for d in decisions] == [True, False]
        assert decisions[0].limit == 1 and decisions[0].description == "1 per 1 minute"
        decisions = [await limiter.hit("client:c", OHLCV) for _ in range(34)]
        assert sum(d.allowed for d in decisions) == 33
        assert decisions[-1].retry_after >= 1 and decisions[-1].limit == 33
    finally:
        await limiter.close()


async def test_memory_storage_keeps_the_whole_budget_whatever_the_replicas() -> None:
    """mem:// is no fallback: there is no shared budget to divide (a single process's own limit)."""
    limiter = RateLimiter("mem://", "4/minute", {}, replicas=4)
    decisions = [await limiter.hit("client:c", OHLCV) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True] * 4 + [False]
    assert decisions[0].limit == 4


@pytest.mark.redis
async def test_replicas_on_a_healthy_redis_share_the_whole_budget(redis_url: str, redis_namespace: str) -> None:
    """RATE_LIMIT_REPLICAS only matters on the fallback: with Redis up the budget is one and whole."""
    limiters = [RateLimiter(redis_url, "10/minute", {}, namespace=redis_namespace, replicas=2) for _ in range(2)]
    try:
        decisions = [await limiters[i % 2].hit("client:shared", OHLCV) for i in range(11)]
        assert [d.allowed for d in decisions] == [True] * 10 + [False]
        assert {d.limit for d in decisions} == {10}
        assert all(limiter.backend == "redis" for limiter in limiters)
    finally:
        for limiter in limiters:
            await limiter.close()


async def test_replicas_must_be_at_least_one() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="replicas"):
            RateLimiter("mem://", "1/minute", {}, replicas=bad)
