"""The OpenTelemetry tracer provider both the API and the Dagster run tracing export through.

One place builds it (an OTLP/HTTP exporter, or an in-memory one for tests) so the API
(serving/tracing.py) and the runs' spans (orchestration/tracing.py) agree on where traces go; the
SDK is imported only when tracing is configured.
"""

from __future__ import annotations

from typing import Any


def build_tracer_provider(service_name: str, endpoint: str | None = None, exporter: Any = None):
    """A TracerProvider exporting to `exporter` (synchronously; for tests) or, batched, over OTLP/HTTP
    to `endpoint` (`http://collector:4318`, the `/v1/traces` path added when missing)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        url = endpoint.rstrip("/")
        url = url if url.endswith("/v1/traces") else f"{url}/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    return provider
