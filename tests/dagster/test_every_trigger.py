"""Every schedule and sensor of the Definitions, evaluated once the way the daemon does it.

`evaluate_tick` runs Dagster's own validation (a schedule returning several run requests without run
keys fails there, as it does on the Automation page), so a trigger that would fail every tick
fails here first. Evaluated on a fresh instance with the embedded defaults and no node: the
state of a new install before anything was materialized.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from orchestration.definitions import build_definitions
from tests.services import free_port


@pytest.fixture
def fresh(tmp_path):
    from resources.settings import Settings

    settings = Settings(
        SEXTANT_HOME=tmp_path / "home",
        WAREHOUSE_URL=f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        CHAIN_RPC_URL=f"http://127.0.0.1:{free_port()}",  # no node yet
    )
    with dg.instance_for_test() as instance, set_defs_state_storage(instance.defs_state_storage):
        yield build_definitions(settings), instance


def test_every_schedule_evaluates_without_error(fresh):
    defs, instance = fresh
    schedules = list(defs.schedules or [])
    assert {s.name for s in schedules} >= {"market_hourly_schedule", "fraud_daily_schedule", "price_daily_schedule"}
    for schedule in schedules:
        context = dg.build_schedule_context(
            instance=instance, resources=defs.resources, scheduled_execution_time=datetime(2026, 12, 3, 5, 5, tzinfo=UTC)
        )
        with context:
            data = schedule.evaluate_tick(context)  # raises on any error, validation included
        assert data.run_requests or data.skip_message, schedule.name
        if schedule.name == "market_hourly_schedule":  # one run per configured symbol, each with its own key
            keys = [r.run_key for r in data.run_requests]
            assert len(keys) == 3 and len(set(keys)) == 3 and all("2026-12-03T05" in k for k in keys)


def test_every_sensor_evaluates_without_error(fresh):
    defs, instance = fresh
    sensors = [s for s in defs.sensors or [] if not isinstance(s, dg.AutomationConditionSensorDefinition)]
    assert {s.name for s in sensors} >= {"chain_new_blocks_sensor", "fraud_rescore_sensor", "market_landing_sensor"}
    # a chain range materialized before any fraud model exists: the re-scoring sensor must not start a run
    instance.report_runless_asset_event(dg.AssetMaterialization("chain_transactions", partition="0000000000-0000000019"))
    for sensor in sensors:
        context = dg.build_sensor_context(instance=instance, resources=defs.resources, definitions=defs)
        with context:
            data = sensor.evaluate_tick(context)
        assert not data.run_requests, f"{sensor.name} asked for runs that cannot succeed yet: {data.run_requests}"
        if data.skip_message:
            assert len(data.skip_message) > 10  # a reason a person can read
