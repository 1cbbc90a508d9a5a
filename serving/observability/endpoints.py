"""The labels a request is counted and logged under: its route template (`endpoint`) and the domain
that template belongs to (`service`).

Its own module because the access log, the fast path, the tracing layer, the rate limiter and the
dashboard must all name a request the same way, and none of them needs the middleware to do so.
Labels stay bounded whatever path was asked: a request that matched no route is `unmatched`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from starlette.routing import Match
from starlette.types import Scope

# One logger name for the whole package.
log = logging.getLogger("serving.observability")

#: Endpoint label of requests that matched no route (a bounded label whatever path was asked).
UNMATCHED = "unmatched"
#: Service label of paths outside `/api/...` (and of unmatched requests).
GATEWAY = "gateway"

#: Scope key where a layer that answered without routing (`serving.fastpath`) names the route
#: template the request would have matched: the access log's endpoint label.
ENDPOINT_SCOPE_KEY = "sextant.endpoint"

_SERVICE_RE = re.compile(r"^/api/(?:v\d+/)?([A-Za-z][A-Za-z0-9_-]*)")


def service_of(endpoint: str) -> str:
    """The domain a route template belongs to: `/api/v1/data/...` -> data, `/api/health/...` -> health."""
    match = _SERVICE_RE.match(endpoint)
    return match.group(1) if match else GATEWAY


def route_contexts(app: Any) -> list[Any]:
    """The app's routes, flattened through included routers (FastAPI includes them lazily)."""
    routes = list(getattr(app, "routes", None) or ())
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that still copies included routes into app.routes
        return routes
    try:
        return list(iter_route_contexts(routes))
    except Exception as exc:  # noqa: BLE001 - fall back to the top-level routes
        log.debug("could not flatten the routes: %s", exc.__class__.__name__)
        return routes


def _template_of(route: Any) -> str | None:
    effective = getattr(route, "starlette_route", None)
    return (
        getattr(effective, "path_format", None)
        or getattr(route, "path_format", None)
        or getattr(route, "path", None)
    )


def route_templates(app: Any) -> list[str]:
    """Path templates of the app's API routes (include prefixes applied), in routing order."""
    from fastapi.routing import APIRoute

    out = []
    for context in route_contexts(app):
        if isinstance(getattr(context, "original_route", context), APIRoute):
            template = _template_of(context)
            if template:
                out.append(template)
    return out


def _route_template(scope: Scope, root_path_before: str) -> str | None:
    """The path template of the route that handled `scope`, or of the one that would have."""
    fastapi_scope = scope.get("fastapi")
    # FastAPI records the selected route with the prefixes of the routers that included it.
    route = fastapi_scope.get("effective_route_context") if isinstance(fastapi_scope, Mapping) else None
    route = route or scope.get("route")
    if route is not None:
        template = _template_of(route)
        if not template:
            return None
        # A mount's routes are relative to it: put back the part of root_path the mounts added.
        root_after = scope.get("root_path", "") or ""
        prefix = root_after[len(root_path_before) :] if root_after.startswith(root_path_before) else ""
        return f"{prefix}{template}"
    # Answered before routing (e.g. by a limiter middleware): find the route that would have run.
    partial = None
    for candidate in route_contexts(scope.get("app")):
        try:
            match, _ = candidate.matches(scope)
        except Exception as exc:  # noqa: BLE001 - an odd route never breaks the access log
            log.debug("route %r failed to match: %s", candidate, exc.__class__.__name__)
            continue
        if match is Match.FULL:
            return _template_of(candidate)
        if match is Match.PARTIAL and partial is None:
            partial = candidate
    return _template_of(partial) if partial is not None else None


def endpoint_template(scope: Scope, root_path_before: str) -> str | None:
    """The endpoint label the access log gives the request of `scope` (after the app answered it)."""
    return _route_template(scope, root_path_before)


__all__ = [
    "ENDPOINT_SCOPE_KEY",
    "GATEWAY",
    "UNMATCHED",
    "endpoint_template",
    "route_contexts",
    "route_templates",
    "service_of",
]
