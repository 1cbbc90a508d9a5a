"""Proof that every route of the app is behind a bearer token, except the ones meant to be open.

Routes are read from the app itself (through included routers), so a route added later is checked
without editing this file, and is protected unless it is named open here:

- the probes `/api/health/live` and `/api/health/ready`, always;
- `/api/metrics` and `/api/dashboard...`, when METRICS_PUBLIC is true (a read token otherwise);
- FastAPI's documentation routes (OpenAPI JSON, Swagger UI), which the browser page loads anonymously.

For each route: no token -> 401 `WWW-Authenticate: Bearer`; a wrong token -> 401; a valid read token
-> neither 401 nor 403 (a route that demands more, e.g. `write`, answers 403 naming the scope, and
passes with a token that has it); the read token once revoked -> 401.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.serving.proof.conftest import (
    RouteInfo,
    app_routes,
    auth,
    is_metrics_route,
    is_open,
    issue,
    running,
)


def _wrong_credentials(valid: str) -> dict[str, dict[str, str]]:
    token_id = valid.split("_")[1]
    return {
        "garbage": {"Authorization": "Bearer not-a-token"},
        "empty bearer": {"Authorization": "Bearer "},
        "unknown id": {"Authorization": f"Bearer sxt_{'0' * 12}_{'A' * 43}"},
        "wrong secret": {"Authorization": f"Bearer sxt_{token_id}_{'B' * 43}"},
        "token with a suffix": {"Authorization": f"Bearer {valid}x"},
        "basic scheme": {"Authorization": "Basic dXNlcjpwYXNzd29yZA=="},
        "token without scheme": {"Authorization": valid},
    }


def _call(client: TestClient, route: RouteInfo, headers: dict[str, str] | None = None):
    return client.request(route.method, route.path, headers=headers or {})


@pytest.mark.parametrize("metrics_public", [True, False], ids=["metrics-public", "metrics-private"])
def test_every_route_needs_a_token_unless_open(make_app, seeded, metrics_public: bool) -> None:
    app = make_app(METRICS_PUBLIC=metrics_public)
    routes = app_routes(app)
    protected = [route for route in routes if not is_open(route, metrics_public)]
    # Not vacuous: the domain routes are there, and the probes are the only API routes open for sure.
    assert any(route.template.startswith("/api/v1/") for route in protected), routes
    assert {r.template for r in routes if is_open(r, metrics_public) and not r.documentation} >= {
        "/api/health/live",
        "/api/health/ready",
    }
    if not metrics_public:
        assert not any(is_open(r, False) and is_metrics_route(r.template) for r in routes)

    failures: list[str] = []

    def expect(condition: bool, route: RouteInfo, what: str, response) -> None:
        if not condition:
            failures.append(
                f"{route} {what}: got {response.status_code} "
                f"WWW-Authenticate={response.headers.get('www-authenticate')!r} body={response.text[:160]!r}"
            )

    with running(app, raise_server_exceptions=False) as client:
        token = issue(seeded, "matrix-reader")
        writer = issue(seeded, "matrix-admin", "read,write,admin")
        valid = auth(token)
        wrong = _wrong_credentials(token.token)
        for route in routes:
            anonymous = _call(client, route)
            if route in protected:
                expect(anonymous.status_code == 401, route, "without a token should be 401", anonymous)
                expect(
                    anonymous.headers.get("www-authenticate") == "Bearer",
                    route,
                    "without a token should challenge `Bearer`",
                    anonymous,
                )
            else:
                expect(anonymous.status_code not in (401, 403), route, "is open", anonymous)
            for name, headers in wrong.items():
                response = _call(client, route, headers)
                if route in protected:
                    expect(
                        response.status_code == 401,
                        route,
                        f"with a wrong token ({name}) should be 401",
                        response,
                    )
                    expect(
                        response.headers.get("www-authenticate", "").startswith("Bearer"),
                        route,
                        f"with a wrong token ({name}) should challenge Bearer",
                        response,
                    )
                else:
                    expect(response.status_code not in (401, 403), route, f"is open ({name})", response)
            response = _call(client, route, valid)
            if route.scopes:  # e.g. feedback needs `write`: a read token is refused, naming the scope
                expect(response.status_code == 403, route, f"with a read token should be 403 ({route.scopes})", response)
                expect(
                    "insufficient_scope" in response.headers.get("www-authenticate", ""),
                    route,
                    "with a read token should say insufficient_scope",
                    response,
                )
                response = _call(client, route, auth(writer))
                expect(response.status_code not in (401, 403), route, "with a token of its scopes", response)
            else:
                expect(response.status_code not in (401, 403), route, "with a valid read token", response)
            expect(response.status_code < 500, route, "with a valid token", response)

        # Revoked through the app's own store: this process forgets the token at once.
        assert client.app.state.token_store.revoke(token.token_id)
        for route in routes:
            response = _call(client, route, valid)
            if route in protected:
                expect(response.status_code == 401, route, "with a revoked token should be 401", response)
                expect(
                    response.headers.get("www-authenticate") == 'Bearer error="invalid_token"',
                    route,
                    "with a revoked token should say invalid_token",
                    response,
                )
            else:
                expect(response.status_code not in (401, 403), route, "is open (revoked token)", response)

    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("metrics_public", [True, False], ids=["metrics-public", "metrics-private"])
def test_a_token_revoked_elsewhere_is_refused_once_unknown_to_the_app(
    make_app, seeded, metrics_public
) -> None:
    """A token revoked by another process (the CLI) before this app ever saw it is refused at once."""
    app = make_app(METRICS_PUBLIC=metrics_public)
    token = issue(seeded, "revoked-by-cli")
    from resources.tokens import TokenStore

    assert TokenStore(seeded).revoke(token.token_id)
    with running(app, raise_server_exceptions=False) as client:
        for route in app_routes(app):
            if is_open(route, metrics_public):
                continue
            response = _call(client, route, auth(token))
            assert response.status_code == 401, (str(route), response.status_code, response.text)
