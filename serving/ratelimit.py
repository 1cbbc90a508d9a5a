"""Per-client rate limits for the API, with the `limits` library (moving window: exact, a true Retry-After).

One `RateLimiter` per app (`app.state.rate_limiter`); routes opt in with `Depends(rate_limit)` after
authentication, and `install_rate_limit_headers(app)` adds X-RateLimit-* to what was let through.
Budgets per client and route override, failed authentications per address, the Redis fallback's
per-replica share and why the in-process budget uses the synchronous storage: docs/architecture.md
("Serving", rate limits).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request
from limits import RateLimitItem, WindowStats, parse
from limits import strategies as sync_strategies
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import MemoryStorage, storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.failover import RedisBacked, RedisFailover
from serving.observability.endpoints import service_of

log = logging.getLogger("serving.ratelimit")

#: The route key used when a request has no matched route (should not happen behind a router).
UNMATCHED_ROUTE = "<unmatched>"


def limited_route(scope) -> str:
    """The route template a request's budget is counted under (one place: the fast path counts alike)."""
    return getattr(scope.get("route"), "path", None) or UNMATCHED_ROUTE


#: The route the failed authentications of an address are counted under (one budget, the default
#: limit, unless RATE_LIMIT_OVERRIDES names this key).
AUTH_FAILURES_ROUTE = "<authentication>"

#: Scope key of a decision the fast path (`serving.fastpath`) already took for this request, as
#: (client key, route, decision): `rate_limit` uses it instead of counting the request again.
CARRIED_DECISION_SCOPE_KEY = "sextant.ratelimit.carried"

_REDIS_SCHEMES = ("redis://", "rediss://")
_MEMORY_URLS = ("mem://", "memory://", "async+memory://")


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The outcome of one hit: `allowed`, the limit, what is left, when a slot frees up."""

    allowed: bool
    limit: int
    remaining: int
    #: Epoch seconds at which the oldest request in the window leaves it (one more slot is free).
    reset_at: float
    #: Seconds to wait before retrying: >= 1 when refused, 0 when allowed.
    retry_after: int
    #: The limit in `limits` words, e.g. "100 per 1 minute".
    description: str = ""

    def headers(self) -> dict[str, str]:
        """X-RateLimit-* headers (reset as epoch seconds), plus Retry-After when refused."""
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_at)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers

    def header_pairs(self) -> list[tuple[bytes, bytes]]:
        """`headers()` as ASGI header pairs (lower-case names), for the layers that write them raw."""
        return [(name.lower().encode(), value.encode()) for name, value in self.headers().items()]


def _redis_uri(storage_url: str) -> str | None:
    """The asyncio `limits` storage URI of a Redis URL; None for process memory (the sync storage)."""
    if storage_url in _MEMORY_URLS:
        return None
    if storage_url.startswith(_REDIS_SCHEMES):
        return f"async+{storage_url}"
    if storage_url.startswith(("async+redis://", "async+rediss://")):
        return storage_url
    raise ValueError(f"unsupported rate limit storage {storage_url!r}: use mem:// or redis://host:port/db")


class RateLimiter(RedisBacked):
    """Rate limits per client and route; one per app (`app.state.rate_limiter`).

    `storage_url` is "mem://" or a Redis URL (`Settings.cache_url`); `default` and `overrides` are in
    `limits` notation ("100/minute"). `namespace` prefixes the Redis keys (use the service name), so
    several services can share one Redis. `replicas` (`RATE_LIMIT_REPLICAS`) divides each limit while
    Redis is down (see the module docstring). Counters: `rejected` (refused hits), `fallbacks` (times
    Redis was given up for memory); `backend` tells which one answers now.
    """

    def __init__(
        self,
        storage_url: str,
        default: str,
        overrides: Mapping[str, str] | None = None,
        *,
        trusted_proxies: Iterable[str] = (),
        namespace: str = "sextant",
        retry_seconds: float = 30.0,
        socket_timeout: float = 0.5,
        replicas: int = 1,
    ) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise ValueError(f"replicas must be an integer >= 1, got {replicas!r}")
        self.replicas = replicas
        self.default_limit: RateLimitItem = parse(default)
        self.overrides: dict[str, RateLimitItem] = {
            route: parse(limit) for route, limit in (overrides or {}).items()
        }
        # What one replica grants while Redis is down: its share of each budget.
        self._fallback_default = _replica_share(self.default_limit, replicas)
        self._fallback_overrides = {
            route: _replica_share(item, replicas) for route, item in self.overrides.items()
        }
        self.trusted_proxies: tuple[str, ...] = tuple(trusted_proxies)
        _networks(self.trusted_proxies)  # a bad proxy address fails here, not on the first request
        self.rejected = 0
        self._failover = RedisFailover("rate limit storage Redis", retry_seconds, log)

        uri = _redis_uri(storage_url)
        self._memory = sync_strategies.MovingWindowRateLimiter(MemoryStorage())
        self._redis_storage: Storage | None = None
        self._redis: MovingWindowRateLimiter | None = None
        if uri is not None:
            self._redis_storage = storage_from_string(
                uri,
                implementation="redispy",
                key_prefix=f"{namespace}:ratelimit",
                socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout,
            )
            self._redis = MovingWindowRateLimiter(self._redis_storage)

    # --- what applies --------------------------------------------------------------------------

    def limit_for(self, route: str) -> RateLimitItem:
        return self.overrides.get(route, self.default_limit)

    def fallback_limit_for(self, route: str) -> RateLimitItem:
        """The limit one replica applies on its in-process fallback while Redis is down."""
        return self._fallback_overrides.get(route, self._fallback_default)

    def _identifiers(self, client_id: str, route: str) -> tuple[str, str]:
        # One budget per client for every route without an override; one per (client, route) otherwise.
        # Quoting keeps "/" in a client id from colliding with the route separator.
        scope = route if route in self.overrides else "*"
        return scope, _quoted(client_id)

    # --- hits ----------------------------------------------------------------------------------

    async def hit(self, client_id: str, route: str) -> RateLimitDecision:
        """Count one request of `client_id` on `route` (its path template) and say whether it may pass."""
        item = self.limit_for(route)
        identifiers = self._identifiers(client_id, route)
        if self._redis is not None and self._failover.use_redis():
            try:
                allowed = await self._redis.hit(item, *identifiers)
                stats = await self._redis.get_window_stats(item, *identifiers)
            except Exception as exc:  # noqa: BLE001 - whatever Redis raised, answer from memory
                self._failover.failed(exc, "limiting")
            else:
                self._failover.answered()
                return self._decide(item, allowed, stats)
        if self._redis is not None:  # Redis is down: this replica's share only
            item = self.fallback_limit_for(route)
        allowed = self._memory.hit(item, *identifiers)
        return self._decide(item, allowed, self._memory.get_window_stats(item, *identifiers))

    def _decide(self, item: RateLimitItem, allowed: bool, stats: WindowStats) -> RateLimitDecision:
        if not allowed:
            self.rejected += 1
        now = time.time()
        reset_at = max(stats.reset_time, now)
        retry_after = 0 if allowed else max(1, math.ceil(reset_at - now))
        return RateLimitDecision(
            allowed=allowed,
            limit=item.amount,
            remaining=max(0, stats.remaining),
            reset_at=reset_at,
            retry_after=retry_after,
            description=str(item),
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def ping(self) -> bool:
        """True when the configured storage answers (always, for memory)."""
        if self._redis_storage is None:
            return True
        try:
            return bool(await self._redis_storage.check())
        except Exception:  # noqa: BLE001
            return False

    async def reset(self) -> None:
        """Forget every budget (tests, operations); Redis errors are ignored."""
        self._memory.storage.reset()
        if self._redis_storage is not None:
            try:
                await self._redis_storage.reset()
            except Exception as exc:  # noqa: BLE001
                log.warning("could not reset the Redis rate limits: %s", exc)

    async def close(self) -> None:
        """Close the Redis connections (call on shutdown)."""
        self._memory.storage.reset()
        client = getattr(getattr(self._redis_storage, "bridge", None), "storage", None)
        closer = getattr(client, "aclose", None) or getattr(client, "close", None)
        if closer is not None:
            try:
                await closer()
            except Exception as exc:  # noqa: BLE001 - shutting down anyway
                log.debug("closing the Redis rate limit client failed: %s", exc)


def _replica_share(item: RateLimitItem, replicas: int) -> RateLimitItem:
    """`item` with `max(1, amount // replicas)` requests in the same window."""
    if replicas == 1:
        return item
    return type(item)(max(1, item.amount // replicas), item.multiples, item.namespace)


# --- who is the client -----------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _quoted(client_id: str) -> str:
    """A client id as a `limits` identifier (quoted on every hit otherwise: clients are few and repeat)."""
    return quote(client_id, safe="")


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_key(request: Request, principal_client_id: str | None, trusted_proxies: Iterable[str] = ()) -> str:
    """Whom a request is counted against: "client:<id>" when authenticated, else "ip:<address>".

    The peer address is the socket's. X-Forwarded-For is read only when that peer is a trusted proxy
    (addresses or CIDR ranges): the hops are walked from the right, skipping trusted proxies, and the
    first other address is the client. When the proxy replaces the header this is its first hop; when
    it appends, an address the caller wrote into the header itself is never believed.
    """
    if principal_client_id:
        return f"client:{principal_client_id}"
    peer = request.client.host if request.client and request.client.host else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if networks and _is_trusted(_ip(peer), networks):
        hops = [
            hop.strip() for value in request.headers.getlist("x-forwarded-for") for hop in value.split(",")
        ]
        hops = [hop for hop in hops if hop]
        for hop in reversed(hops):
            address = _ip(hop)
            if address is None:
                break  # garbage in the chain: trust nothing further left
            peer = str(address)
            if not _is_trusted(address, networks):
                break
    return f"ip:{peer}"


def address_key(request: Request, trusted_proxies: Iterable[str] = ()) -> str:
    """Whom a failed authentication is counted against: "anon:<address>" (see `client_key`)."""
    return "anon:" + client_key(request, None, trusted_proxies).removeprefix("ip:")


def principal_key(principal: Any) -> str | None:
    """`client_key` of an authenticated request ("client:<id>"), or None when `principal` names no client."""
    client_id = _principal_client_id(principal)
    return f"client:{client_id}" if client_id else None


def _principal_client_id(principal: Any) -> str | None:
    if principal is None:
        return None
    if isinstance(principal, str):
        return principal or None
    if isinstance(principal, Mapping):
        value = principal.get("client_id")
    else:
        value = getattr(principal, "client_id", None)
    return str(value) if value else None


# --- FastAPI glue ------------------------------------------------------------------------------------


async def rate_limit(request: Request) -> RateLimitDecision:
    """Dependency: `Depends(rate_limit)`, after the authentication dependency.

    Counts the request against `request.state.principal.client_id` (or the peer address) on the
    matched route's path template; raises 429 with Retry-After and X-RateLimit-* headers when the
    budget is spent, else leaves the decision on `request.state.rate_limit` for the header middleware.
    """
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        raise RuntimeError("no rate limiter: set app.state.rate_limiter (see serving.ratelimit)")
    principal = getattr(request.state, "principal", None)
    key = client_key(request, _principal_client_id(principal), limiter.trusted_proxies)
    route_path = limited_route(request.scope)
    carried = request.scope.pop(CARRIED_DECISION_SCOPE_KEY, None)
    if carried is not None and carried[0] == key and carried[1] == route_path:
        decision = carried[2]  # counted by the fast path before it handed the request over
    else:
        decision = await limiter.hit(key, route_path)
    if not decision.allowed:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.rate_limited(service_of(route_path))
        raise HTTPException(
            status_code=429,
            detail=f"rate limit exceeded: {decision.description}",
            headers=decision.headers(),
        )
    request.state.rate_limit = decision
    return decision


async def limit_failed_authentication(request: Request) -> RateLimitDecision | None:
    """Count a request that failed authentication against its address; 429 once that budget is spent.

    `serving.auth` calls this before answering 401 (missing or bad token), so unauthenticated floods
    are limited like anything else: the caller's address ("anon:<address>") has one budget of the
    default limit for all its failures. Raises 429 with Retry-After and X-RateLimit-* when it is
    spent; returns the decision otherwise (the caller then answers 401), None without a limiter.
    """
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        return None
    decision = await limiter.hit(address_key(request, limiter.trusted_proxies), AUTH_FAILURES_ROUTE)
    if not decision.allowed:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.rate_limited(service_of(limited_route(request.scope)))
        raise HTTPException(
            status_code=429,
            detail=f"rate limit exceeded: {decision.description} without a valid token from this address",
            headers=decision.headers(),
        )
    return decision


class RateLimitHeadersMiddleware:
    """Adds X-RateLimit-* to responses whose request went through `rate_limit` (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The dict behind `request.state`; created here so a copied scope still shares it.
        state: dict[str, Any] = scope.setdefault("state", {})

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                decision = state.get("rate_limit")
                if isinstance(decision, RateLimitDecision):
                    headers = list(message.get("headers", []))
                    present = {name.lower() for name, _ in headers}
                    headers += [(name, value) for name, value in decision.header_pairs() if name not in present]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_rate_limit_headers(app: Any) -> None:
    """Add `RateLimitHeadersMiddleware` to a FastAPI/Starlette app (before it starts)."""
    app.add_middleware(RateLimitHeadersMiddleware)
