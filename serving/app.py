"""The FastAPI application: `create_app(settings, warehouse)`.

Run it with `uvicorn serving.app:create_app --factory`. Everything the app holds lives on
`app.state`, set up by the lifespan, so each app (one per test, one per worker) is independent.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from resources.settings import Settings, get_settings
from resources.warehouse import Warehouse
from serving import package_version
from serving.deps import TableGuard
from serving.errors import install_error_handlers
from serving.routers import data, health

log = logging.getLogger("serving.app")

#: Routers mounted whatever the settings say.
ALWAYS_MOUNTED: tuple[APIRouter, ...] = (health.router,)

#: Domain name (as listed in `Settings.serving_domains`) -> its router. One line per domain.
DOMAIN_ROUTERS: dict[str, APIRouter] = {
    "data": data.router,
}


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
        wh = Warehouse(settings.resolved_warehouse_url) if owned else warehouse
        app.state.warehouse = wh
        app.state.tables = TableGuard(wh)
        try:
            yield
        finally:
            app.state.warehouse = None
            app.state.tables = None
            if owned:
                wh.dispose()

    app = FastAPI(
        title="Sextant API",
        version=package_version(),
        description="Market, chain, fraud and NLP data and models published by the Sextant pipelines.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    for router in ALWAYS_MOUNTED:
        app.include_router(router)
    for domain in dict.fromkeys(settings.serving_domains):  # each once, in the order given
        router = DOMAIN_ROUTERS.get(domain)
        if router is None:
            log.info("serving domain %r has no router yet; not mounted", domain)
            continue
        app.include_router(router)
    return app
