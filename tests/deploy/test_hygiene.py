"""Instance hygiene: the purge deletes old finished runs with their event-log records, and keeps the
runs that hold an asset's latest materialization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from ops.hygiene import RunRecord, runs_to_purge
from orchestration.hygiene import dagster_purge_job, dagster_purge_schedule

T = datetime(2025, 1, 10, tzinfo=UTC)


def test_runs_to_purge_chooses_old_finished_runs_oldest_first():
    runs = [
        RunRecord("new", T - timedelta(days=1)),
        RunRecord("old", T - timedelta(days=40)),
        RunRecord("older", T - timedelta(days=50)),
        RunRecord("running", None),
        RunRecord("kept", T - timedelta(days=60)),
    ]
    assert runs_to_purge(runs, T - timedelta(days=30), keep={"kept"}) == ["older", "old"]


def test_purge_job_deletes_runs_and_their_events_but_keeps_latest_materializations():
    @dg.asset
    def thing() -> int:
        return 1

    @dg.op
    def fails() -> None:
        raise RuntimeError("no")

    @dg.job
    def failing():
        fails()

    with dg.instance_for_test() as instance:
        old = dg.materialize([thing], instance=instance).run_id
        latest = dg.materialize([thing], instance=instance).run_id
        failed = failing.execute_in_process(instance=instance, raise_on_error=False).run_id
        assert instance.all_logs(old)
        result = dagster_purge_job.execute_in_process(
            instance=instance, run_config={"ops": {"purge_old_runs": {"config": {"older_than_days": 0}}}}
        )
        assert result.success
        assert result.output_for_node("purge_old_runs") == 2
        assert instance.get_run_by_id(old) is None and instance.get_run_by_id(failed) is None
        assert not instance.all_logs(old)  # its event-log records went with it
        assert instance.get_run_by_id(latest) is not None
        event = instance.get_latest_materialization_event(dg.AssetKey("thing"))
        assert event is not None and event.run_id == latest


def test_purge_respects_the_retention_period():
    @dg.asset
    def thing() -> int:
        return 1

    with dg.instance_for_test() as instance:
        run = dg.materialize([thing], instance=instance).run_id
        dg.materialize([thing], instance=instance)
        result = dagster_purge_job.execute_in_process(
            instance=instance, run_config={"ops": {"purge_old_runs": {"config": {"older_than_days": 30}}}}
        )
        assert result.output_for_node("purge_old_runs") == 0
        assert instance.get_run_by_id(run) is not None


def test_purge_is_scheduled_daily_and_running():
    assert dagster_purge_schedule.cron_schedule == "30 4 * * *"
    assert dagster_purge_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert dagster_purge_schedule.job_name == dagster_purge_job.name
