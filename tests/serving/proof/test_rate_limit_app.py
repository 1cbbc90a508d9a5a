"""Proof of the per-client rate limit on the real app (`create_app`, default budget 100/minute).

One budget per client for every route without an override: the 101st request of the minute is a
429 with Retry-After and X-RateLimit-*, whatever routes the 100 went to; another token has a budget
of its own; and replicas sharing Redis (same SERVICE_NAME) share one budget. While Redis is down,
each replica grants budget // RATE_LIMIT_REPLICAS, so together they still grant at most the budget.
Requests without a valid token count against their address ("anon:<address>"): past the budget
they get 429 instead of 401, while a valid token from that address keeps its client's budget.
"""

from __future__ import annotations

from itertools import cycle
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from resources.settings import Settings
from serving.app import create_app
from tests.services import free_port
from tests.serving.proof.conftest import auth, issue, proof_settings, running

LIMIT = 100
#: Budgeted routes spread over the requests (all share the client's one default budget).
ROUTES = [
    "/api/v1/data/symbols",
    "/api/v1/data/ohlcv/BTC-USD",
    "/api/v1/data/summary/BTC-USD",
    "/api/v1/data/features/BTC-USD?limit=5",
]


def _default_budget_settings(tmp_path: Path, warehouse_url: str, **overrides) -> Settings:
    settings = proof_settings(tmp_path / "home", warehouse_url, **overrides)
    # The real default, not the proof tests' unreachable one.
    default = Settings.model_fields["rate_limit_default"].default
    assert default == f"{LIMIT}/minute"
    return settings.model_copy(update={"rate_limit_default": default})


def _spend(client: TestClient, headers: dict[str, str], n: int, start: int = 0) -> None:
    """`n` requests that must all pass, with X-RateLimit-Remaining counting down."""
    routes = cycle(ROUTES)
    for i in range(start, start + n):
        response = client.get(next(routes), headers=headers)
        assert response.status_code == 200, (i + 1, response.status_code, response.text)
        assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
        assert response.headers["X-RateLimit-Remaining"] == str(LIMIT - i - 1), i + 1
        assert int(response.headers["X-RateLimit-Reset"]) > 0


def _assert_refused(response) -> None:
    assert response.status_code == 429, (response.status_code, response.text)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == str(LIMIT)
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0
    assert "rate limit exceeded" in response.json()["detail"]


def test_101st_request_in_the_minute_is_429_and_clients_have_separate_budgets(
    tmp_path: Path, warehouse_url: str, seeded
) -> None:
    app = create_app(settings=_default_budget_settings(tmp_path, warehouse_url), warehouse=seeded)
    alice, bob = auth(issue(seeded, "alice")), auth(issue(seeded, "bob"))
    with running(app) as client:
        _spend(client, alice, LIMIT)
        for route in ROUTES:  # spent for every route, not only the last one asked
            _assert_refused(client.get(route, headers=alice))
        # Bob's budget is untouched by Alice's.
        _spend(client, bob, LIMIT)
        _assert_refused(client.get(ROUTES[0], headers=bob))
        # Open routes are not budgeted: probes still answer Alice.
        assert client.get("/api/health/live", headers=alice).status_code == 200
    assert app.state.settings.rate_limit_default == f"{LIMIT}/minute"


def test_two_replicas_on_one_redis_share_the_budget(
    tmp_path: Path, warehouse_url: str, seeded, redis_url: str, service_name: str
) -> None:
    settings = _default_budget_settings(
        tmp_path, warehouse_url, CACHE_URL=redis_url, SERVICE_NAME=service_name
    )
    first = create_app(settings=settings, warehouse=seeded)
    second = create_app(settings=settings, warehouse=seeded)
    carol = auth(issue(seeded, "carol"))
    dave = auth(issue(seeded, "dave"))
    with running(first) as a, running(second) as b:
        assert a.app.state.rate_limiter.backend == "redis"
        for i in range(LIMIT):  # alternate replicas: the remaining count is global
            client = a if i % 2 == 0 else b
            response = client.get(ROUTES[i % len(ROUTES)], headers=carol)
            assert response.status_code == 200, (i + 1, response.status_code, response.text)
            assert response.headers["X-RateLimit-Remaining"] == str(LIMIT - i - 1), i + 1
        _assert_refused(a.get(ROUTES[0], headers=carol))
        _assert_refused(b.get(ROUTES[0], headers=carol))
        # Another client on the same replicas still has its whole budget.
        assert b.get(ROUTES[0], headers=dave).headers["X-RateLimit-Remaining"] == str(LIMIT - 1)
        assert a.app.state.rate_limiter.backend == b.app.state.rate_limiter.backend == "redis"
        assert a.app.state.rate_limiter.fallbacks == b.app.state.rate_limiter.fallbacks == 0


def test_two_replicas_without_redis_grant_together_at_most_the_budget(
    tmp_path: Path, warehouse_url: str, seeded
) -> None:
    """Redis unreachable, RATE_LIMIT_REPLICAS=2: each replica grants 50, so one client gets 100 in all."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    settings = _default_budget_settings(tmp_path, warehouse_url, CACHE_URL=dead_redis, RATE_LIMIT_REPLICAS=2)
    assert settings.rate_limit_replicas == 2
    first = create_app(settings=settings, warehouse=seeded)
    second = create_app(settings=settings, warehouse=seeded)
    erin = auth(issue(seeded, "erin"))
    statuses = []
    with running(first) as a, running(second) as b:
        for i in range(2 * LIMIT):
            response = (a if i % 2 == 0 else b).get(ROUTES[i % len(ROUTES)], headers=erin)
            assert response.headers["X-RateLimit-Limit"] == str(LIMIT // 2), (i + 1, response.text)
            statuses.append(response.status_code)
        assert a.app.state.rate_limiter.backend == b.app.state.rate_limiter.backend == "memory"
    assert statuses.count(200) == LIMIT
    assert statuses.count(429) == LIMIT


BAD_TOKEN = "sxt_0123456789ab_" + "x" * 43  # well formed, unknown: the store is asked
#: Every way of failing authentication; they share the address's one budget.
FAILURES = [{}, auth(BAD_TOKEN), auth("not-a-token"), {"Authorization": "Basic dXNlcjpwdw=="}]


def test_failed_authentications_are_limited_by_address_and_good_tokens_keep_their_budget(
    tmp_path: Path, warehouse_url: str, seeded
) -> None:
    """101 requests without a valid token from one address: 100 x 401, then 429 with Retry-After.

    Only failures count against the address: a valid token from the same address is counted on its
    client's budget, so the flood does not lock it out.
    """
    app = create_app(settings=_default_budget_settings(tmp_path, warehouse_url), warehouse=seeded)
    frank = auth(issue(seeded, "frank"))
    with running(app) as client:
        for i in range(LIMIT):
            response = client.get(ROUTES[i % len(ROUTES)], headers=FAILURES[i % len(FAILURES)])
            assert response.status_code == 401, (i + 1, response.status_code, response.text)
            assert "WWW-Authenticate" in response.headers
        for headers in FAILURES:  # spent, whatever the failure and the route
            refused = client.get(ROUTES[0], headers=headers)
            _assert_refused(refused)
            assert "without a valid token" in refused.json()["detail"]
        assert app.state.rate_limiter.rejected == len(FAILURES)

        # A good token from the same address: its own budget, whole.
        _spend(client, frank, 3)
        # ... and the address is still refused without one.
        _assert_refused(client.get(ROUTES[1], headers=auth(BAD_TOKEN)))
        # Open routes stay open.
        assert client.get("/api/health/live").status_code == 200
        assert client.get("/api/health/ready").status_code == 200
        assert client.get("/api/metrics").status_code == 200


def test_failed_authentications_behind_a_trusted_proxy_count_per_forwarded_address(
    tmp_path: Path, warehouse_url: str, seeded
) -> None:
    settings = _default_budget_settings(tmp_path, warehouse_url, TRUSTED_PROXIES="10.0.0.0/8")
    app = create_app(settings=settings, warehouse=seeded)
    flooder = {**auth(BAD_TOKEN), "X-Forwarded-For": "198.51.100.7"}
    neighbour = {**auth(BAD_TOKEN), "X-Forwarded-For": "198.51.100.8"}
    with running(app, client=("10.1.2.3", 40000)) as client:
        statuses = [client.get(ROUTES[0], headers=flooder).status_code for _ in range(LIMIT + 1)]
        assert statuses == [401] * LIMIT + [429]
        # Another client behind the same proxy has a budget of its own.
        assert client.get(ROUTES[0], headers=neighbour).status_code == 401


@pytest.fixture
def warehouse_url(tmp_path: Path) -> str:
    """These tests are about budgets, not backends: SQLite only."""
    return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
