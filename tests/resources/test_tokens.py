"""API tokens on both warehouse backends: issuing, hashing, verifying, the memo, revocation, the CLI."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import typer
from typer.testing import CliRunner

from resources.tokens import (
    API_TOKENS,
    SCOPES,
    IssuedToken,
    Principal,
    TokenStore,
    expand_scopes,
    normalize_scopes,
    parse_token,
)
from resources.warehouse import Warehouse
from tests.fakes import FakeClock


def count_reads(monkeypatch, warehouse: Warehouse) -> list[str]:
    """Record the table name of every warehouse read."""
    calls: list[str] = []
    original = warehouse.read

    def read(name, *args, **kwargs):
        calls.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(warehouse, "read", read)
    return calls


# -- pure parts ---------------------------------------------------------------------------------
def test_scopes_are_validated_and_nest():
    assert SCOPES == ("read", "write", "admin")
    assert normalize_scopes(["write", " READ ", "write"]) == ("read", "write")
    assert normalize_scopes("admin,read") == ("read", "admin")
    with pytest.raises(ValueError, match="'delete'"):
        normalize_scopes(["read", "delete"])
    with pytest.raises(ValueError, match="at least one scope"):
        normalize_scopes([])
    assert expand_scopes(["read"]) == {"read"}
    assert expand_scopes(["write"]) == {"read", "write"}
    assert expand_scopes(["admin"]) == {"read", "write", "admin"}
    assert expand_scopes(["bogus"]) == frozenset()


@pytest.mark.parametrize(
    "token",
    [
        None,
        42,
        b"sxt_0123456789ab_" + b"x" * 43,
        "",
        "Bearer abc",
        "sxt_0123456789ab",
        "sxt_0123456789AB_" + "x" * 43,  # ids are lowercase hex
        "sxt_0123456789a_" + "x" * 43,  # 11 characters
        "abc_0123456789ab_" + "x" * 43,
        "sxt_0123456789ab_" + "x" * 43 + " ",
        "sxt_0123456789ab_" + "é" * 43,
        "sxt_0123456789ab_short",
        "sxt_0123456789ab_" + "x" * 10_000,
    ],
)
def test_malformed_tokens_do_not_parse(token):
    assert parse_token(token) is None


def test_parse_accepts_underscores_in_the_secret():
    assert parse_token("sxt_0123456789ab_a_b-c_" + "x" * 40) == ("0123456789ab", "a_b-c_" + "x" * 40)


# -- on the warehouse ---------------------------------------------------------------------------
def test_create_stores_only_the_hash_and_verifies(warehouse: Warehouse):
    store = TokenStore(warehouse)
    issued = store.create("alice", ["write"])
    assert isinstance(issued, IssuedToken)
    assert issued.token not in repr(issued)
    prefix, token_id, secret = issued.token.split("_", 2)
    assert (prefix, token_id) == ("sxt", issued.token_id)
    assert len(token_id) == 12 and int(token_id, 16) >= 0
    assert len(secret) >= 43
    assert issued.scopes == ("write",)  # as granted; the principal gets the implied ones

    rows = warehouse.read(API_TOKENS.name).to_dicts()
    assert len(rows) == 1
    row = rows[0]
    assert row["token_id"] == token_id and row["client_id"] == "alice"
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["secret_hash"] != secret
    assert all(secret not in str(value) for value in row.values())
    assert row["revoked_at"] is None and row["created_at"] is not None

    principal = store.verify(issued.token)
    assert principal == Principal(client_id="alice", scopes=frozenset({"read", "write"}), token_id=token_id)
    # A second store (another process) reads the same table.
    assert TokenStore(warehouse).verify(issued.token) == principal


def test_bad_tokens_are_none_never_errors(warehouse: Warehouse):
    store = TokenStore(warehouse)
    assert store.verify("sxt_0123456789ab_" + "x" * 43) is None  # no table yet
    issued = store.create("bob", ["read"])
    _, token_id, secret = issued.token.split("_", 2)
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    assert store.verify(f"sxt_{token_id}_{wrong}") is None  # wrong secret
    assert store.verify(f"sxt_{'0' * 12}_{secret}") is None  # unknown id
    assert store.verify(issued.token + "x") is None
    assert store.verify("garbage") is None
    assert store.verify(None) is None  # type: ignore[arg-type]
    assert store.verify(issued.token) is not None


def test_comparison_is_constant_time(warehouse: Warehouse, monkeypatch):
    store = TokenStore(warehouse)
    issued = store.create("carol", "read")
    calls = []
    original = hmac.compare_digest

    def counting(a, b):
        calls.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting)
    assert store.verify(issued.token) is not None
    assert store.verify(issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")) is None
    assert store.verify(issued.token) is not None  # memo hit: still compared
    assert len(calls) == 3


def test_create_rejects_bad_input(warehouse: Warehouse):
    store = TokenStore(warehouse)
    with pytest.raises(ValueError, match="'superuser'"):
        store.create("dave", ["read", "superuser"])
    with pytest.raises(ValueError, match="client_id"):
        store.create("  ", ["read"])
    assert store.list() == []


def test_verify_is_memoized_and_expires(warehouse: Warehouse, monkeypatch):
    clock = FakeClock()
    store = TokenStore(warehouse, cache_ttl=60, clock=clock)
    issued = store.create("erin", ["admin"])
    reads = count_reads(monkeypatch, warehouse)

    for _ in range(5):
        assert store.verify(issued.token).scopes == {"read", "write", "admin"}
    assert len(reads) == 1  # one database lookup for five requests

    clock.now += 61
    assert store.verify(issued.token) is not None
    assert len(reads) == 2  # expired: looked up again


def test_memo_is_bounded(warehouse: Warehouse, monkeypatch):
    store = TokenStore(warehouse, cache_size=2)
    tokens = [store.create(f"client-{i}", ["read"]).token for i in range(3)]
    reads = count_reads(monkeypatch, warehouse)
    for token in tokens:
        assert store.verify(token) is not None
    assert len(store._memo) == 2
    assert store.verify(tokens[0]) is not None  # evicted (least recently used): read again
    assert store.verify(tokens[2]) is not None  # still held
    assert len(reads) == 4


def test_revoke_is_immediate_here_and_within_the_ttl_elsewhere(warehouse: Warehouse):
    clock = FakeClock()
    here = TokenStore(warehouse, clock=clock)
    elsewhere = TokenStore(warehouse, cache_ttl=60, clock=clock)
    issued = here.create("frank", ["read"])
    keep = here.create("grace", ["read"])
    assert here.verify(issued.token) is not None
    assert elsewhere.verify(issued.token) is not None

    assert here.revoke(issued.token_id) is True
    assert here.verify(issued.token) is None  # this process: at once
    assert elsewhere.verify(issued.token) is not None  # another replica: until its memo expires
    clock.now += 61
    assert elsewhere.verify(issued.token) is None

    assert here.revoke(issued.token_id) is False  # already revoked
    assert here.revoke("0" * 12) is False  # unknown
    assert here.verify(keep.token) is not None


def test_list_never_shows_hashes(warehouse: Warehouse):
    store = TokenStore(warehouse)
    assert store.list() == []
    first = store.create("heidi", ["read"])
    second = store.create("ivan", ["read", "write"])
    store.revoke(first.token_id)
    listed = store.list()
    assert [t["token_id"] for t in listed] == [first.token_id, second.token_id]
    for entry in listed:
        assert set(entry) == {"token_id", "client_id", "scopes", "created_at", "revoked_at", "active"}
    assert listed[0]["active"] is False and listed[0]["revoked_at"] is not None
    assert listed[1]["scopes"] == ["read", "write"] and listed[1]["active"] is True
    text = repr(listed)
    for issued in (first, second):
        secret = issued.token.split("_", 2)[2]
        assert secret not in text and hashlib.sha256(secret.encode()).hexdigest() not in text


# -- the CLI ------------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, warehouse_url, monkeypatch):
    """A standalone app with the `token` sub-app, on a temporary home and the parametrized warehouse."""
    from orchestration.cli_tokens import token_app
    from resources.settings import get_settings

    monkeypatch.setenv("SEXTANT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("WAREHOUSE_URL", warehouse_url)
    get_settings.cache_clear()
    app = typer.Typer()
    app.add_typer(token_app, name="token")
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["token", *args])
    get_settings.cache_clear()


def test_cli_create_list_revoke(cli, warehouse: Warehouse):
    created = cli("create", "--client", "dashboard", "--scopes", "read,write")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert "cannot be shown again" in created.stderr
    principal = TokenStore(warehouse).verify(token)
    assert principal is not None
    assert principal.client_id == "dashboard" and principal.scopes == {"read", "write"}

    listed = cli("list")
    assert listed.exit_code == 0, listed.output
    secret = token.split("_", 2)[2]
    assert principal.token_id in listed.stdout and "dashboard" in listed.stdout
    assert secret not in listed.output
    assert hashlib.sha256(secret.encode()).hexdigest() not in listed.output

    revoked = cli("revoke", principal.token_id)
    assert revoked.exit_code == 0, revoked.output
    assert TokenStore(warehouse).verify(token) is None
    again = cli("revoke", principal.token_id)
    assert again.exit_code == 1 and "no active token" in again.stderr


def test_cli_rejects_an_unknown_scope(cli):
    result = cli("create", "--client", "x", "--scopes", "read,root")
    assert result.exit_code == 2
    assert "'root'" in result.output
    assert cli("list").stdout.strip() == "no tokens"
