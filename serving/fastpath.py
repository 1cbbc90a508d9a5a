"""A fast path for repeated cached reads: a request seen before is answered without FastAPI routing it.

On a cache hit most of the server's time went to FastAPI's routing and dependency solving, which
re-derives the same cache key from the same request every time. This layer learns, from the slow
path's `cached_read`, which entry a request reads (a recipe), and for an identical request runs the
gateway's own steps (`serving.cached_reads`: the token memo, one hit on the same budget, the table
versions, the fresh entry), so it only matches stored requests. docs/architecture.md ("Serving")
has the rules: what keys a recipe, what it is learned from, what falls through.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resources.tokens import Principal
from serving.auth import bearer_credentials
from serving.cached_reads import RECORDER_SCOPE_KEY, Recording, count_cache_answer
from serving.observability.endpoints import ENDPOINT_SCOPE_KEY, endpoint_template, service_of
from serving.ratelimit import CARRIED_DECISION_SCOPE_KEY, RateLimitDecision, limited_route, principal_key

log = logging.getLogger("serving.fastpath")

#: How long a learned recipe is trusted; the same bound as the table versions' memo.
RECIPE_SECONDS = 2.0
#: Default bound of the learned map.
MAX_RECIPES = 4096

#: Request headers that never change a cached read's answer and are left out of the recipe key.
#: Authorization is replaced by the principal it names.
_UNKEYED_HEADERS = frozenset({b"authorization", b"x-request-id", b"traceparent", b"tracestate"})
#: Exactly the response headers of a plain `cached_read` answer behind the gateway.
_PLAIN_HEADERS = frozenset(
    {b"x-cache", b"content-length", b"content-type", b"x-ratelimit-limit", b"x-ratelimit-remaining",
     b"x-ratelimit-reset"}
)  # fmt: skip
_JSON = b"application/json"


@dataclass(slots=True)
class Recipe:
    """What one request reads: enough to rebuild the slow path's cache key, limiter hit and labels."""

    kind: str
    tables: tuple[str, ...]
    key_parts: dict[str, Any]
    client: str | None  # the per-client part of the cache key, or None
    limit_route: str  # the route the rate limiter counts against
    service: str  # the metrics label of the cache hit
    endpoint: str  # the access log's endpoint (route template)
    expires: float
    # The cache key for the last table versions seen (recomputed when they change).
    version: str | None = None
    cache_key: str | None = None
    # The entry read under that key, the epoch second its TTL ends, the cache generation then.
    body: bytes | None = None
    fresh_until: float = 0.0
    generation: int = -1


class FastPath:
    """The learned recipes of one app (`app.state.fast_path`) and its counters.

    `enabled` switches the layer off (every request takes the slow path, nothing is learned);
    counters: `answered` (requests answered here), `learned` (recipes stored). `clock` (monotonic)
    times the recipes, `wall_clock` (epoch) the cache entries they keep; tests inject both.
    """

    def __init__(
        self,
        *,
        max_recipes: int = MAX_RECIPES,
        recipe_seconds: float = RECIPE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if max_recipes < 1:
            raise ValueError(f"max_recipes must be at least 1, got {max_recipes}")
        self.enabled = True
        self.max_recipes = max_recipes
        self.recipe_seconds = recipe_seconds
        self.clock = clock
        self.wall_clock = wall_clock  # epoch seconds, as the cache stamps its entries
        self._recipes: OrderedDict[tuple, Recipe] = OrderedDict()
        self.answered = 0
        self.learned = 0

    def __len__(self) -> int:
        return len(self._recipes)

    def clear(self) -> None:
        self._recipes.clear()

    def lookup(self, key: tuple) -> Recipe | None:
        recipe = self._recipes.get(key)
        if recipe is None:
            return None
        if recipe.expires <= self.clock():
            del self._recipes[key]
            return None
        self._recipes.move_to_end(key)
        return recipe

    def learn(self, key: tuple, recording: Recording, limit_route: str, endpoint: str) -> None:
        self._recipes[key] = Recipe(
            kind=recording.kind,
            tables=recording.tables,
            key_parts=recording.key_parts,
            client=recording.client,
            limit_route=limit_route,
            service=service_of(recording.template),
            endpoint=endpoint,
            expires=self.clock() + self.recipe_seconds,
        )
        self._recipes.move_to_end(key)
        self.learned += 1
        while len(self._recipes) > self.max_recipes:
            self._recipes.popitem(last=False)


def _param_name(part: bytes) -> bytes:
    return part.split(b"=", 1)[0]


def normalized_query(query: bytes) -> bytes:
    """The query string with its parameters sorted by name; repeated names keep their values' order."""
    if b"&" not in query:
        return query
    return b"&".join(sorted(query.split(b"&"), key=_param_name))


def _request_key(scope: Scope) -> tuple[tuple, bytes | None] | None:
    """(the principal-less part of the recipe key, the Authorization header), or None when this
    request cannot take the fast path (a body, or no headers to read)."""
    authorization = None
    keyed = []
    for name, value in scope["headers"]:
        if name in _UNKEYED_HEADERS:
            if name == b"authorization" and authorization is None:  # the first one, as Starlette reads it
                authorization = value
            continue
        if name == b"content-length":
            if value.strip() not in (b"", b"0"):
                return None
        elif name == b"transfer-encoding":
            return None
        keyed.append((name, value))
    client = scope.get("client")
    key = (
        scope["path"],
        normalized_query(scope.get("query_string", b"")),
        tuple(keyed),
        scope.get("scheme"),
        scope.get("root_path", ""),
        client[0] if client else None,
    )
    return key, authorization


class FastPathMiddleware:
    """The pure-ASGI layer; see the module docstring. Install with `install_fast_path(app)`."""

    def __init__(self, app: ASGIApp, fast_path: FastPath) -> None:
        self.app = app
        self.fast_path = fast_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast_path = self.fast_path
        if scope["type"] != "http" or scope["method"] != "GET" or not fast_path.enabled:
            await self.app(scope, receive, send)
            return
        request = _request_key(scope)
        if request is None:
            await self.app(scope, receive, send)
            return
        request_key, authorization = request
        token = bearer_credentials(authorization.decode("latin-1") if authorization else None)
        if token is None:  # anonymous: the app answers (401, or an open route)
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        principal = self._principal(state, token)
        if principal is not None:
            recipe = fast_path.lookup((principal, *request_key))
            answer = None
            if recipe is not None:
                try:
                    answer = await self._answer(scope, state, principal, recipe, fast_path.wall_clock())
                except Exception as exc:  # noqa: BLE001 - anything odd: the app answers instead
                    log.debug("fast path fell through: %s: %s", exc.__class__.__name__, exc)
            if answer is not None:
                fast_path.answered += 1
                await send(answer[0])
                await send(answer[1])
                return
        await self._learn(scope, receive, send, state, token, request_key)

    @staticmethod
    def _principal(state: Any, token: str) -> Principal | None:
        """The token's principal when the store's memo knows it (else the app verifies it)."""
        store = getattr(state, "token_store", None)
        if store is None:
            return None
        known, principal = store.verify_memoized(token)
        return principal if known and isinstance(principal, Principal) else None

    @staticmethod
    async def _answer(
        scope: Scope, state: Any, principal: Principal, recipe: Recipe, now: float
    ) -> tuple[Message, Message] | None:
        """The response's start and body messages, from the cache; None to let the app answer."""
        client_key = principal_key(principal)
        limiter = getattr(state, "rate_limiter", None)
        if client_key is None or limiter is None:
            return None
        decision = await limiter.hit(client_key, recipe.limit_route)
        # From here on the request is counted: a fall-through hands the decision to the app.
        scope[CARRIED_DECISION_SCOPE_KEY] = (client_key, recipe.limit_route, decision)
        if not decision.allowed:
            return None  # the app's rate_limit dependency answers the 429 and counts it
        version = await state.data_versions.of(recipe.tables)
        cache = state.cache
        body = await _entry_body(cache, recipe, version, now)
        if body is None:
            return None  # expired or evicted: the app loads it (or serves the stale copy)
        count_cache_answer(state, recipe.service, hit=True, peeked=True)
        del scope[CARRIED_DECISION_SCOPE_KEY]
        request_state = scope.setdefault("state", {})
        request_state["principal"] = principal  # the access log's user_id
        request_state["rate_limit"] = decision
        scope[ENDPOINT_SCOPE_KEY] = recipe.endpoint
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"x-cache", b"hit"),
                (b"content-length", str(len(body)).encode()),
                (b"content-type", _JSON),
                *decision.header_pairs(),
            ],
        }
        return start, {"type": "http.response.body", "body": body}

    async def _learn(
        self, scope: Scope, receive: Receive, send: Send, state: Any, token: str, request_key: tuple
    ) -> None:
        """Let the app answer; keep a recipe when the answer was a plain `cached_read` one."""
        recording = Recording()
        scope[RECORDER_SCOPE_KEY] = recording
        root_path = scope.get("root_path", "") or ""
        start: Message | None = None
        chunks: list[bytes] = []

        async def watching_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                # A copy: the layers outside this one add their headers to the message in place.
                start = {**message, "headers": list(message.get("headers") or [])}
            elif message["type"] == "http.response.body" and recording.calls == 1:
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, watching_send)
        if recording.calls != 1 or not recording.replayable or start is None or start["status"] != 200:
            return
        try:
            self._keep(scope, state, token, request_key, recording, start, b"".join(chunks), root_path)
        except Exception as exc:  # noqa: BLE001 - learning is an optimization, never a failure
            log.debug("fast path did not learn: %s: %s", exc.__class__.__name__, exc)

    def _keep(
        self,
        scope: Scope,
        state: Any,
        token: str,
        request_key: tuple,
        recording: Recording,
        start: Message,
        body: bytes,
        root_path: str,
    ) -> None:
        headers = start.get("headers") or []
        names = [name.lower() for name, _ in headers]
        if len(names) != len(_PLAIN_HEADERS) or set(names) != _PLAIN_HEADERS:
            return  # the route or a middleware added (or dropped) something the fast path would not
        if dict(headers).get(b"content-type") != _JSON or body != recording.body:
            return
        request_state = scope.get("state") or {}
        principal = request_state.get("principal")
        if not isinstance(request_state.get("rate_limit"), RateLimitDecision) or not isinstance(
            principal, Principal
        ):
            return  # not behind the gateway's rate limit and authentication
        if self._principal(state, token) != principal:
            return  # the principal on the request is not the token's
        limit_route = limited_route(scope)
        endpoint = endpoint_template(scope, root_path)
        if endpoint is None:
            return
        self.fast_path.learn((principal, *request_key), recording, limit_route, endpoint)


async def _entry_body(cache: Any, recipe: Recipe, version: str, now: float) -> bytes | None:
    """The body of the fresh cache entry `recipe` reads for `version` (at epoch second `now`), or None.

    The recipe keeps the entry it read last until the entry's TTL ends, the versions change or this
    process drops entries (`ResponseCache.generation`): a key names one version of the data, so the
    entry under it changes only by expiring or being dropped, and the recipe itself lives
    RECIPE_SECONDS. With Redis as the cache this saves a round trip per hit; replicas still share
    one cache (an entry dropped by another replica is seen when the recipe is relearned).
    """
    if recipe.version != version or recipe.cache_key is None:
        recipe.cache_key = cache.key_for(recipe.kind, recipe.key_parts, version=version, client=recipe.client)
        recipe.version = version
        recipe.body = None
    if recipe.body is not None and recipe.generation == cache.generation and now < recipe.fresh_until:
        return recipe.body
    generation = cache.generation
    entry = await cache.peek(recipe.cache_key)  # never loads: a miss falls through to the app
    if entry is None:
        recipe.body = None
        return None
    stored_at, recipe.body = entry
    recipe.fresh_until = stored_at + cache.ttl_for(recipe.kind)
    recipe.generation = generation
    return recipe.body


def install_fast_path(app: Any, fast_path: FastPath | None = None) -> FastPath:
    """Add the layer to a FastAPI app (before it starts), outermost of the app's own middleware.

    It runs inside the request-id, access-log and metrics layers of `install_observability` (so a
    fast answer is logged and counted like any other) and outside the body limit and rate-limit
    header middleware (whose work it does itself). The recipes live on `app.state.fast_path`.
    """
    fast_path = fast_path or FastPath()
    app.state.fast_path = fast_path
    app.add_middleware(FastPathMiddleware, fast_path=fast_path)
    return fast_path


__all__ = [
    "MAX_RECIPES",
    "RECIPE_SECONDS",
    "FastPath",
    "FastPathMiddleware",
    "Recipe",
    "install_fast_path",
    "normalized_query",
]
