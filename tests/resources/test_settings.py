"""Settings: embedded defaults, one variable switches each part to production."""

from __future__ import annotations

from resources.settings import Settings


def test_embedded_defaults(tmp_path, monkeypatch):
    for var in ("WAREHOUSE_URL", "MODEL_STORE_URL", "DAGSTER_PG_URL", "CACHE_URL", "SEXTANT_HOME"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(SEXTANT_HOME=tmp_path)
    assert s.resolved_warehouse_url == f"sqlite:///{tmp_path.resolve() / 'warehouse.sqlite'}"
    assert s.resolved_model_store_url == str(tmp_path.resolve() / "models")
    assert s.cache_url == "mem://"
    assert s.dagster_pg_url is None
    assert s.market_source == "synthetic"
    assert s.chain_rpc_url.startswith("http://127.0.0.1")


def test_environment_switches_to_production(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql+psycopg2://u@db/warehouse")
    monkeypatch.setenv("MODEL_STORE_URL", "s3://bucket/models")
    monkeypatch.setenv("CACHE_URL", "redis://cache:6379/0")
    monkeypatch.setenv("MARKET_SYMBOLS", "BTC-USD, ETH-USD")
    monkeypatch.setenv("SERVING_DOMAINS", "data,ml")
    s = Settings()
    assert s.resolved_warehouse_url == "postgresql+psycopg2://u@db/warehouse"
    assert s.resolved_model_store_url == "s3://bucket/models"
    assert s.cache_url == "redis://cache:6379/0"
    assert s.market_symbols == ["BTC-USD", "ETH-USD"]
    assert s.serving_domains == ["data", "ml"]


def test_home_is_never_read_from_the_shells_home_variable(monkeypatch, tmp_path):
    from resources.settings import Settings

    monkeypatch.delenv("SEXTANT_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "someone"))
    monkeypatch.chdir(tmp_path)
    assert Settings().resolved_home == (tmp_path / ".sextant").resolve()
    monkeypatch.setenv("SEXTANT_HOME", str(tmp_path / "state"))
    assert Settings().resolved_home == (tmp_path / "state").resolve()
