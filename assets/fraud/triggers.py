"""When the fraud assets run: a daily retrain-and-score, and a re-score after new chain ranges.

- `fraud_daily_schedule` runs the whole `fraud` group once a day (new feedback labels reach the
  model then), with `address_features` in full (every address from the whole chain tables: what a reorg
  or a range indexed below the incremental cursor changed is repaired within a day); the retrained
  models then re-score every address.
- `fraud_rescore_sensor` watches materializations of `chain_transactions` (any block range) and,
  when new ones appeared since its cursor (the last event storage id it saw) and no re-scoring run
  is queued or running, starts one run of `fraud_scoring_job`: the new blocks folded into address features (the addresses they touch), those
  addresses re-scored with the promoted models.
"""


import dagster as dg

from assets.runs_in_flight import in_flight
from ops.fraud.model import FRAUD_MODEL
from resources.configurable import ModelStoreResource
from resources.tables import CHAIN_TRANSACTIONS

fraud_job = dg.define_asset_job(
    "fraud_job",
    selection=dg.AssetSelection.groups("fraud"),
    description="Features, both models, the evaluation and the risk scores.",
)

fraud_scoring_job = dg.define_asset_job(
    "fraud_scoring_job",
    selection=dg.AssetSelection.assets("address_features", "address_risk_scores"),
    executor_def=dg.in_process_executor,  # two small steps in a row: a process each would double the start-up
    description="Fold the new blocks into address features and re-score the addresses whose features changed.",
)

#: Materialization events read per sensor tick (more are picked up on the next tick).
EVENTS_PER_TICK = 1000


@dg.schedule(
    job=fraud_job,
    cron_schedule="15 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 03:15 UTC: recompute every address's features, retrain both models with the latest labels, "
    "evaluate, re-score.",
)
def fraud_daily_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"fraud-daily-{context.scheduled_execution_time:%Y-%m-%d}",
                         run_config={"ops": {"address_features": {"config": {"full": True}}}})


@dg.sensor(
    job=fraud_scoring_job,
    minimum_interval_seconds=3,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-score addresses after chain_transactions of new (or re-indexed) block ranges materialize.",
)
def fraud_rescore_sensor(context: dg.SensorEvaluationContext, model_store: ModelStoreResource):
    # With none promoted the prior serves (address_risk_scores says so); with none trained there is
    # not even a prior, and scoring would fail: say what is missing.
    if not model_store.client.versions(FRAUD_MODEL):
        return dg.SkipReason(
            f"no {FRAUD_MODEL} trained yet: materialize the fraud group (fraud_job, or the daily schedule) "
            "once labels are configured; re-scoring starts after that"
        )
    if in_flight(context.instance, fraud_scoring_job.name):  # the next run takes what arrives meanwhile
        return dg.SkipReason("a re-scoring run is queued or running; new chain ranges wait for the next one")
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(CHAIN_TRANSACTIONS.name), after_storage_id=after),
        limit=EVENTS_PER_TICK,
        ascending=True,
    ).records
    if not records:
        return dg.SkipReason("no new chain_transactions materializations")
    last = max(r.storage_id for r in records)
    ranges = sorted({r.partition_key for r in records if r.partition_key})
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"chain-through-{last}",
                tags={"fraud/chain_ranges": ",".join(ranges)[:200] or "unpartitioned"},
            )
        ],
        cursor=str(last),
    )
