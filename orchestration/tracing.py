"""OpenTelemetry spans of Dagster runs, optional and off by default.

When OTEL_EXPORTER_OTLP_ENDPOINT is set, `run_tracing_sensors` (registered in the Definitions root)
turn each finished run into one trace after the fact: a span for the run (job, run id, status,
tags of its partition range) from its start and end times, with a child span per step from
Dagster's step statistics. Nothing runs inside the steps, so tracing costs a run nothing and
cannot fail it; Jaeger shows the runs beside the API's requests.
"""

import dagster as dg

from resources.settings import Settings, get_settings

_PROVIDER = None


def _provider(settings: Settings):
    global _PROVIDER
    if _PROVIDER is None:
        from resources.tracing import build_tracer_provider

        _PROVIDER = build_tracer_provider("sextant-dagster", settings.otel_exporter_otlp_endpoint)
    return _PROVIDER


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def export_run_spans(instance: dg.DagsterInstance, run_id: str, provider) -> int:
    """Emit the spans of one finished run through `provider`; returns how many were made."""
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    record = instance.get_run_record_by_id(run_id)
    if record is None or record.start_time is None:
        return 0
    run = record.dagster_run
    end = record.end_time or record.start_time
    tracer = provider.get_tracer("sextant.dagster")
    root = tracer.start_span(
        f"run {run.job_name}",
        start_time=_ns(record.start_time),
        attributes={
            "dagster.run_id": run.run_id,
            "dagster.job_name": run.job_name,
            "dagster.run_status": run.status.value,
            **{f"dagster.tag.{k}": v for k, v in run.tags.items() if k.startswith("dagster/asset_partition")},
        },
    )
    if run.status != dg.DagsterRunStatus.SUCCESS:
        root.set_status(Status(StatusCode.ERROR, run.status.value))
    made = 1
    context = trace.set_span_in_context(root)
    for stats in instance.get_run_step_stats(run_id):
        if stats.start_time is None:
            continue
        step = tracer.start_span(
            f"step {stats.step_key}",
            context=context,
            start_time=_ns(stats.start_time),
            attributes={
                "dagster.step_key": stats.step_key,
                "dagster.step_status": stats.status.value if stats.status else "UNKNOWN",
                "dagster.attempts": stats.attempts or 1,
            },
        )
        if stats.status is not None and stats.status.value != "SUCCESS":
            step.set_status(Status(StatusCode.ERROR, stats.status.value))
        step.end(end_time=_ns(stats.end_time or end))
        made += 1
    root.end(end_time=_ns(end))
    provider.force_flush()
    return made


def _trace_run(context: dg.RunStatusSensorContext) -> None:
    made = export_run_spans(context.instance, context.dagster_run.run_id, _provider(get_settings()))
    context.log.info(f"exported {made} spans of run {context.dagster_run.run_id}")


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    name="run_tracing_success_sensor",
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Export the spans of each successful run over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT).",
)
def run_tracing_success_sensor(context: dg.RunStatusSensorContext):
    _trace_run(context)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.FAILURE,
    name="run_tracing_failure_sensor",
    monitor_all_code_locations=True,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Export the spans of each failed run over OTLP (OTEL_EXPORTER_OTLP_ENDPOINT).",
)
def run_tracing_failure_sensor(context: dg.RunStatusSensorContext):
    _trace_run(context)


def run_tracing_sensors(settings: Settings | None = None) -> list:
    """The tracing sensors when an OTLP endpoint is configured, else none."""
    settings = settings or get_settings()
    if not settings.otel_exporter_otlp_endpoint:
        return []
    return [run_tracing_success_sensor, run_tracing_failure_sensor]
