"""The market partitions cover the data a home holds: `sextant up` pins their first day, and a restart
after downtime fills the days it missed, so the UI's "filled" share of `ohlcv` is the truth."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import dagster as dg
import pytest

from assets.market.partitions import partition_key
from orchestration.demo import MARKET_START_FILE, first_unmaterialized_day, pin_market_start
from orchestration.instance import REPO_ROOT
from resources.settings import Settings

SYMBOLS = ["BTC-USD", "ETH-USD"]


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv("MARKET_START_DATE", raising=False)
    yield monkeypatch


def test_first_start_pins_the_day_and_a_restart_keeps_it(clean_env, tmp_path):
    settings = Settings(SEXTANT_HOME=tmp_path)
    assert pin_market_start(settings, date(2026, 11, 27)) == "2026-11-27"
    assert (tmp_path / MARKET_START_FILE).read_text().strip() == "2026-11-27"
    assert os.environ["MARKET_START_DATE"] == "2026-11-27"  # the Dagster and API children inherit it
    clean_env.delenv("MARKET_START_DATE")
    # a week later, `sextant up --days 7` would pin a later day; the home keeps its first
    assert pin_market_start(Settings(SEXTANT_HOME=tmp_path), date(2026, 12, 4)) == "2026-11-27"


def test_an_explicit_setting_wins_and_pins_nothing(clean_env, tmp_path):
    settings = Settings(SEXTANT_HOME=tmp_path, MARKET_START_DATE="2024-01-01")
    assert pin_market_start(settings, date(2026, 11, 27)) == "2024-01-01"
    assert not (tmp_path / MARKET_START_FILE).exists()


def test_a_malformed_or_future_start_is_named():
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        Settings(MARKET_START_DATE="27/11/2026")
    with pytest.raises(ValueError, match="in the future"):
        Settings(MARKET_START_DATE=(date.today() + timedelta(days=40)).isoformat())


def test_the_partitions_start_where_the_setting_says():
    """Read at import, as every Dagster process of a deployment does."""
    code = "from assets.market.partitions import DAYS; print(DAYS.get_first_partition_key())"
    env = {**os.environ, "MARKET_START_DATE": "2026-11-27"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "2026-11-27"


def _materialized(instance, day: date, symbol: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization("ohlcv", partition=str(partition_key(day, symbol))))


def test_a_restart_starts_at_the_first_day_some_symbol_misses():
    since, until = date(2026, 11, 20), date(2026, 11, 30)
    with dg.instance_for_test() as instance:
        assert first_unmaterialized_day(instance, SYMBOLS, since, until) == since  # nothing yet
        for offset in range(5):  # the 20th..24th for both symbols, then the 25th for one
            for sym in SYMBOLS:
                _materialized(instance, since + timedelta(days=offset), sym)
        _materialized(instance, date(2026, 11, 25), "BTC-USD")
        assert first_unmaterialized_day(instance, SYMBOLS, since, until) == date(2026, 11, 25)
        _materialized(instance, date(2026, 11, 25), "ETH-USD")
        assert first_unmaterialized_day(instance, SYMBOLS, since, until) == date(2026, 11, 26)
        assert first_unmaterialized_day(instance, SYMBOLS, until, until) == until  # today is always redone
