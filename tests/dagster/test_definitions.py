"""The Definitions root loads, and the asset graph is what the UI should show."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.definitions import build_definitions


@pytest.fixture(params=["sqlite"])
def warehouse_url(request, tmp_path):  # the graph does not depend on the backend
    return f"sqlite:///{tmp_path / 'w.sqlite'}"


def test_definitions_load_with_lineage_checks_and_triggers(settings):
    defs = build_definitions(settings)
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_ohlcv", "ohlcv", "ohlcv_rejects", "ohlcv_features", "market_daily_summary"} <= keys
    parents = {k: {p.to_user_string() for p in graph.get(dg.AssetKey(k)).parent_keys} for k in keys}
    assert parents["ohlcv"] == {"raw_ohlcv"}
    assert parents["ohlcv_rejects"] == {"raw_ohlcv"}
    assert parents["ohlcv_features"] == {"ohlcv"}
    assert parents["market_daily_summary"] == {"ohlcv"}
    for key in keys:
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "market"
        assert node.description, f"{key} has no description for the UI"

    checks = {(c.asset_key.to_user_string(), c.name): c for c in _check_specs(defs)}
    assert checks[("ohlcv", "bars_suite")].blocking
    assert checks[("ohlcv", "rows_accounted")].blocking
    assert not checks[("raw_ohlcv", "raw_bars_suite")].blocking

    assert defs.resolve_schedule_def("market_hourly_schedule").cron_schedule == "5 * * * *"
    assert defs.resolve_sensor_def("market_landing_sensor") is not None
    assert defs.resolve_job_def("market_job") is not None


def _check_specs(defs: dg.Definitions):
    for asset in defs.assets or []:
        yield from asset.check_specs
