"""The one read path every domain router uses: data version -> cache -> guard -> warehouse.

    return await cached_read(request, "data", ["ohlcv"], params, load)

`load` is a blocking function (a warehouse read) returning a JSON-ready value. It runs in a worker
thread through the app's Guard (retries, circuit breaker). The answer is cached under the kind's
TTL with the tables' versions in the key, so a new materialization is never hidden by an old
entry; when the warehouse fails, the stale copy answers, and without one the error becomes a 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from resources.warehouse import Warehouse
from serving.observability.endpoints import service_of
from serving.resilience import Guard

log = logging.getLogger("serving.cached_reads")

#: Where the fast path (`serving.fastpath`) leaves its recorder in a request's scope.
RECORDER_SCOPE_KEY = "sextant.fastpath.recorder"

#: How long a process trusts the table versions it read. The only database round trip of a cache
#: hit happens at most this often, and a new materialization shows up at most this late.
VERSION_MEMO_SECONDS = 2.0


class DataVersions:
    """The warehouse's table versions, re-read at most every VERSION_MEMO_SECONDS, by one reader.

    When the memo expires, one read is started and every request arriving meanwhile awaits that
    same read (no stampede of identical queries). When the warehouse cannot be read, the last
    versions seen are kept, so cached (and stale) answers keep their keys during an outage.
    """

    def __init__(self, warehouse: Warehouse, guard: Guard, clock: Callable[[], float] = time.monotonic):
        self._warehouse = warehouse
        self._guard = guard
        self._clock = clock
        self._versions: dict[str, str] | None = None
        self._read_at = float("-inf")
        self._refresh: asyncio.Task | None = None

    async def of(self, tables: Sequence[str]) -> str:
        if self._clock() - self._read_at >= VERSION_MEMO_SECONDS:
            if self._refresh is None or self._refresh.done():
                self._refresh = asyncio.ensure_future(self._read())
            await asyncio.shield(self._refresh)  # errors only when nothing is known yet (-> 503)
        versions = self._versions or {}
        return ",".join(f"{table}@{versions.get(table, '0')}" for table in tables)

    async def _read(self) -> None:
        try:
            self._versions = await self._guard.call("warehouse", self._warehouse.versions)
            self._read_at = self._clock()
        except Exception:
            if self._versions is None:
                raise
            log.warning("table versions unavailable; using the last ones seen")

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            with contextlib.suppress(BaseException):
                await self._refresh


@dataclass(slots=True)
class Recording:
    """What `cached_read` read during one slow-path request: the fast path keeps it as a recipe."""

    calls: int = 0
    replayable: bool = True
    kind: str = ""
    tables: tuple[str, ...] = ()
    key_parts: dict[str, Any] = field(default_factory=dict)
    client: str | None = None
    template: str = ""
    body: bytes = b""

    def record(
        self,
        kind: str,
        tables: Sequence[str],
        key_parts: Mapping[str, Any],
        client: str | None,
        template: str,
        body: bytes,
        replayable: bool,
    ) -> None:
        self.calls += 1
        self.replayable = self.replayable and replayable
        self.kind, self.tables, self.key_parts = kind, tuple(tables), dict(key_parts)
        self.client, self.template, self.body = client, template, body


def count_cache_answer(state: Any, service: str, *, hit: bool, peeked: bool = False) -> None:
    """Count a cached read's answer on the metrics (and, for an entry the fast path peeked at without
    the cache's own lookup, on the cache's counter), the same way on both paths."""
    if peeked:
        state.cache.hits += 1
    metrics = getattr(state, "metrics", None)
    if metrics is not None:
        (metrics.cache_hit if hit else metrics.cache_miss)(service)


def route_template(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", request.url.path)


async def cached_read(
    request: Request,
    kind: str,
    tables: Sequence[str],
    params: Mapping[str, Any],
    load: Callable[[], Any],
    *,
    per_client: bool = False,
    replayable: bool = True,
) -> Response:
    """Answer from the cache or load through the guard; see the module docstring.

    The body is the cached JSON bytes as stored: a hit is never decoded and re-encoded.
    `replayable=False`: the key's `params` depend on more than the request (e.g. the clock), so the
    fast path (`serving.fastpath`) must not replay them for an identical request.
    """
    state = request.app.state
    version = await state.data_versions.of(tables)
    principal = getattr(request.state, "principal", None)
    client = principal.client_id if per_client and principal is not None else None
    template = route_template(request)
    key_parts = {"route": template, **params}
    result = await state.cache.get_or_load_json(
        kind,
        key_parts,
        lambda: state.guard.call("warehouse", load),
        version=version,
        client=client,
    )
    count_cache_answer(state, service_of(template), hit=result.hit)
    recorder = request.scope.get(RECORDER_SCOPE_KEY)
    if recorder is not None:  # the fast path learns how to answer this request next time
        recorder.record(kind, tables, key_parts, client, template, result.value, replayable)
    headers = {"X-Cache": "stale" if result.stale else ("hit" if result.hit else "miss")}
    return Response(content=result.value, media_type="application/json", headers=headers)
