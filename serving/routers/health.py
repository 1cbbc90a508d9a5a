"""Liveness and readiness probes (Kubernetes, load balancers, `docker compose` health checks).

Readiness needs the warehouse: checked now (bounded by the health timeout) and not marked
unhealthy by the background monitor. On a SQLite file the check includes the file's identity
(`Warehouse.ping`): moved or deleted -> not ready, with a reason naming the path (a file path, never
credentials; other failures say only their class); moved back -> ready again; another file at the
path -> the pool reopens on it. The cache is reported but never makes the service unready:
without Redis the service answers from its in-process fallback, and pulling every replica out of
the load balancer for that would turn a degraded cache into an outage.
"""

from __future__ import annotations

import dataclasses
import logging

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from resources.warehouse import WarehouseFileMissing
from serving.schemas import Liveness, MonitoredDependency, Readiness

log = logging.getLogger("serving.health")

router = APIRouter(prefix="/api/health", tags=["health"])

#: Dependencies the service cannot answer without.
CRITICAL = ("warehouse",)


@router.get("/live", response_model=Liveness, summary="The process answers")
async def live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The process can serve: its dependencies answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
async def ready(request: Request) -> Readiness | JSONResponse:
    state = request.app.state
    checks: dict[str, str] = {}
    try:
        with anyio.fail_after(state.settings.health_timeout_seconds):
            await anyio.to_thread.run_sync(state.warehouse.ping, abandon_on_cancel=True)
        checks["warehouse"] = "ok"
    except WarehouseFileMissing as exc:
        log.warning("readiness: %s", exc)
        checks["warehouse"] = f"{exc.__class__.__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the class says which
        log.warning("readiness: warehouse ping failed: %s", exc.__class__.__name__)
        checks["warehouse"] = exc.__class__.__name__
    cache = state.cache
    checks["cache"] = "ok" if await cache.ping() else f"degraded (answering from {cache.backend})"
    monitor = {
        name: MonitoredDependency(**dataclasses.asdict(status))
        for name, status in state.health_monitor.status().items()
    }
    healthy = all(checks.get(name) == "ok" for name in CRITICAL) and all(
        monitor[name].healthy for name in CRITICAL if name in monitor
    )
    body = Readiness(status="ready" if healthy else "not_ready", checks=checks, monitor=monitor)
    if healthy:
        return body
    return JSONResponse(status_code=503, content=body.model_dump(mode="json"))
