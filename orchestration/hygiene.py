"""Dagster instance hygiene: the daily purge of old runs and their event-log records.

Dagster keeps every run and every event forever; on PostgreSQL the event log is what grows. The
instance config (deploy/dagster/dagster-k8s.yaml) bounds schedule and sensor ticks with `retention`
and caps concurrency; this job bounds runs: each night it deletes the runs that finished more than
DAGSTER_RUN_RETENTION_DAYS ago (`DagsterInstance.delete_run` takes their event-log records with
them), except those holding an asset's latest materialization (see `ops.hygiene`).

Registered in the Definitions root as `dagster_purge_job` and `dagster_purge_schedule` (04:30 UTC).
"""

from datetime import UTC, datetime, timedelta

import dagster as dg

from ops.hygiene import RunRecord, runs_to_purge
from resources.settings import get_settings

#: Runs looked at per page while listing the instance's finished runs.
PAGE = 500
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


class PurgeConfig(dg.Config):
    #: Finished runs older than this many days are deleted; -1 = DAGSTER_RUN_RETENTION_DAYS.
    older_than_days: float = -1


def _finished_before(instance: dg.DagsterInstance, cutoff: datetime) -> list[RunRecord]:
    records: list[RunRecord] = []
    cursor = None
    while True:
        page = instance.get_run_records(
            filters=dg.RunsFilter(statuses=FINISHED, updated_before=cutoff), limit=PAGE, cursor=cursor
        )
        if not page:
            return records
        for record in page:
            end = record.end_time
            ended = datetime.fromtimestamp(end, UTC) if end is not None else None
            records.append(RunRecord(record.dagster_run.run_id, ended))
        cursor = page[-1].dagster_run.run_id


def _latest_materialization_runs(instance: dg.DagsterInstance) -> set[str]:
    keys = list(instance.get_asset_keys())
    if not keys:
        return set()
    latest = instance.get_latest_materialization_events(keys)
    return {event.run_id for event in latest.values() if event is not None}


@dg.op(description="Delete finished runs (and their event-log records) past the retention period.")
def purge_old_runs(context: dg.OpExecutionContext, config: PurgeConfig) -> dg.Output[int]:
    days = (
        config.older_than_days if config.older_than_days >= 0 else get_settings().dagster_run_retention_days
    )
    cutoff = datetime.now(UTC) - timedelta(days=days)
    instance = context.instance
    keep = _latest_materialization_runs(instance) | {context.run_id}
    doomed = runs_to_purge(_finished_before(instance, cutoff), cutoff, keep)
    for n, run_id in enumerate(doomed, 1):
        instance.delete_run(run_id)
        if n % 100 == 0:
            context.log.info(f"deleted {n}/{len(doomed)} runs")
    context.log.info(f"deleted {len(doomed)} runs that ended before {cutoff:%Y-%m-%d %H:%M} UTC")
    return dg.Output(
        len(doomed),
        metadata={"deleted_runs": len(doomed), "cutoff": cutoff.isoformat(), "kept_latest": len(keep) - 1},
    )


@dg.job(description="Instance hygiene: forget runs and event-log records older than the retention period.")
def dagster_purge_job():
    purge_old_runs()


dagster_purge_schedule = dg.ScheduleDefinition(
    job=dagster_purge_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily purge of old runs and their event-log records (DAGSTER_RUN_RETENTION_DAYS).",
)

HYGIENE_JOBS = [dagster_purge_job]
HYGIENE_SCHEDULES = [dagster_purge_schedule]
