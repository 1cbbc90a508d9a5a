"""Bearer authentication and scopes on a small app, over both warehouse backends."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from resources.tokens import Principal, TokenStore
from resources.warehouse import Warehouse
from serving.auth import AdminPrincipal, ReadPrincipal, require_scopes
from serving.errors import install_error_handlers


def build_app(store: TokenStore) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_store = store

    @app.get("/read")
    def read(principal: ReadPrincipal, request: Request) -> dict:
        assert request.state.principal is principal
        return {
            "client_id": principal.client_id,
            "scopes": sorted(principal.scopes),
            "token_id": principal.token_id,
        }

    @app.post("/write")
    def write(principal: Annotated[Principal, Depends(require_scopes("write"))]) -> dict:
        return {"client_id": principal.client_id}

    @app.delete("/admin")
    def admin(principal: AdminPrincipal) -> dict:
        return {"client_id": principal.client_id}

    return app


@pytest.fixture
def store(warehouse: Warehouse) -> TokenStore:
    return TokenStore(warehouse)


@pytest.fixture
def client(store: TokenStore):
    with TestClient(build_app(store)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_valid_token_passes_and_names_the_principal(client, store):
    issued = store.create("dashboard", ["read"])
    response = client.get("/read", headers=bearer(issued.token))
    assert response.status_code == 200
    assert response.json() == {"client_id": "dashboard", "scopes": ["read"], "token_id": issued.token_id}
    # The scheme is case-insensitive (RFC 7235).
    assert client.get("/read", headers={"Authorization": f"bearer {issued.token}"}).status_code == 200


def test_missing_credentials_are_401_with_a_bearer_challenge(client):
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": ""}):
        response = client.get("/read", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {"detail": "missing bearer token"}


def test_bad_tokens_are_401_invalid_token(client, store):
    issued = store.create("dashboard", ["admin"])
    _, token_id, secret = issued.token.split("_", 2)
    revoked = store.create("old", ["read"])
    store.revoke(revoked.token_id)
    bad = {
        "wrong secret": f"sxt_{token_id}_{secret[::-1]}",
        "unknown id": f"sxt_{'f' * 12}_{secret}",
        "malformed": "not-a-token",
        "empty": "",
        "revoked": revoked.token,
    }
    for case, token in bad.items():
        response = client.get("/read", headers=bearer(token))
        assert response.status_code == 401, case
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"', case
        assert response.json() == {"detail": "invalid or revoked token"}, case
    assert client.get("/read", headers=bearer(issued.token)).status_code == 200


def test_missing_scope_is_403_naming_it(client, store):
    reader = store.create("reader", ["read"])
    response = client.post("/write", headers=bearer(reader.token))
    assert response.status_code == 403
    assert response.json() == {"detail": "missing scope 'write'"}
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert client.delete("/admin", headers=bearer(reader.token)).json() == {"detail": "missing scope 'admin'"}

    writer = store.create("writer", ["write"])
    assert client.post("/write", headers=bearer(writer.token)).status_code == 200
    assert client.get("/read", headers=bearer(writer.token)).status_code == 200  # write implies read
    assert client.delete("/admin", headers=bearer(writer.token)).status_code == 403

    admin = store.create("root", ["admin"])
    for method, path in (("get", "/read"), ("post", "/write"), ("delete", "/admin")):
        response = client.request(method.upper(), path, headers=bearer(admin.token))
        assert response.status_code == 200, path
        assert response.json()["client_id"] == "root"


def test_revoke_takes_effect_on_the_next_request(client, store):
    issued = store.create("dashboard", ["read"])
    assert client.get("/read", headers=bearer(issued.token)).status_code == 200
    store.revoke(issued.token_id)
    assert client.get("/read", headers=bearer(issued.token)).status_code == 401


def test_no_token_store_fails_closed(tmp_path):
    app = build_app(TokenStore(Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}")))
    app.state.token_store = None
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/read", headers=bearer("sxt_0123456789ab_" + "x" * 43))
    assert response.status_code == 500


def test_openapi_documents_the_bearer_scheme(tmp_path):
    spec = build_app(TokenStore(Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}"))).openapi()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/read"]["get"]["security"] == [{"HTTPBearer": []}]


def test_unknown_scope_in_a_route_is_a_programming_error():
    with pytest.raises(ValueError, match="'wrte'"):
        require_scopes("wrte")


def test_lookup_runs_off_the_event_loop(client, store, monkeypatch):
    import asyncio

    issued = store.create("dashboard", ["read"])
    on_loop = []
    original = store.verify

    def verify(token):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:  # no loop in this thread: a worker thread
            on_loop.append(False)
        return original(token)

    monkeypatch.setattr(store, "verify", verify)
    assert client.get("/read", headers=bearer(issued.token)).status_code == 200
    assert on_loop == [False]
