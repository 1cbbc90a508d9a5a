"""Liveness and readiness probes (Kubernetes, load balancers, `docker compose` health checks)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serving.deps import WarehouseDep
from serving.schemas import Liveness, Readiness

log = logging.getLogger("serving.health")

router = APIRouter(prefix="/api/health", tags=["health"])


@router.get("/live", response_model=Liveness, summary="The process answers")
async def live() -> Liveness:
    return Liveness()


@router.get(
    "/ready",
    response_model=Readiness,
    summary="The process can serve: its dependencies answer",
    responses={503: {"model": Readiness, "description": "A dependency does not answer."}},
)
def ready(warehouse: WarehouseDep) -> Readiness | JSONResponse:
    checks: dict[str, str] = {}
    try:
        warehouse.ping()
        checks["warehouse"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the class says which
        log.warning("readiness: warehouse ping failed: %s", exc.__class__.__name__)
        checks["warehouse"] = exc.__class__.__name__
    if all(value == "ok" for value in checks.values()):
        return Readiness(status="ready", checks=checks)
    body = Readiness(status="not_ready", checks=checks)
    return JSONResponse(status_code=503, content=body.model_dump())
