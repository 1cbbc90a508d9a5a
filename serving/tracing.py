"""OpenTelemetry tracing of the API, optional and off by default.

With OTEL_EXPORTER_OTLP_ENDPOINT set (an OTLP/HTTP collector; Jaeger reads OTLP directly), each HTTP
request becomes a SERVER span named `METHOD /route/{template}` (method, path, route, status,
request id), continuing the caller's W3C `traceparent`, and each SQL statement the request runs
becomes a child CLIENT span. Without the setting nothing is installed and the SDK is not imported.
FastAPI's own (native) telemetry is switched off in `serving.app`: this module is the one tracer.

The tracer provider is the app's own (`app.state.tracer_provider`), not the process-global one, so
apps built side by side (tests, workers) never mix spans; `install_tracing(app, settings,
exporter=...)` lets a test hand in an in-memory exporter.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resources.settings import Settings
from resources.tracing import build_tracer_provider
from serving.observability.endpoints import ENDPOINT_SCOPE_KEY, UNMATCHED, endpoint_template
from serving.observability.request_ids import request_id

log = logging.getLogger("serving.tracing")

#: The tracer of the request being served (set by the middleware; read by the SQL listeners).
_request_tracer: ContextVar[Any] = ContextVar("sextant_request_tracer", default=None)
_SQL_LISTENERS_INSTALLED = False


def install_tracing(app: Any, settings: Settings, *, exporter: Any = None) -> bool:
    """Trace `app`'s requests when OTEL_EXPORTER_OTLP_ENDPOINT is set (or an exporter is given).

    Call it before the app serves; returns whether tracing was installed. The provider flushes
    its last spans when the process exits.
    """
    if exporter is None and not settings.otel_exporter_otlp_endpoint:
        return False
    provider = build_tracer_provider(settings.service_name, settings.otel_exporter_otlp_endpoint, exporter)
    app.state.tracer_provider = provider
    app.add_middleware(TracingMiddleware, tracer=provider.get_tracer("sextant.serving"))
    _install_sql_listeners()
    return True


class TracingMiddleware:
    """Pure ASGI: one SERVER span per HTTP request, in the context the caller's traceparent gives."""

    def __init__(self, app: ASGIApp, tracer: Any):
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, Status, StatusCode
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers") or ()}
        parent = TraceContextTextMapPropagator().extract(headers)
        method = scope.get("method", "")
        root_path_before = scope.get("root_path", "") or ""
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with self.tracer.start_as_current_span(
            method, context=parent, kind=SpanKind.SERVER, record_exception=True, set_status_on_exception=True
        ) as span:
            token = _request_tracer.set(self.tracer)
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                _request_tracer.reset(token)
                route = (
                    scope.get(ENDPOINT_SCOPE_KEY) or endpoint_template(scope, root_path_before) or UNMATCHED
                )
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("url.path", scope.get("path", ""))
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                rid = request_id()
                if rid:
                    span.set_attribute("sextant.request_id", rid)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))


def _install_sql_listeners() -> None:
    """Child spans for SQL statements run on behalf of a traced request (any SQLAlchemy engine)."""
    global _SQL_LISTENERS_INSTALLED
    if _SQL_LISTENERS_INSTALLED:
        return
    import sqlalchemy as sa
    from sqlalchemy.engine import Engine

    def before(conn, cursor, statement, parameters, context, executemany) -> None:
        tracer = _request_tracer.get()
        if tracer is None or context is None:
            return
        from opentelemetry.trace import SpanKind

        operation = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "SQL"
        span = tracer.start_span(f"db {operation}", kind=SpanKind.CLIENT)
        span.set_attribute("db.system.name", conn.dialect.name)
        span.set_attribute("db.operation.name", operation)
        span.set_attribute("db.query.text", statement[:2000])
        context._sextant_span = span

    def after(conn, cursor, statement, parameters, context, executemany) -> None:
        span = getattr(context, "_sextant_span", None)
        if span is not None:
            span.end()
            context._sextant_span = None

    def error(exception_context) -> None:
        context = exception_context.execution_context
        span = getattr(context, "_sextant_span", None) if context is not None else None
        if span is not None:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, exception_context.original_exception.__class__.__name__))
            span.end()
            context._sextant_span = None

    sa.event.listen(Engine, "before_cursor_execute", before)
    sa.event.listen(Engine, "after_cursor_execute", after)
    sa.event.listen(Engine, "handle_error", error)
    _SQL_LISTENERS_INSTALLED = True


__all__ = ["TracingMiddleware", "install_tracing"]
