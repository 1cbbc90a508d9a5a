"""Response cache for the API, with `cashews`, in memory or in Redis (`Settings.cache_url`).

One `ResponseCache` per app, on `app.state.cache`. It wraps private `cashews.Cache()` instances (never
the global `cashews.cache`), so two apps in one process never share entries or connections.

    result = await request.app.state.cache.get_or_load(
        "data", {"symbol": symbol, "interval": interval, "start": start, "end": end},
        load,                      # async () -> JSON-ready dict/list (pydantic: model_dump(mode="json"))
        version=data_version,      # e.g. the latest materialization of the table; a new one misses
        client=None,               # the client key when the answer depends on who asks
    )

Keys: `<namespace>:cache:<kind>:<version>:<client or ->:<sha256 of the sorted JSON of key_parts>`.
A miss stores the answer twice: the fresh entry for the kind's TTL, and a stale copy
(`<namespace>:stale:...`) for `stale_seconds`; when the loader then fails, the stale copy is served
(`stale=True`) instead of the error. Entries are the epoch seconds, a newline and the JSON of the value
(cashews' null pickler, so nothing is ever unpickled), which makes memory and Redis behave the
same and lets `get_or_load_json` hand a hit's JSON to the response without decoding it.

Redis outage: any backend error is caught, the request goes on with an in-process memory cache,
one warning is logged, and Redis is tried again after `retry_seconds` (one probe request at a time).
Short socket timeouts keep a Redis that is down (or hanging) from holding requests up.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from cashews import Cache

from serving.failover import RedisBacked, RedisFailover

log = logging.getLogger("serving.cache")

T = TypeVar("T")

_MEMORY_URLS = ("mem://", "memory://")
_REDIS_SCHEMES = ("redis://", "rediss://")


@dataclass(frozen=True, slots=True)
class CacheResult(Generic[T]):
    """A cached or freshly loaded answer. `stale`: served from the stale copy because the loader failed."""

    value: T
    hit: bool
    stale: bool = False
    #: Epoch seconds the value was loaded (None when it was loaded by this call).
    stored_at: float | None = None


_NOT_LOADED = object()


@dataclass(frozen=True, slots=True)
class JsonResult:
    """A cached or freshly loaded answer as JSON bytes; `loaded` keeps the object when just loaded."""

    value: bytes
    hit: bool
    stale: bool = False
    stored_at: float | None = None
    loaded: Any = _NOT_LOADED


def _part(text: str) -> str:
    return quote(text, safe="") or "-"


def key_digest(key_parts: Mapping[str, Any]) -> str:
    """Stable hash of `key_parts`: sorted JSON (dates and other values as their str)."""
    text = json.dumps(key_parts, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ResponseCache(RedisBacked):
    """Answers cached per kind with a TTL each, with stale-on-error and Redis->memory failover.

    `url`: "mem://" or "redis://host:port/db"; `ttl_by_kind`: kind -> seconds (`Settings.cache_ttl_seconds`);
    `namespace` (the service name) prefixes every key. Counters: `hits`, `misses`, `stale_served`,
    `fallbacks` (times Redis was given up for memory), `errors` (backend errors seen); `backend` tells
    which store answers now.
    """

    def __init__(
        self,
        url: str,
        ttl_by_kind: Mapping[str, int],
        stale_seconds: int = 7 * 86_400,
        *,
        namespace: str = "sextant",
        retry_seconds: float = 30.0,
        socket_timeout: float = 0.5,
        memory_size: int = 10_000,
        max_connections: int = 32,
    ) -> None:
        self.ttl_by_kind = {kind: int(ttl) for kind, ttl in ttl_by_kind.items()}
        for kind, ttl in self.ttl_by_kind.items():
            if ttl <= 0:
                raise ValueError(f"cache TTL of {kind!r} must be positive, got {ttl}")
        self.stale_seconds = int(stale_seconds)
        self.namespace = namespace
        self._failover = RedisFailover("cache Redis", retry_seconds, log)
        self.hits = 0
        self.misses = 0
        self.stale_served = 0
        self.errors = 0
        #: Bumped whenever entries are dropped on purpose (clear, invalidate): whoever holds a copy of
        #: an entry (the fast path's recipes) reads it again after a change.
        self.generation = 0

        # Private instances: the module-level `cashews.cache` is shared by everything in the process.
        self._memory = Cache(name=f"{namespace}-memory")
        # check_repr=False: cashews would repr() every value it reads (a copy of the whole answer) to
        # catch unpicklable objects; ours are always our own "epoch\nJSON" strings.
        self._memory.setup(
            "mem://", size=memory_size, check_interval=10, pickle_type="null", check_repr=False
        )
        self._redis: Cache | None = None
        if url.startswith(_REDIS_SCHEMES):
            self._redis = Cache(name=f"{namespace}-redis")
            self._redis.setup(
                url,
                suppress=False,  # raise on errors (the default swallows them into misses: no failover)
                pickle_type="null",
                check_repr=False,
                socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout,
                wait_for_connection_timeout=max(socket_timeout, 1.0),
                max_connections=max_connections,
                client_name=f"{namespace}-cache",
            )
        elif url not in _MEMORY_URLS:
            raise ValueError(f"unsupported cache URL {url!r}: use mem:// or redis://host:port/db")

    # --- keys ----------------------------------------------------------------------------------

    def ttl_for(self, kind: str) -> int:
        try:
            return self.ttl_by_kind[kind]
        except KeyError:
            raise ValueError(f"unknown cache kind {kind!r}; known: {sorted(self.ttl_by_kind)}") from None

    def key_for(
        self, kind: str, key_parts: Mapping[str, Any], *, version: str, client: str | None = None
    ) -> str:
        """The cache key of an answer (the stale copy lives under the same key with `:stale:`)."""
        return ":".join(
            (
                _part(self.namespace),
                "cache",
                _part(kind),
                _part(str(version)),
                _part(client) if client else "-",
                key_digest(key_parts),
            )
        )

    def _stale_key(self, key: str) -> str:
        namespace, _, rest = key.partition(":cache:")
        return f"{namespace}:stale:{rest}"

    # --- the one call --------------------------------------------------------------------------

    async def get_or_load(
        self,
        kind: str,
        key_parts: Mapping[str, Any],
        loader: Callable[[], Awaitable[T]],
        *,
        version: str,
        client: str | None = None,
    ) -> CacheResult[T]:
        """The cached answer, else `await loader()` stored for the kind's TTL.

        The loader's value must be JSON-serializable (TypeError otherwise). When the loader raises and a
        stale copy exists it is returned with `stale=True`; otherwise the loader's exception propagates.
        Cache backend errors never propagate.
        """
        raw = await self.get_or_load_json(kind, key_parts, loader, version=version, client=client)
        value = raw.value if raw.loaded is _NOT_LOADED else raw.loaded
        if isinstance(value, bytes):
            value = json.loads(value)
        return CacheResult(value, hit=raw.hit, stale=raw.stale, stored_at=raw.stored_at)

    async def get_or_load_json(
        self,
        kind: str,
        key_parts: Mapping[str, Any],
        loader: Callable[[], Awaitable[Any]],
        *,
        version: str,
        client: str | None = None,
    ) -> JsonResult:
        """Like `get_or_load`, but the answer as the stored JSON bytes (`value`), never decoded.

        The API's hot path: a hit goes from the cache to the response body without a JSON round trip.
        """
        ttl = self.ttl_for(kind)
        key = self.key_for(kind, key_parts, version=version, client=client)
        entry = await self.peek(key)
        if entry is not None:
            self.hits += 1
            return JsonResult(entry[1], hit=True, stored_at=entry[0])
        self.misses += 1
        try:
            value = await loader()
        except Exception as exc:
            stale = await self.peek(self._stale_key(key))
            if stale is None:
                raise
            self.stale_served += 1
            log.warning(
                "serving a stale %s answer (stored %.0f s ago): loader failed with %s: %s",
                kind,
                time.time() - stale[0],
                exc.__class__.__name__,
                exc,
            )
            return JsonResult(stale[1], hit=False, stale=True, stored_at=stale[0])
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        payload = f"{time.time()!r}\n".encode() + body
        await self._set(key, payload, ttl)
        await self._set(self._stale_key(key), payload, max(self.stale_seconds, ttl))
        return JsonResult(body, hit=False, loaded=value)

    async def invalidate(
        self, kind: str, key_parts: Mapping[str, Any], *, version: str, client: str | None = None
    ) -> None:
        """Drop the fresh entry of one answer (the stale copy stays as a fallback)."""
        self.generation += 1
        await self._call("delete", self.key_for(kind, key_parts, version=version, client=client))

    # --- backend calls with failover -----------------------------------------------------------

    async def peek(self, key: str) -> tuple[float, bytes] | None:
        """(stored at, JSON bytes) of the entry under `key`, or None: a read that never loads (the fast
        path's hit). Entries are stored as epoch seconds, a newline, then the JSON."""
        raw = await self._call("get", key)
        if raw is None:
            return None
        if isinstance(raw, str):
            raw = raw.encode()
        header, newline, body = bytes(raw).partition(b"\n")
        try:
            stored_at = float(header)
        except ValueError:
            stored_at = None
        if not newline or stored_at is None or not body:
            log.warning("ignoring an unreadable cache entry %s", key)
            return None
        return stored_at, body

    async def _set(self, key: str, payload: bytes, ttl: float) -> None:
        await self._call("set", key, payload, expire=ttl)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`method` on Redis while it is healthy, else (and whenever Redis fails) on memory; never raises."""
        if self._redis is not None and self._failover.use_redis():
            try:
                result = await getattr(self._redis, method)(*args, **kwargs)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any Redis failure: answer from memory
                self.errors += 1
                self._failover.failed(exc, "caching")
            else:
                self._failover.answered()
                return result
        try:
            return await getattr(self._memory, method)(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the cache is an optimization, never a failure
            self.errors += 1
            log.error("memory cache %s failed: %s: %s", method, exc.__class__.__name__, exc)
            return None

    # --- lifecycle -----------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the configured store answers (always, for memory). Does not switch backends."""
        cache = self._redis or self._memory
        try:
            await cache.ping()
        except Exception:  # noqa: BLE001
            return False
        return True

    async def clear(self) -> None:
        """Drop every entry of this namespace (memory, and Redis when it answers)."""
        self.generation += 1
        await self._memory.clear()
        if self._redis is not None:
            try:
                await self._redis.delete_match(f"{_part(self.namespace)}:*")
            except Exception as exc:  # noqa: BLE001
                log.warning("could not clear the Redis cache: %s", exc)

    async def close(self) -> None:
        """Close connections and the memory cache's expiry task (call on shutdown)."""
        for cache in (self._redis, self._memory):
            if cache is None:
                continue
            try:
                await cache.close()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.debug("closing a cache backend failed: %s", exc)
