"""`install_observability`: request ids, the access log and request metrics around the whole of an app.

Its own module because it is the one place that knows the order of the layers: they wrap the app
outside Starlette's error middleware, so a 500 produced by the app's error handler is counted as a
500 and still carries its request id, and each request starts with no request id left over.
"""

from __future__ import annotations

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from starlette.types import ASGIApp

from serving.observability.access_log import AccessLogMiddleware
from serving.observability.metrics import Metrics
from serving.observability.request_ids import (
    REQUEST_ID_HEADER,
    FreshRequestContext,
    new_request_id,
    valid_request_id,
)
from serving.observability.warehouse_metrics import WarehouseMetricsCollector


def install_observability(
    app: FastAPI, metrics: Metrics, service_name: str, *, warehouse_metrics: bool = True
) -> Metrics:
    """Request ids, access log and request metrics around the whole of `app`; `app.state.metrics`.

    Call it once, before the app serves (a second call on the same app does nothing and returns the
    metrics installed first). The layers wrap Starlette's own error middleware, so the 500 answer of
    an unhandled exception passes through them: counted as a 500, logged, with its `X-Request-ID`.
    With `warehouse_metrics`, a `WarehouseMetricsCollector` over `app.state.warehouse` (opened by
    the lifespan) is registered on `metrics`.
    """
    existing = getattr(app.state, "metrics", None)
    if getattr(app.state, "observability_installed", False) and existing is not None:
        return existing
    if app.middleware_stack is not None:
        raise RuntimeError("install_observability must be called before the app starts serving")
    app.state.metrics = metrics
    app.state.service_name = service_name
    app.state.observability_installed = True
    if warehouse_metrics:
        metrics.register_collector(WarehouseMetricsCollector(lambda: getattr(app.state, "warehouse", None)))

    build_inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        inner = build_inner()  # ServerErrorMiddleware, user middleware, ExceptionMiddleware, router
        observed = AccessLogMiddleware(inner, metrics, service_name)
        with_id = CorrelationIdMiddleware(
            observed,
            header_name=REQUEST_ID_HEADER,
            generator=new_request_id,
            validator=valid_request_id,
            update_request_header=True,
        )
        return FreshRequestContext(with_id)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return metrics


__all__ = ["install_observability"]
