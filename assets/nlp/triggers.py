"""Triggers of the NLP pipeline: new inputs start a run; the end of an API batch's run is reported.

- `nlp_inputs_sensor`: a new or rewritten JSONL file in the NLP landing folder, or a batch the API
  queued in `nlp_batches`, requests one run of `nlp_job` (inputs -> detections -> translations).
  A batch's run has the batch id as run key (never requested twice) and in its tags.
- `nlp_batch_finished_sensor` / `nlp_batch_failed_sensor`: when such a run ends, the batch is
  marked done or failed (the API's GET reads that) and its callback URL, if any, is called with
  the outcome; only loopback and the hosts in NLP_CALLBACK_HOSTS are ever called.
"""


import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from assets.k8s import HEAVY_JOB_TAGS, heavy_executor
from assets.nlp.assets import language_detections, translation_inputs, translations
from ops.nlp import schema
from ops.nlp.callbacks import callback_problem
from ops.stream.events import batch_status
from resources.configurable import NlpResource, WarehouseResource
from resources.files import file_signature
from resources.stream_events import append_events
from resources.tables import NLP_BATCHES
from resources.warehouse import Warehouse

#: Seconds a callback may take before it is given up (it is called once; the GET endpoint is the record).
CALLBACK_TIMEOUT_SECONDS = 5.0
#: Batches one evaluation starts at most (the rest wait for the next tick).
MAX_BATCHES_PER_TICK = 20

nlp_job = dg.define_asset_job(
    "nlp_job",
    selection=dg.AssetSelection.assets(translation_inputs, language_detections, translations),
    description="Take in new texts, detect their languages and translate them (landing files and API batches).",
    executor_def=heavy_executor(),
    tags=HEAVY_JOB_TAGS,
)


@dg.sensor(
    job=nlp_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One run per new NLP landing file and per batch queued by the API.",
)
def nlp_inputs_sensor(context: dg.SensorEvaluationContext, nlp: NlpResource, warehouse: WarehouseResource):
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    requests = []
    folder = Path(nlp.landing_dir)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.suffix.lower() not in (".jsonl", ".ndjson"):
                continue
            signature = file_signature(path)
            if seen.get(path.name) == signature:
                continue
            seen[path.name] = signature
            requests.append(
                dg.RunRequest(
                    run_key=f"{path.name}:{signature}",
                    run_config=_inputs_config(files=[path.name]),
                    tags={"sextant/nlp_landing_file": path.name},
                )
            )
    db = warehouse.client
    queued = _queued_batches(db)
    for batch_id in queued:
        requests.append(
            dg.RunRequest(run_key=batch_id, run_config=_inputs_config(batch_ids=[batch_id]), tags={schema.BATCH_TAG: batch_id})
        )
    if queued:
        _set_status(db, queued, schema.SUBMITTED)
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def _inputs_config(files: list[str] | None = None, batch_ids: list[str] | None = None) -> dict:
    return {"ops": {"translation_inputs": {"config": {"files": files or [], "batch_ids": batch_ids or []}}}}


def _queued_batches(db: Warehouse) -> list[str]:
    if not db.has_table(NLP_BATCHES.name):
        return []
    rows = db.read(NLP_BATCHES.name, {"status": schema.QUEUED}, columns=["batch_id"], order_by=["created_at"],
                   limit=MAX_BATCHES_PER_TICK)  # fmt: skip
    return rows["batch_id"].to_list()


def _set_status(db: Warehouse, batch_ids: list[str], status: str, **fields) -> pl.DataFrame:
    rows = db.read(NLP_BATCHES.name, {"batch_id": batch_ids})
    now = datetime.now(UTC)
    updated = rows.with_columns(
        pl.lit(status).alias("status"),
        pl.lit(now).cast(schema.UTC_TS).alias("updated_at"),
        *(pl.lit(value, dtype=pl.Utf8).alias(name) for name, value in fields.items()),
    )
    db.upsert(NLP_BATCHES, updated)
    if "callback_status" not in fields:  # a status change (the callback's outcome is not one)
        append_events(db, [batch_status(row["batch_id"], status, row.get("client_id"), run_id=row.get("run_id"),
                                        detail=row.get("detail")) for row in updated.iter_rows(named=True)])  # fmt: skip
    return updated


def finish_batch(db: Warehouse, run: dg.DagsterRun, status: str, allowed_hosts: list[str], detail: str | None,
                 log) -> str | None:  # fmt: skip
    """Mark the run's batch done or failed and call its callback; the batch id, or None for other runs."""
    batch_id = run.tags.get(schema.BATCH_TAG)
    if not batch_id or not db.has_table(NLP_BATCHES.name):
        return None
    rows = _set_status(db, [batch_id], status, run_id=run.run_id, detail=detail)
    if rows.is_empty():
        log.warning(f"run {run.run_id} names batch {batch_id}, which is not in {NLP_BATCHES.name}")
        return batch_id
    url = rows["callback_url"][0]
    if url:
        outcome = _call_back(url, {"id": batch_id, "status": status, "run_id": run.run_id, "detail": detail},
                             allowed_hosts)  # fmt: skip
        _set_status(db, [batch_id], status, callback_status=outcome)
        log.info(f"batch {batch_id} {status}; callback {url}: {outcome}")
    return batch_id


def _call_back(url: str, payload: dict, allowed_hosts: list[str]) -> str:
    import httpx

    problem = callback_problem(url, allowed_hosts)
    if problem:
        return f"refused: {problem}"
    try:
        response = httpx.post(url, json=payload, timeout=CALLBACK_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as exc:
        return f"error: {exc.__class__.__name__}"
    return f"http {response.status_code}"


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[nlp_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks an API batch done when its run succeeds and calls its callback URL.",
)
def nlp_batch_finished_sensor(context: dg.RunStatusSensorContext, nlp: NlpResource, warehouse: WarehouseResource):
    finish_batch(warehouse.client, context.dagster_run, schema.DONE, nlp.callback_hosts, None, context.log)


@dg.run_failure_sensor(
    monitored_jobs=[nlp_job],
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks an API batch failed when its run fails and calls its callback URL.",
)
def nlp_batch_failed_sensor(context: dg.RunFailureSensorContext, nlp: NlpResource, warehouse: WarehouseResource):
    message = context.failure_event.message if context.failure_event else "run failed"
    finish_batch(warehouse.client, context.dagster_run, schema.FAILED, nlp.callback_hosts, (message or "")[:500],
                 context.log)  # fmt: skip
