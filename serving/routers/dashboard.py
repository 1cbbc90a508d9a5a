"""The operations dashboard: what this API serves and how fresh it is, as JSON and as one HTML page.

- `GET /api/dashboard` (JSON) and `GET /api/dashboard/html` (the same data as a self-contained page:
  inline CSS, no script, no external asset, refreshes itself every 30 s). Two paths rather than
  content negotiation, so a browser link, a cache and a test each name exactly what they get.
  The page is the Jinja2 template `serving/templates/dashboard.html`: its markup lives there, the
  data and how each value is written (`_text`, `_age_text`) here.

Sections: `services` (configured domains, which are mounted, their request counts), `models`
(the promoted version of each model in the model store), `quality` (latest validation pass rates and
model metrics from the warehouse), `freshness` (last write of each warehouse table, newest bar of
each OHLCV series), `cache` (hit rate), `breakers` (circuit-breaker states) and `runs` (recent Dagster
runs, read from the Dagster GraphQL API with a 1 s timeout; `{"reachable": false}` when it does
not answer, and the HTML page then leaves the section out).

Everything comes from `app.state` and every piece is optional: a component that is not there gives
an empty section, a component that fails is named in `unavailable` (with its exception class) and
the rest of the page is still served.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from serving import package_version
from serving.observability.endpoints import route_templates, service_of
from serving.observability.warehouse_metrics import (
    DATA_QUALITY_TABLE,
    MODEL_METRICS_TABLE,
    latest_rows,
    parse_table_version,
)
from serving.schemas import finite_metrics

log = logging.getLogger("serving.dashboard")

router = APIRouter(prefix="/api/dashboard", tags=["dashboard"])

#: Recent runs, newest first, from the Dagster webserver's GraphQL API.
RUNS_QUERY = (
    "{ runsOrError(limit: 10) { ... on Runs { results { runId jobName status startTime endTime } } } }"
)
#: The dashboard never waits longer than this for Dagster.
DAGSTER_TIMEOUT_SECONDS = 1.0
#: Seconds between reloads of the HTML page.
REFRESH_SECONDS = 30


# -- sections ------------------------------------------------------------------------------------
def _services(app: Any) -> list[dict[str, Any]]:
    settings = getattr(app.state, "settings", None)
    configured = list(dict.fromkeys(getattr(settings, "serving_domains", None) or []))
    routes: dict[str, int] = {}
    for template in route_templates(app):
        domain = service_of(template)
        routes[domain] = routes.get(domain, 0) + 1
    metrics = getattr(app.state, "metrics", None)
    summary = metrics.service_summary() if metrics is not None else {}
    out = []
    for name in dict.fromkeys([*configured, *sorted(routes)]):
        counts = summary.get(name, {})
        out.append(
            {
                "name": name,
                "configured": name in configured,
                "mounted": name in routes,
                "routes": routes.get(name, 0),
                "requests": int(counts.get("requests", 0)),
                "failed": int(counts.get("failed", 0)),
            }
        )
    return out


def _models(app: Any) -> list[dict[str, Any]]:
    store = getattr(app.state, "model_store", None)
    if store is None:
        return []
    out = []
    for entry in sorted(store.fs.ls(store.root, detail=False)):
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if name.startswith(".") or not store.fs.isdir(entry):
            continue
        version = store.current_version(name)
        row: dict[str, Any] = {"name": name, "version": version, "created_at": None, "metrics": {}}
        if version is not None:
            try:
                manifest = store.manifest(name, version)
                row["created_at"] = manifest.get("created_at")
                row["metrics"] = finite_metrics(manifest.get("metrics") or {})  # a NaN would fail the JSON
            except Exception as exc:  # noqa: BLE001 - one unreadable manifest leaves the others
                row["error"] = exc.__class__.__name__
        out.append(row)
    return out


def _warehouse(app: Any) -> Any:
    return getattr(app.state, "warehouse", None)


def _quality(app: Any) -> dict[str, list[dict[str, Any]]]:
    warehouse = _warehouse(app)
    if warehouse is None:
        return {"validation": [], "model_metrics": []}
    validation = [
        {
            "asset": r["asset"],
            "check": r["check_name"],
            "pass_rate": r["pass_rate"],
            "measured_at": r["measured_at"],
        }
        for r in latest_rows(warehouse, DATA_QUALITY_TABLE, ("asset", "check_name"), "pass_rate")
    ]
    models = [
        {
            "model": r["model"],
            "metric": r["metric"],
            "value": r["value"],
            "version": r.get("version"),
            "measured_at": r["measured_at"],
        }
        for r in latest_rows(warehouse, MODEL_METRICS_TABLE, ("model", "metric"), "value")
    ]
    return {"validation": validation, "model_metrics": models}


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 3)


def _freshness(app: Any) -> dict[str, Any]:
    warehouse = _warehouse(app)
    now = datetime.now(UTC)
    if warehouse is None:
        return {"tables": [], "ohlcv": None}
    tables = []
    for table, version in sorted(warehouse.versions().items()):
        written = parse_table_version(version)
        tables.append({"table": table, "last_write": written, "age_seconds": _age(written, now)})
    ohlcv = None
    if warehouse.has_table("ohlcv"):
        import sqlalchemy as sa

        t = warehouse.table("ohlcv")
        query = (
            sa.select(t.c.symbol, t.c.interval, sa.func.max(t.c.ts).label("latest"))
            .group_by(t.c.symbol, t.c.interval)
            .order_by(t.c.symbol, t.c.interval)
        )
        with warehouse.engine.connect() as conn:
            rows = conn.execute(query).all()
        series = []
        for symbol, interval, latest in rows:
            if isinstance(latest, datetime) and latest.tzinfo is None:
                latest = latest.replace(tzinfo=UTC)
            series.append(
                {
                    "symbol": symbol,
                    "interval": interval,
                    "latest_ts": latest,
                    "age_seconds": _age(latest, now),
                }
            )
        newest = max((s["latest_ts"] for s in series if s["latest_ts"] is not None), default=None)
        ohlcv = {"latest_ts": newest, "age_seconds": _age(newest, now), "series": series}
    return {"tables": tables, "ohlcv": ohlcv}


def _number(value: Any) -> float:
    if callable(value):
        value = value()
    return float(value or 0)


def _cache(app: Any) -> dict[str, Any]:
    cache = getattr(app.state, "cache", None)
    if cache is not None and hasattr(cache, "hits") and hasattr(cache, "misses"):
        source, hits, misses = "cache", _number(cache.hits), _number(cache.misses)
    else:
        metrics = getattr(app.state, "metrics", None)
        summary = metrics.service_summary() if metrics is not None else {}
        hits = sum(row.get("cache_hits", 0.0) for row in summary.values())
        misses = sum(row.get("cache_misses", 0.0) for row in summary.values())
        source = "metrics" if metrics is not None else None
    total = hits + misses
    return {
        "source": source,
        "hits": int(hits),
        "misses": int(misses),
        "hit_rate": round(hits / total, 4) if total else None,
    }


def _breaker_row(name: Any, value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        row = {str(k): v for k, v in value.items()}
        row.setdefault("state", None)
    else:
        row = {"state": getattr(value, "state", value)}
    row["state"] = None if row["state"] is None else str(row["state"])
    return {"dependency": str(name), **{k: v for k, v in row.items() if k != "dependency"}}


async def _breakers(app: Any) -> list[dict[str, Any]]:
    guard = getattr(app.state, "guard", None)
    states: Any = None
    if guard is not None and hasattr(guard, "states"):
        states = guard.states()
        if asyncio.iscoroutine(states) or isinstance(states, asyncio.Future):
            states = await states
    else:
        metrics = getattr(app.state, "metrics", None)
        states = metrics.breaker_states() if metrics is not None else {}
    if isinstance(states, Mapping):
        return [
            _breaker_row(name, value) for name, value in sorted(states.items(), key=lambda kv: str(kv[0]))
        ]
    rows = []
    for item in states or []:
        if isinstance(item, Mapping):
            name = item.get("dependency", item.get("name", "?"))
            rows.append(
                _breaker_row(name, {k: v for k, v in item.items() if k not in ("dependency", "name")})
            )
    return rows


def _epoch(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


async def recent_runs(url: str, timeout: float = DAGSTER_TIMEOUT_SECONDS) -> dict[str, Any]:
    """The last Dagster runs, or `{"reachable": False}` when the webserver does not answer well.

    Proxy variables of the environment are not used: the Dagster webserver is a neighbour service.
    """
    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            response = await client.post(url, json={"query": RUNS_QUERY})
        response.raise_for_status()
        results = response.json()["data"]["runsOrError"]["results"]
        runs = [
            {
                "run_id": str(r["runId"]),
                "job": r.get("jobName"),
                "status": r.get("status"),
                "start_time": _epoch(r.get("startTime")),
                "end_time": _epoch(r.get("endTime")),
            }
            for r in results
        ]
    except Exception as exc:  # noqa: BLE001 - anything but a clean answer means "not reachable"
        log.info("dagster graphql at %s not reachable: %s", url, exc.__class__.__name__)
        return {"reachable": False}
    return {"reachable": True, "url": dagster_ui_url(url), "runs": runs}


def dagster_ui_url(graphql_url: str) -> str:
    return graphql_url.removesuffix("/graphql")


def _safely(name: str, fn: Callable[[Any], Any], app: Any, default: Any, unavailable: dict[str, str]) -> Any:
    try:
        return fn(app)
    except Exception as exc:
        log.warning("dashboard section %s failed: %s", name, exc.__class__.__name__, exc_info=exc)
        unavailable[name] = exc.__class__.__name__
        return default


def _blocking_sections(app: Any, unavailable: dict[str, str]) -> dict[str, Any]:
    """The sections that read the database or the model store (run in the threadpool)."""
    return {
        "services": _safely("services", _services, app, [], unavailable),
        "models": _safely("models", _models, app, [], unavailable),
        "quality": _safely("quality", _quality, app, {"validation": [], "model_metrics": []}, unavailable),
        "freshness": _safely("freshness", _freshness, app, {"tables": [], "ohlcv": None}, unavailable),
        "cache": _safely(
            "cache", _cache, app, {"source": None, "hits": 0, "misses": 0, "hit_rate": None}, unavailable
        ),
    }


async def collect(app: Any) -> dict[str, Any]:
    """Everything the dashboard shows, as plain data (datetimes still Python objects)."""
    settings = getattr(app.state, "settings", None)
    unavailable: dict[str, str] = {}
    url = getattr(settings, "dagster_graphql_url", None)
    runs_task = asyncio.ensure_future(recent_runs(url)) if url else None
    sections = await run_in_threadpool(_blocking_sections, app, unavailable)
    try:
        breakers = await _breakers(app)
    except Exception as exc:
        log.warning("dashboard section breakers failed: %s", exc.__class__.__name__, exc_info=exc)
        unavailable["breakers"] = exc.__class__.__name__
        breakers = []
    runs = await runs_task if runs_task is not None else {"reachable": False}
    return {
        "service": getattr(settings, "service_name", None),
        "version": package_version(),
        "generated_at": datetime.now(UTC),
        **sections,
        "breakers": breakers,
        "runs": runs,
        "unavailable": unavailable,
    }


# -- HTML ----------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return "\u2014"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _age_text(seconds: float | None) -> str:
    if seconds is None:
        return "\u2014"
    seconds = max(seconds, 0.0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def _percent(rate: float | None) -> str:
    return "\u2014" if rate is None else f"{rate:.1%}"


#: Badge colour class of a breaker state or run status (shown as `_text` writes it, any case).
BADGE_KINDS = {
    "closed": "ok",
    "success": "ok",
    "ok": "ok",
    "half-open": "warn",
    "half-opened": "warn",
    "started": "warn",
    "queued": "warn",
    "open": "bad",
    "opened": "bad",
    "failure": "bad",
    "canceled": "bad",
}


def _badge_kind(text: str) -> str:
    return BADGE_KINDS.get(text.lower(), "")


def _breaker_details(breaker: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a breaker row says besides its dependency and state (None when nothing)."""
    return {k: v for k, v in breaker.items() if k not in ("dependency", "state")} or None


def _escaped(value: Any) -> Markup:
    """Each value the template writes, escaped by `html.escape` (quotes as `&quot;` and `&#x27;`, as
    the page always wrote them); markup the template built itself (a macro's output) is kept."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value)))


#: The page templates (`serving/templates`), read once: a template changes with a new release.
_PAGES = Environment(
    loader=PackageLoader("serving", "templates"),
    autoescape=select_autoescape(),
    finalize=_escaped,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    auto_reload=False,
)
_PAGES.filters.update(
    text=_text, age=_age_text, percent=_percent, badge_kind=_badge_kind, breaker_details=_breaker_details
)


def render_html(data: Mapping[str, Any]) -> str:
    """The dashboard page for `collect()`'s data (`serving/templates/dashboard.html`); every value is
    escaped."""
    return _PAGES.get_template("dashboard.html").render(data=data, refresh_seconds=REFRESH_SECONDS)


#: The page runs no script and loads nothing: forbid both.
HTML_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


@router.get("", summary="Operations dashboard (JSON)")
async def dashboard(request: Request) -> JSONResponse:
    data = await collect(request.app)
    return JSONResponse(jsonable_encoder(data), headers={"Cache-Control": "no-store"})


@router.get("/html", summary="Operations dashboard (HTML page)", response_class=HTMLResponse)
async def dashboard_html(request: Request) -> HTMLResponse:
    data = await collect(request.app)
    return HTMLResponse(render_html(data), headers=HTML_HEADERS)
