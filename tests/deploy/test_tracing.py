"""OpenTelemetry tracing: off by default; with an exporter, the spans of one request (and of its SQL),
continuing the caller's trace; and the spans of a finished Dagster run."""

from __future__ import annotations

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from serving.tracing import install_tracing


def test_off_by_default(sqlite_settings):
    from serving.app import create_app

    app = create_app(sqlite_settings)
    assert sqlite_settings.otel_exporter_otlp_endpoint is None
    assert install_tracing(app, sqlite_settings) is False
    assert not hasattr(app.state, "tracer_provider")


def test_endpoint_setting_builds_an_otlp_exporter(sqlite_settings):
    from serving.app import create_app

    settings = sqlite_settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:9"})
    app = create_app(settings)
    assert install_tracing(app, settings) is True
    processor = app.state.tracer_provider._active_span_processor._span_processors[0]
    exporter = processor._batch_processor._exporter
    assert type(exporter).__name__ == "OTLPSpanExporter"
    assert exporter._endpoint == "http://127.0.0.1:9/v1/traces"
    app.state.tracer_provider.shutdown()


@pytest.fixture
def traced(sqlite_settings):
    from serving.app import create_app

    exporter = InMemorySpanExporter()
    app = create_app(sqlite_settings)
    assert install_tracing(app, sqlite_settings, exporter=exporter)
    with TestClient(app) as client:
        yield client, exporter


def test_spans_of_one_request(traced):
    client, exporter = traced
    exporter.clear()
    parent_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    response = client.get(
        "/api/health/ready",
        headers={"traceparent": f"00-{parent_trace}-00f067aa0ba902b7-01", "X-Request-ID": "req-1"},
    )
    assert response.status_code in (200, 503)
    spans = exporter.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    assert server.name == "GET /api/health/ready"
    assert server.attributes["http.route"] == "/api/health/ready"
    assert server.attributes["http.response.status_code"] == response.status_code
    assert server.attributes["sextant.request_id"] == "req-1"
    assert format(server.context.trace_id, "032x") == parent_trace  # the caller's trace goes on
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    sql = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert sql, "the readiness check queries the warehouse"
    assert all(s.parent.span_id == server.context.span_id for s in sql)
    assert all(s.attributes["db.system.name"] == "sqlite" for s in sql)


def test_unmatched_and_refused_requests_are_named_by_route(traced):
    client, exporter = traced
    exporter.clear()
    assert client.get("/api/v1/data/symbols").status_code == 401
    assert client.get("/nope").status_code == 404
    names = [s.name for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert names == ["GET /api/v1/data/symbols", "GET unmatched"]
    assert all(s.status.status_code != StatusCode.ERROR for s in exporter.get_finished_spans())


def test_spans_of_a_dagster_run():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from orchestration.tracing import export_run_spans, run_tracing_sensors

    @dg.asset
    def first() -> int:
        return 1

    @dg.asset
    def second(first: int) -> int:
        return first + 1

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with dg.instance_for_test() as instance:
        result = dg.materialize([first, second], instance=instance)
        assert export_run_spans(instance, result.run_id, provider) == 3
    spans = {s.name: s for s in exporter.get_finished_spans()}
    (root,) = [s for name, s in spans.items() if name.startswith("run ")]
    assert root.attributes["dagster.run_id"] == result.run_id
    assert root.attributes["dagster.run_status"] == "SUCCESS"
    for step in ("step first", "step second"):
        assert spans[step].parent.span_id == root.context.span_id
        assert root.start_time <= spans[step].start_time <= spans[step].end_time <= root.end_time
    assert spans["step first"].end_time <= spans["step second"].start_time
    from resources.settings import Settings

    assert run_tracing_sensors(Settings()) == []
    assert len(run_tracing_sensors(Settings(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9"))) == 2
