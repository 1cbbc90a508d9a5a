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
    groups = {}
    for key in keys:
        node = graph.get(dg.AssetKey(key))
        groups.setdefault(node.group_name, set()).add(key)
        assert node.description, f"{key} has no description for the UI"
    assert groups["market"] == {"raw_ohlcv", "ohlcv", "ohlcv_rejects", "ohlcv_features", "market_daily_summary"}
    assert groups["chain"] == {"chain_blocks", "chain_transactions", "chain_logs", "token_transfers", "contracts"}
    assert {"chain_intel", "price_model", "fraud", "nlp"} <= set(groups)
    for key in groups["chain"] - {"chain_blocks"}:  # one fetch feeds all five; lineage shows blocks first
        assert parents[key] == {"chain_blocks"}

    checks = {(c.asset_key.to_user_string(), c.name): c for c in _check_specs(defs)}
    assert checks[("ohlcv", "bars_suite")].blocking
    assert checks[("ohlcv", "rows_accounted")].blocking
    assert not checks[("raw_ohlcv", "raw_bars_suite")].blocking

    assert defs.resolve_schedule_def("market_hourly_schedule").cron_schedule == "5 * * * *"
    assert defs.resolve_sensor_def("market_landing_sensor") is not None
    assert defs.resolve_job_def("market_job") is not None
    assert defs.resolve_sensor_def("chain_new_blocks_sensor").job_name == "chain_live_job"
    assert defs.resolve_sensor_def("automation_conditions") is not None  # eager assets work out of the box


def _check_specs(defs: dg.Definitions):
    for asset in defs.assets or []:
        yield from asset.check_specs


def test_the_workspace_loads_as_dagster_loads_it(tmp_path):
    """`dagster definitions validate` on workspace.yaml: the loader `dagster dev`, the daemon and every
    run use (one Definitions object at module scope, every definition valid), in its own process."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", str(root / "workspace.yaml")],
        cwd=root, env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "All code locations passed validation" in result.stdout + result.stderr
