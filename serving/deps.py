"""Dependencies shared by the routers. Everything comes from `request.app.state`, set by the app.

Nothing here is a module global: two apps in one process (tests do that) never share state.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from resources.settings import Settings
from resources.warehouse import Warehouse
from serving.errors import NotMaterialized


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_warehouse(request: Request) -> Warehouse:
    warehouse = getattr(request.app.state, "warehouse", None)
    if warehouse is None:
        raise RuntimeError("the warehouse is not open: the app's lifespan has not started")
    return warehouse


class TableGuard:
    """Answers 404 (not 500) while a table has not been materialized; one per app.

    Once a table was found it is remembered, so later requests skip the database round trip.
    """

    def __init__(self, warehouse: Warehouse):
        self._warehouse = warehouse
        self._loaded: set[str] = set()

    def require(self, name: str) -> None:
        """Return when table `name` exists; raise NotMaterialized when it does not."""
        if name in self._loaded:
            return
        try:
            self._warehouse.table(name)  # thread-safe: concurrent first lookups wait for one reflection
        except KeyError as exc:  # Warehouse.table: "does not exist yet"
            raise NotMaterialized(name) from exc
        self._loaded.add(name)


async def get_table_guard(request: Request) -> TableGuard:
    guard = getattr(request.app.state, "tables", None)
    if guard is None:
        raise RuntimeError("the warehouse is not open: the app's lifespan has not started")
    return guard


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
WarehouseDep = Annotated[Warehouse, Depends(get_warehouse)]
#: Call `.require(table)` in the endpoint body, after FastAPI validated the request (a bad query is 422
#: even while the table is missing).
TablesDep = Annotated[TableGuard, Depends(get_table_guard)]
