"""URLs that may hold credentials reach Dagster by name; logs see them redacted."""

from __future__ import annotations

import dagster as dg
import pytest

from resources.configurable import build_resources
from resources.secrets import redact_url
from resources.settings import Settings


def test_urls_from_the_environment_are_configured_by_name_and_resolve_outside_a_run(tmp_path, monkeypatch):
    secret_db = f"sqlite:///{tmp_path}/warehouse.sqlite?password=hunter2"
    node = "https://eth-mainnet.example.invalid/v3/0123456789abcdef"
    monkeypatch.setenv("WAREHOUSE_URL", secret_db)
    monkeypatch.setenv("CHAIN_RPC_URL", node)
    resources = build_resources(Settings(SEXTANT_HOME=tmp_path))
    warehouse, chain = resources["warehouse"], resources["chain_rpc"]
    # What the UI and every run's stored config show: the variable's name, not its value.
    assert isinstance(warehouse.url, dg.EnvVar) and warehouse.url.env_var_name == "WAREHOUSE_URL"
    assert isinstance(chain.url, dg.EnvVar) and chain.url.env_var_name == "CHAIN_RPC_URL"
    configured = repr([r.model_dump() for r in resources.values()])
    assert "hunter2" not in configured and "0123456789abcdef" not in configured
    # Outside a run (CLI, tests) the value is read from the environment; messages show it redacted.
    assert chain.endpoint == node and "0123456789abcdef" not in chain.shown
    assert str(warehouse.client.engine.url).startswith("sqlite:///")
    # A setting given in code (no variable to read) stays a value.
    monkeypatch.delenv("CHAIN_RPC_URL")
    assert build_resources(Settings(SEXTANT_HOME=tmp_path, CHAIN_RPC_URL=node))["chain_rpc"].url == node


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql+psycopg2://app:s3cret@db:5432/warehouse", "postgresql+psycopg2://app:***@db:5432/warehouse"),
    ("https://mainnet.infura.io/v3/abcdef0123", "https://mainnet.infura.io/v3/***"),
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
    ("/var/data/models", "/var/data/models"),
])  # fmt: skip
def test_redacted_urls_keep_where_they_point_and_drop_what_unlocks_it(url, shown):
    assert redact_url(url) == shown
