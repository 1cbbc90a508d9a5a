"""The FastAPI application: `create_app(settings, warehouse)`.

Run it with `uvicorn serving.app:create_app --factory`. Everything the app holds lives on
`app.state`, set up by the lifespan, so each app (one per test, one per worker) is independent:

    settings, warehouse, tables (TableGuard), token_store, rate_limiter, cache, guard,
    data_versions, health_monitor, model_store, models (name -> serving.served_models.ServedModel), metrics

Every domain router is mounted behind the same gateway: bearer auth with the `read` scope, then
the per-client rate limit; its reads go through `serving.cached_reads.cached_read` (cache, circuit
breaker, retries). Only `/api/health/*` is open; `/api/metrics` and the dashboard follow
`METRICS_PUBLIC`. Requests carry an `X-Request-ID`, are logged as JSON lines and counted in
Prometheus metrics (`serving.observability`). `/api/v1/stream` (WebSocket, `serving.stream`) applies
the same token, scope and budget itself, answering refusals with close codes.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from resources.model_store import ModelStore
from resources.settings import Settings, get_settings
from resources.tokens import TokenStore
from resources.warehouse import Warehouse
from serving import package_version
from serving.auth import require_scopes
from serving.body_limit import BodySizeLimitMiddleware
from serving.cache import ResponseCache
from serving.cached_reads import DataVersions
from serving.deps import TableGuard
from serving.errors import install_error_handlers
from serving.fastpath import install_fast_path
from serving.graphql.router import build_router as build_graphql_router
from serving.health_monitor import HealthMonitor
from serving.observability.install import install_observability
from serving.observability.json_logs import configure_logging
from serving.observability.metrics import Metrics, build_metrics_router
from serving.ratelimit import RateLimiter, install_rate_limit_headers, rate_limit
from serving.resilience import Guard, install_resilience_handlers
from serving.routers import chain, dashboard, data, fraud, health, ml, nlp
from serving.schemas import ErrorBody
from serving.stream.endpoint import router as stream_router
from serving.stream.metrics import stream_collector
from serving.stream.service import StreamService
from serving.strict_json import StrictJSONMiddleware
from serving.tracing import install_tracing

log = logging.getLogger("serving.app")

#: Routers mounted whatever the settings say, without auth (probes must answer anonymous callers).
OPEN_ROUTERS: tuple[APIRouter, ...] = (health.router,)

#: Domain name (as listed in `Settings.serving_domains`) -> its router. One line per domain.
DOMAIN_ROUTERS: dict[str, APIRouter] = {
    "data": data.router,
    "chain": chain.router,
    "fraud": fraud.router,
    "nlp": nlp.router,
    "ml": ml.router,
}

#: What every domain route depends on, in order: who is calling, then their budget.
GATEWAY = [Depends(require_scopes("read")), Depends(rate_limit)]
#: The gateway's own answers, documented on every route behind it (generated clients expect them).
GATEWAY_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "Missing, malformed, unknown or revoked bearer token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope the route needs."},
    429: {"model": ErrorBody, "description": "Rate limit exceeded; see Retry-After and X-RateLimit-*."},
    413: {"model": ErrorBody, "description": "Request body larger than MAX_BODY_BYTES."},
}


def _raise_unless(ping, name: str):
    """A monitor check from a ping that answers True/False."""

    async def check() -> None:
        if not await ping():
            raise ConnectionError(f"{name} does not answer")

    return check


def create_app(settings: Settings | None = None, warehouse: Warehouse | None = None) -> FastAPI:
    """The API for `settings` (the process settings by default).

    A `warehouse` passed in stays the caller's: the app uses it and leaves it open. Otherwise the
    lifespan opens one on `settings.resolved_warehouse_url` and disposes of it on shutdown.
    Opening does not connect; the readiness probe tells whether the database answers.
    """
    if settings is None:
        settings = get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = warehouse is None
        db = Warehouse(settings.resolved_warehouse_url) if owned else warehouse
        state = app.state
        state.warehouse = db
        state.tables = TableGuard(db)
        state.token_store = TokenStore(db)
        state.rate_limiter = RateLimiter(
            settings.cache_url,
            settings.rate_limit_default,
            settings.rate_limit_overrides,
            trusted_proxies=settings.trusted_proxies,
            namespace=settings.service_name,
            replicas=settings.rate_limit_replicas,
        )
        state.cache = ResponseCache(settings.cache_url, settings.cache_ttl_seconds, namespace=settings.service_name)
        state.guard = Guard.from_settings(settings)
        state.guard.on_state_change(lambda dependency, _old, new: state.metrics.set_breaker_state(dependency, new))
        state.model_store = ModelStore(settings.resolved_model_store_url)
        state.models = {}  # name -> ServedModel, registered by the routers that serve models
        state.data_versions = DataVersions(db, state.guard)
        # Health checks call the dependencies directly, never through the guard: an open breaker
        # must not hide a recovery from the monitor.
        state.health_monitor = HealthMonitor.from_settings(
            {
                "warehouse": db.ping,
                "cache": _raise_unless(state.cache.ping, "cache"),
                # Reported, never critical: without a promoted model the baseline still answers.
                **(ml.health_checks(state, settings) if "ml" in settings.serving_domains else {}),
            },
            settings,
        )
        state.health_monitor.start()
        # The live event stream (`serving.stream`): its feed reads the log from now on.
        state.stream = StreamService(settings, db) if settings.stream_enabled else None
        if state.stream is not None:
            state.stream.start()
        # Everything built so far lives as long as the app: keep it out of the garbage collector's
        # full passes, which otherwise stall requests for 100+ ms every few seconds under load.
        gc.freeze()
        try:
            yield
        finally:
            if state.stream is not None:
                await state.stream.stop()
            await state.health_monitor.stop()
            await state.data_versions.close()
            await state.cache.close()
            await state.rate_limiter.close()
            for name in (
                "health_monitor", "guard", "data_versions", "cache", "rate_limiter", "token_store", "models",
                "model_store", "stream",
            ):
                setattr(state, name, None)
            state.warehouse = None
            state.tables = None
            if owned:
                db.dispose()

    app = FastAPI(
        title="Sextant API",
        version=package_version(),
        description="Market, chain, fraud and NLP data and models published by the Sextant pipelines. "
        "Every route but the health probes and these docs needs a bearer token (`sextant token create`); "
        "metrics and the dashboard too when METRICS_PUBLIC=false.",
        docs_url="/api/docs",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        # Tracing is ours (`serving.tracing`, on the app's own provider, off unless configured).
        # FastAPI's native telemetry stays off: it would double the spans whenever some library set a
        # global provider, and while off it costs nothing (on, it checks the providers per request).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    configure_logging(settings.service_name)  # JSON lines; after uvicorn's own logging setup
    install_observability(app, Metrics(settings.service_name), settings.service_name)
    app.state.metrics.register_collector(stream_collector(lambda: getattr(app.state, "stream", None)), "stream")
    install_error_handlers(app)
    install_resilience_handlers(app)
    install_rate_limit_headers(app)
    app.add_middleware(StrictJSONMiddleware)  # inside the size limit: it reads the whole body
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    # Repeated cached reads answered from the cache without routing (outermost of the app's own).
    install_fast_path(app)
    install_tracing(app, settings)  # after the fast path, so its answers are traced too

    for router in OPEN_ROUTERS:
        app.include_router(router)
    # Operational views: open (rate-limited by address), or behind a read token when METRICS_PUBLIC=false.
    limited = [Depends(rate_limit)]
    app.include_router(build_metrics_router(settings.metrics_public), dependencies=limited)
    if settings.metrics_public:
        app.include_router(dashboard.router, dependencies=limited, responses={429: GATEWAY_RESPONSES[429]})
    else:
        app.include_router(dashboard.router, dependencies=GATEWAY, responses=GATEWAY_RESPONSES)
    if settings.stream_enabled:
        # WebSocket: the gateway's rules are applied by the endpoint itself (close codes, not statuses).
        app.include_router(stream_router)
    for domain in dict.fromkeys(settings.serving_domains):  # each once, in the order given
        router = DOMAIN_ROUTERS.get(domain)
        if router is None:
            log.info("serving domain %r has no router yet; not mounted", domain)
            continue
        app.include_router(router, dependencies=GATEWAY, responses=GATEWAY_RESPONSES)
    if "chain" in settings.serving_domains:
        # GraphQL, behind the same gateway; with the chain domain, whose address profile it centres on.
        app.include_router(build_graphql_router(), dependencies=GATEWAY, responses=GATEWAY_RESPONSES)
    ml.declare_horizons(app, settings.price_horizons)  # what the settings allow, in the schema too
    nlp.declare_limits(app, settings)
    return app
