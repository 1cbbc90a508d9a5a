"""The access middleware: times each HTTP request, records its request metrics and writes one access
log line with its endpoint, status and duration.

Pure ASGI rather than a Starlette `BaseHTTPMiddleware`, so it adds no task per request and sees the
answer of every layer inside it, including the 500 written by Starlette's error middleware.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.observability.endpoints import (
    ENDPOINT_SCOPE_KEY,
    GATEWAY,
    UNMATCHED,
    endpoint_template,
    service_of,
)
from serving.observability.json_logs import current_request_scope, emit_structured, user_id_of
from serving.observability.metrics import Metrics

# One logger name for the whole package.
log = logging.getLogger("serving.observability")


class AccessLogMiddleware:
    """Pure ASGI: times each HTTP request, records its metrics and writes one access log line."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        service_name: str | None = None,
        logger_name: str = "serving.access",
    ):
        self.app = app
        self.metrics = metrics
        self.service_name = service_name
        self.log = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        root_path_before = scope.get("root_path", "") or ""
        status: int | None = None
        token = current_request_scope.set(scope)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_status)
        except asyncio.CancelledError as exc:  # the client went away
            error = exc
            status = status or 499
            raise
        except BaseException as exc:  # recorded as a server failure, then re-raised untouched
            error = exc
            status = 500 if status is None or status < 500 else status
            raise
        finally:
            seconds = time.perf_counter() - start
            try:
                self._record(scope, root_path_before, status or 500, seconds, error)
            except Exception:
                log.exception("access log failed")
            current_request_scope.reset(token)

    def _record(
        self, scope: Scope, root_path_before: str, status: int, seconds: float, error: BaseException | None
    ) -> None:
        template = scope.get(ENDPOINT_SCOPE_KEY) or endpoint_template(scope, root_path_before)
        endpoint = template or UNMATCHED
        service = service_of(template) if template else GATEWAY
        self.metrics.observe_request(service, endpoint, status, seconds)
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        client = scope.get("client")
        event = {
            "event": "request",
            "service": self.service_name,
            "duration_ms": round(seconds * 1000.0, 3),
            "user_id": user_id_of(scope),
            "metadata": {
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "status": status,
                "endpoint": endpoint,
                "domain": service,
                "client": client[0] if client else None,
                **({"error": error.__class__.__name__} if error is not None else {}),
            },
        }
        emit_structured(self.log, level, event)


__all__ = ["AccessLogMiddleware"]
