"""Observability of the API: Prometheus metrics, JSON logs and request ids.

Three pieces, each usable alone:

- `Metrics`: every metric of one app in a private `CollectorRegistry`, so several apps in one
  process (tests build many) never share a series. Request counters and the latency histogram are
  fed by the access middleware; the cache, the rate limiter and the circuit breakers call
  `cache_hit`/`cache_miss`, `rate_limited` and `set_breaker_state`. `register_collector` adds
  gauges computed at scrape time, such as `WarehouseMetricsCollector` (validation pass rates and
  model quality read from the warehouse).
- `configure_logging`: one JSON object per line on stdout for structlog loggers *and* the stdlib
  loggers (uvicorn, SQLAlchemy, our `logging.getLogger(...)` calls), each with `timestamp`, `level`,
  `service`, `logger`, `message`, `request_id`, `user_id`, `duration_ms` and `metadata` (everything
  else the call passed).
- `install_observability`: the request-id middleware (asgi-correlation-id, header `X-Request-ID`)
  and a pure-ASGI access middleware that times each request, labels it by the route template and
  writes one access log line. Both wrap the whole application, outside Starlette's error middleware,
  so a 500 produced by the app's error handler is counted as a 500 and still carries its request id.

`build_metrics_router(public)` serves `GET /api/metrics` in the Prometheus text format (OpenMetrics
when the scraper asks for it).

Request outcome, as counted by `Metrics.observe_request`: status < 400 is a success, >= 500 a
failure, and 4xx (the client's mistake: validation, not found, auth, rate limit) neither; those are
in `python_services_requests_client_errors_total`, so success + failed + client errors = requests.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import structlog
from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.auth import require_scopes

log = logging.getLogger("serving.observability")

#: Header carrying the request id, read from the request and set on every response.
REQUEST_ID_HEADER = "X-Request-ID"
#: Endpoint label of requests that matched no route (a bounded label whatever path was asked).
UNMATCHED = "unmatched"
#: Service label of paths outside `/api/...` (and of unmatched requests).
GATEWAY = "gateway"
#: Warehouse table of model quality measurements (model, metric, value, version, measured_at),
#: written by the training assets; read only when present.
MODEL_METRICS_TABLE = "model_metrics"
DATA_QUALITY_TABLE = "data_quality_metrics"

#: Latency buckets in seconds: sub-millisecond cache hits up to slow model calls.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

#: Circuit-breaker state names (ours and purgatory's) -> gauge value.
BREAKER_STATES: dict[str, int] = {
    "closed": 0,
    "half-open": 1,
    "half-opened": 1,
    "halfopen": 1,
    "open": 2,
    "opened": 2,
}

#: Scope key where a layer that answered without routing (`serving.fastpath`) names the route
#: template the request would have matched: the access log's endpoint label.
ENDPOINT_SCOPE_KEY = "sextant.endpoint"

#: Request ids a client may send: short and printable, so they are safe in headers and logs.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:@+=/-]{1,128}$")
_SERVICE_RE = re.compile(r"^/api/(?:v\d+/)?([A-Za-z][A-Za-z0-9_-]*)")


def service_of(endpoint: str) -> str:
    """The domain a route template belongs to: `/api/v1/data/...` -> data, `/api/health/...` -> health."""
    match = _SERVICE_RE.match(endpoint)
    return match.group(1) if match else GATEWAY


def valid_request_id(value: str) -> bool:
    return bool(_REQUEST_ID_RE.match(value))


def new_request_id() -> str:
    return uuid.uuid4().hex


# ==================================================================================================
# Metrics
# ==================================================================================================
class _SafeCollector:
    """Runs a scrape-time collector; a failure loses that collector's families, never the scrape."""

    def __init__(self, name: str, collector: Any, on_error: Callable[[str, str, BaseException], None]):
        self.name = name
        self._collector = collector
        self._on_error = on_error

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self._collector.collect())
        except Exception as exc:  # noqa: BLE001 - a broken collector must not break /api/metrics
            self._on_error(self.name, "*", exc)
            return iter(())
        return iter(families)


class _CallableCollector:
    def __init__(self, fn: Callable[[], Iterable[Metric]]):
        self._fn = fn

    def collect(self) -> Iterable[Metric]:
        return self._fn()


class Metrics:
    """The Prometheus metrics of one app, in a registry of its own.

    Names (the `_total` suffix of counters is added by prometheus-client):

    | series | labels |
    |---|---|
    | `python_services_requests_total` | service, endpoint |
    | `python_services_request_latency_seconds` (histogram) | service |
    | `python_services_requests_success_total` | service |
    | `python_services_requests_failed_total` | service |
    | `python_services_requests_client_errors_total` | service |
    | `python_services_cache_hits_total`, `python_services_cache_misses_total` | service |
    | `python_services_rate_limit_rejections_total` | service |
    | `python_services_circuit_breaker_state` (0 closed, 1 half-open, 2 open) | dependency |
    | `python_services_metrics_collector_errors_total` | collector, family |

    plus the process, platform and GC collectors of prometheus-client, and whatever
    `register_collector` adds (see `WarehouseMetricsCollector`).
    """

    def __init__(self, service_name: str | None = None, *, process_metrics: bool = True):
        self.registry = CollectorRegistry(auto_describe=False)
        if service_name:
            self.registry.set_target_info({"service": service_name})
        reg = self.registry
        self.requests = Counter(
            "python_services_requests",
            "HTTP requests by service and route template.",
            ["service", "endpoint"],
            registry=reg,
        )
        self.latency = Histogram(
            "python_services_request_latency_seconds",
            "HTTP request duration in seconds.",
            ["service"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.success = Counter(
            "python_services_requests_success",
            "Requests answered with a status below 400.",
            ["service"],
            registry=reg,
        )
        self.failed = Counter(
            "python_services_requests_failed",
            "Requests answered with a status of 500 or more.",
            ["service"],
            registry=reg,
        )
        self.client_errors = Counter(
            "python_services_requests_client_errors",
            "Requests answered with a 4xx status.",
            ["service"],
            registry=reg,
        )
        self.cache_hits = Counter(
            "python_services_cache_hits", "Answers served from the cache.", ["service"], registry=reg
        )
        self.cache_misses = Counter(
            "python_services_cache_misses", "Cache lookups that found nothing.", ["service"], registry=reg
        )
        self.rate_limit_rejections = Counter(
            "python_services_rate_limit_rejections",
            "Requests refused by the rate limiter (429).",
            ["service"],
            registry=reg,
        )
        self.breaker_state = Gauge(
            "python_services_circuit_breaker_state",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.",
            ["dependency"],
            registry=reg,
        )
        # In a registry of its own, collected after everything else: a scrape shows its own errors.
        self._errors_registry = CollectorRegistry(auto_describe=False)
        self.collector_errors = Counter(
            "python_services_metrics_collector_errors",
            "Scrape-time collectors (or families) that failed.",
            ["collector", "family"],
            registry=self._errors_registry,
        )
        if process_metrics:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
            GCCollector(registry=reg)
        self._breakers: dict[str, str] = {}
        self._lock = threading.Lock()
        # Labelled children already looked up, by (metric, *label values): `labels()` costs a lock and
        # a few dict operations per call, on every request. Bounded like the label values themselves.
        self._children: dict[tuple, Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (id(metric), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # -- recording --------------------------------------------------------------------------------
    def observe_request(self, service: str, endpoint: str, status_code: int, seconds: float) -> None:
        self._child(self.requests, service, endpoint).inc()
        self._child(self.latency, service).observe(max(seconds, 0.0))
        if status_code < 400:
            self._child(self.success, service).inc()
        elif status_code >= 500:
            self._child(self.failed, service).inc()
        else:
            self._child(self.client_errors, service).inc()

    def cache_hit(self, service: str) -> None:
        self._child(self.cache_hits, service).inc()

    def cache_miss(self, service: str) -> None:
        self.cache_misses.labels(service=service).inc()

    def rate_limited(self, service: str) -> None:
        self.rate_limit_rejections.labels(service=service).inc()

    def set_breaker_state(self, dependency: str, state: str) -> None:
        """`state`: closed, half-open (or half-opened, half_open) or open (or opened)."""
        key = str(state).strip().lower().replace("_", "-")
        if key not in BREAKER_STATES:
            raise ValueError(f"unknown circuit breaker state {state!r}; expected closed, half-open or open")
        self.breaker_state.labels(dependency=dependency).set(BREAKER_STATES[key])
        with self._lock:
            self._breakers[dependency] = {0: "closed", 1: "half-open", 2: "open"}[BREAKER_STATES[key]]

    def collector_error(self, collector: str, family: str, exc: BaseException) -> None:
        self.collector_errors.labels(collector=collector, family=family).inc()
        log.warning(
            "metrics collector %s failed on %s: %s", collector, family, exc.__class__.__name__, exc_info=exc
        )

    # -- scrape-time collectors -------------------------------------------------------------------
    def register_collector(self, collector: Any, name: str | None = None) -> None:
        """Add gauges computed at scrape time.

        `collector` is a prometheus Collector (an object with `collect()`) or a callable returning
        metric families. An exception while collecting drops that collector's families from the
        scrape and counts one error; collectors with a `bind_error_handler(fn)` method report
        per-family errors themselves and keep their other families.
        """
        if not hasattr(collector, "collect"):
            if not callable(collector):
                raise TypeError(
                    "register_collector needs a Collector or a callable returning metric families"
                )
            collector = _CallableCollector(collector)
        name = name or getattr(collector, "name", None) or type(collector).__name__
        if hasattr(collector, "bind_error_handler"):
            collector.bind_error_handler(self.collector_error)
        self.registry.register(_SafeCollector(name, collector, self.collector_error))

    # -- reading ----------------------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        """Every family: the registry's, then the collector errors (including this scrape's)."""
        yield from self.registry.collect()
        yield from self._errors_registry.collect()

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition of every metric and its content type (OpenMetrics if `accept` asks)."""
        if accept:
            encoder, content_type = choose_encoder(accept)
            return encoder(self), content_type
        return generate_latest(self), CONTENT_TYPE_PLAIN_0_0_4

    def get_sample_value(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """One sample's current value (None when absent); scrape-time collectors run."""
        wanted = dict(labels or {})
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return sample.value
        return None

    def breaker_states(self) -> dict[str, str]:
        """Last state reported per dependency (closed, half-open, open)."""
        with self._lock:
            return dict(self._breakers)

    def service_summary(self) -> dict[str, dict[str, float]]:
        """Per service: requests, success, failed, client_errors, cache_hits, cache_misses so far."""
        out: dict[str, dict[str, float]] = {}
        for key, counter in (
            ("requests", self.requests),
            ("success", self.success),
            ("failed", self.failed),
            ("client_errors", self.client_errors),
            ("cache_hits", self.cache_hits),
            ("cache_misses", self.cache_misses),
        ):
            for family in counter.collect():
                for sample in family.samples:
                    if not sample.name.endswith("_total"):
                        continue
                    row = out.setdefault(sample.labels["service"], {})
                    row[key] = row.get(key, 0.0) + sample.value
        return out


# ==================================================================================================
# Warehouse gauges
# ==================================================================================================
def _warehouse_of(source: Any) -> Any:
    """`source` is a Warehouse, or a callable returning one (or None while the app is not started)."""
    if source is None:
        return None
    if hasattr(source, "has_table"):
        return source
    return source()


def latest_rows(warehouse: Any, table: str, group: tuple[str, ...], value: str) -> list[dict[str, Any]]:
    """The rows of `table` measured last for each `group`: one per group, or [] without the table.

    Ties (several rows of a group at the same latest `measured_at`, e.g. the partitions of one run)
    keep the lowest `value`: for pass rates, the worst partition of the latest run.
    """
    import sqlalchemy as sa

    if not warehouse.has_table(table):
        return []
    t = warehouse.table(table)
    cols = [t.c[c] for c in group]
    latest = sa.select(*cols, sa.func.max(t.c.measured_at).label("latest")).group_by(*cols).subquery()
    join_on = sa.and_(*(t.c[c] == latest.c[c] for c in group), t.c.measured_at == latest.c.latest)
    extra = [t.c[c] for c in ("version",) if c in t.c and c not in group]
    query = sa.select(*cols, t.c[value], t.c.measured_at, *extra).join(latest, join_on)
    with warehouse.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    best: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[c] for c in group)
        if row[value] is None:
            continue
        if key not in best or row[value] < best[key][value]:
            best[key] = row
    out = []
    for key in sorted(best, key=lambda k: tuple(str(part) for part in k)):
        row = best[key]
        measured = row["measured_at"]
        if isinstance(measured, datetime) and measured.tzinfo is None:
            row["measured_at"] = measured.replace(tzinfo=UTC)
        out.append(row)
    return out


def parse_table_version(version: str) -> datetime | None:
    """`Warehouse.versions()` values (`%Y%m%dT%H%M%S%f`, UTC) -> an aware datetime."""
    try:
        return datetime.strptime(version, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


class WarehouseMetricsCollector:
    """Gauges read from the warehouse at scrape time (a custom prometheus Collector).

    - `sextant_validation_pass_rate{asset,check}`: the latest pass rate of each validation check
      (`data_quality_metrics`), and `sextant_validation_measured_timestamp_seconds{asset,check}`.
    - `sextant_model_metric{model,metric}`: the latest value of each model quality metric (price MAE
      ratio, BLEU, fraud precision and recall, ...) from the `model_metrics` table when it exists.
    - `sextant_table_last_write_timestamp_seconds{table}`: when each warehouse table was last written.

    Each family is read on its own: a failing query skips that family and counts one error in
    `python_services_metrics_collector_errors_total{collector="warehouse",family=...}`.
    """

    name = "warehouse"

    def __init__(self, warehouse: Any, on_error: Callable[[str, str, BaseException], None] | None = None):
        self._source = warehouse
        self._on_error = on_error

    def bind_error_handler(self, on_error: Callable[[str, str, BaseException], None]) -> None:
        if self._on_error is None:
            self._on_error = on_error

    def _error(self, family: str, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(self.name, family, exc)
        else:
            log.warning("warehouse metrics: %s failed: %s", family, exc.__class__.__name__, exc_info=exc)

    def collect(self) -> Iterator[Metric]:
        try:
            warehouse = _warehouse_of(self._source)
        except Exception as exc:  # noqa: BLE001
            self._error("*", exc)
            return
        if warehouse is None:
            return
        for family_name, build in (
            ("sextant_validation_pass_rate", self._validation),
            ("sextant_model_metric", self._models),
            ("sextant_table_last_write_timestamp_seconds", self._freshness),
        ):
            try:
                families = build(warehouse)
            except Exception as exc:  # noqa: BLE001 - skip this family, keep the scrape
                self._error(family_name, exc)
                continue
            yield from families

    @staticmethod
    def _validation(warehouse: Any) -> list[Metric]:
        rows = latest_rows(warehouse, DATA_QUALITY_TABLE, ("asset", "check_name"), "pass_rate")
        rate = GaugeMetricFamily(
            "sextant_validation_pass_rate",
            "Latest pass rate of each validation check (0..1).",
            labels=["asset", "check"],
        )
        when = GaugeMetricFamily(
            "sextant_validation_measured_timestamp_seconds",
            "When that pass rate was measured (Unix time).",
            labels=["asset", "check"],
        )
        for row in rows:
            labels = [str(row["asset"]), str(row["check_name"])]
            rate.add_metric(labels, float(row["pass_rate"]))
            if isinstance(row["measured_at"], datetime):
                when.add_metric(labels, row["measured_at"].timestamp())
        return [rate, when]

    @staticmethod
    def _models(warehouse: Any) -> list[Metric]:
        rows = latest_rows(warehouse, MODEL_METRICS_TABLE, ("model", "metric"), "value")
        if not rows:
            return []
        family = GaugeMetricFamily(
            "sextant_model_metric", "Latest value of each model quality metric.", labels=["model", "metric"]
        )
        for row in rows:
            family.add_metric([str(row["model"]), str(row["metric"])], float(row["value"]))
        return [family]

    @staticmethod
    def _freshness(warehouse: Any) -> list[Metric]:
        family = GaugeMetricFamily(
            "sextant_table_last_write_timestamp_seconds",
            "When each warehouse table was last written (Unix time).",
            labels=["table"],
        )
        for table, version in sorted(warehouse.versions().items()):
            written = parse_table_version(version)
            if written is not None:
                family.add_metric([table], written.timestamp())
        return [family]


# ==================================================================================================
# Logging
# ==================================================================================================
#: Set by the access middleware for the duration of a request: its ASGI scope (for the user id,
#: which the auth dependency puts in `scope["state"]` after the middleware started).
_current_scope: ContextVar[Scope | None] = ContextVar("sextant_request_scope", default=None)
_service_name = "sextant"
_HANDLER_MARK = "_sextant_json_handler"
#: Keys every line carries at the top level; anything else goes under `metadata`.
_TOP_LEVEL = ("timestamp", "level", "service", "logger", "message", "request_id", "user_id", "duration_ms")
#: Noise uvicorn attaches to its records (an ANSI-colored copy of the message).
_DROPPED = frozenset({"color_message", "positional_args"})


def _user_id_of(scope: Scope | None) -> str | None:
    if not scope:
        return None
    state = scope.get("state")
    principal = None
    if isinstance(state, Mapping):
        principal = state.get("principal")
    elif state is not None:
        principal = getattr(state, "principal", None)
    if principal is None:
        return None
    user = (
        principal.get("client_id")
        if isinstance(principal, Mapping)
        else getattr(principal, "client_id", None)
    )
    return None if user is None else str(user)


def _add_context(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if event_dict.get("service") is None:
        event_dict["service"] = _service_name
    event_dict.setdefault("request_id", correlation_id.get())
    if event_dict.get("user_id") is None:
        event_dict["user_id"] = _user_id_of(_current_scope.get())
    event_dict.setdefault("duration_ms", None)
    return event_dict


def _shape(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Fixed top-level keys in a fixed order; the rest under `metadata`."""
    out: dict[str, Any] = {key: event_dict.pop(key, None) for key in _TOP_LEVEL}
    exception = event_dict.pop("exception", None)
    metadata = event_dict.pop("metadata", None)
    metadata = (
        dict(metadata) if isinstance(metadata, Mapping) else ({} if metadata is None else {"value": metadata})
    )
    for key, value in event_dict.items():
        if key not in _DROPPED and not key.startswith("_"):
            metadata[key] = value
    out["metadata"] = metadata
    if exception:
        out["exception"] = exception
    return out


class _StdoutHandler(logging.StreamHandler):
    """Writes to the *current* sys.stdout (test capture and reassigned streams included)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(service_name: str, level: str | int = "INFO", *, uvicorn_access: bool = False) -> None:
    """JSON lines on stdout for structlog and stdlib loggers alike. Idempotent: calling again replaces it.

    Uvicorn's loggers lose their own handlers and propagate to the root handler, so their lines are
    JSON too. `uvicorn.access` is quieted unless `uvicorn_access` is true: the access middleware of
    `install_observability` already writes one richer line per request.
    """
    global _service_name
    _service_name = service_name

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")
    pre_chain = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        timestamper,
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.PositionalArgumentsFormatter(),
            timestamper,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=pre_chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _add_context,
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            _shape,
            structlog.processors.JSONRenderer(default=str),
        ],
    )
    handler = _StdoutHandler()
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else str(level).upper())

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.INFO if uvicorn_access else logging.WARNING)


# ==================================================================================================
# Middleware
# ==================================================================================================
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


class AccessLogMiddleware:
    """Pure ASGI: times each HTTP request, records its metrics and writes one access log line."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        service_name: str | None = None,
        logger_name: str = "serving.access",
    ):
        self.app = app
        self.metrics = metrics
        self.service_name = service_name
        self.log = logging.getLogger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        root_path_before = scope.get("root_path", "") or ""
        status: int | None = None
        token = _current_scope.set(scope)

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_status)
        except asyncio.CancelledError as exc:  # the client went away
            error = exc
            status = status or 499
            raise
        except BaseException as exc:  # recorded as a server failure, then re-raised untouched
            error = exc
            status = 500 if status is None or status < 500 else status
            raise
        finally:
            seconds = time.perf_counter() - start
            try:
                self._record(scope, root_path_before, status or 500, seconds, error)
            except Exception:
                log.exception("access log failed")
            _current_scope.reset(token)

    def _record(
        self, scope: Scope, root_path_before: str, status: int, seconds: float, error: BaseException | None
    ) -> None:
        template = scope.get(ENDPOINT_SCOPE_KEY) or _route_template(scope, root_path_before)
        endpoint = template or UNMATCHED
        service = service_of(template) if template else GATEWAY
        self.metrics.observe_request(service, endpoint, status, seconds)
        level = logging.ERROR if status >= 500 else logging.INFO
        if not self.log.isEnabledFor(level):
            return
        client = scope.get("client")
        event = {
            "event": "request",
            "service": self.service_name,
            "duration_ms": round(seconds * 1000.0, 3),
            "user_id": _user_id_of(scope),
            "metadata": {
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "status": status,
                "endpoint": endpoint,
                "domain": service,
                "client": client[0] if client else None,
                **({"error": error.__class__.__name__} if error is not None else {}),
            },
        }
        _emit_structured(self.log, level, event)


#: The same timestamp as `configure_logging`'s processors write.
_TIMESTAMPER = structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp")


def _emit_structured(logger: logging.Logger, level: int, event: dict[str, Any]) -> None:
    """Hand `event` to a stdlib logger as structlog's bound logger would after its processors (context
    variables, level, logger name, timestamp): the JSON formatter writes the same line. Cheaper per
    line: no processor chain per call and no stack walk for the caller's file and line, which the
    JSON line does not show (the record names this module instead).

    When the JSON handler of `configure_logging` is the only one the line would reach (no other
    handler or filter on the way: the usual case in production), its formatter's processors render
    the line directly and it is written as that handler writes, without the two `LogRecord`s the
    logging module builds per line; otherwise the record goes through `logger.handle` as usual.
    """
    method = "error" if level >= logging.ERROR else "info"
    structlog.contextvars.merge_contextvars(None, method, event)
    event["level"] = method
    event["logger"] = logger.name
    _TIMESTAMPER(None, method, event)
    handler = _sole_json_handler(logger, level)
    if handler is None:
        record = logger.makeRecord(
            logger.name, level, __file__, 0, event, (), None, extra={"_logger": logger, "_name": method}
        )
        logger.handle(record)
        return
    formatter: structlog.stdlib.ProcessorFormatter = handler.formatter  # type: ignore[assignment]
    wrapped = formatter.logger if formatter.logger is not None else logger
    # What ProcessorFormatter.format hands its processors (ours never read the record itself).
    line: Any = {**event, "_record": None, "_from_structlog": True}
    for processor in formatter.processors:
        line = processor(wrapped, method, line)
    handler.acquire()
    try:
        handler.stream.write(f"{line}{handler.terminator}")
        handler.flush()
    finally:
        handler.release()


def _sole_json_handler(logger: logging.Logger, level: int) -> logging.StreamHandler | None:
    """`configure_logging`'s handler when a record of `logger` at `level` would reach it and nothing
    else (no other handler, no filter on the way, its JSON formatter in place); else None."""
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if found is not None or not getattr(handler, _HANDLER_MARK, False) or handler.filters:
                return None
            if level < handler.level or not isinstance(
                handler.formatter, structlog.stdlib.ProcessorFormatter
            ):
                return None
            found = handler
        if not current.propagate:
            break
        current = current.parent  # type: ignore[assignment]
    return found


class _FreshRequestContext:
    """Outermost layer: each request starts without a request id, and leaves none behind."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = correlation_id.set(None)
        try:
            await self.app(scope, receive, send)
        finally:
            correlation_id.reset(token)


def install_observability(
    app: FastAPI, metrics: Metrics, service_name: str, *, warehouse_metrics: bool = True
) -> Metrics:
    """Request ids, access log and request metrics around the whole of `app`; `app.state.metrics`.

    Call it once, before the app serves (a second call on the same app does nothing and returns the
    metrics installed first). The layers wrap Starlette's own error middleware, so the 500 answer of
    an unhandled exception passes through them: counted as a 500, logged, with its `X-Request-ID`.
    With `warehouse_metrics`, a `WarehouseMetricsCollector` over `app.state.warehouse` (opened by
    the lifespan) is registered on `metrics`.
    """
    existing = getattr(app.state, "metrics", None)
    if getattr(app.state, "observability_installed", False) and existing is not None:
        return existing
    if app.middleware_stack is not None:
        raise RuntimeError("install_observability must be called before the app starts serving")
    app.state.metrics = metrics
    app.state.service_name = service_name
    app.state.observability_installed = True
    if warehouse_metrics:
        metrics.register_collector(WarehouseMetricsCollector(lambda: getattr(app.state, "warehouse", None)))

    build_inner = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        inner = build_inner()  # ServerErrorMiddleware, user middleware, ExceptionMiddleware, router
        observed = AccessLogMiddleware(inner, metrics, service_name)
        with_id = CorrelationIdMiddleware(
            observed,
            header_name=REQUEST_ID_HEADER,
            generator=new_request_id,
            validator=valid_request_id,
            update_request_header=True,
        )
        return _FreshRequestContext(with_id)

    app.build_middleware_stack = build_middleware_stack  # type: ignore[method-assign]
    return metrics


def request_id() -> str | None:
    """The id of the request being served (None outside a request)."""
    return correlation_id.get()


# ==================================================================================================
# /api/metrics
# ==================================================================================================
def _metrics_endpoint(request: Request) -> Response:
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is None:
        return Response("metrics are not configured\n", status_code=503, media_type="text/plain")
    body, content_type = metrics.render(request.headers.get("accept"))
    return Response(content=body, media_type=content_type)


def build_metrics_router(public: bool) -> APIRouter:
    """`GET /api/metrics`. Public, or (`public=False`) behind the `read` scope of `serving.auth`."""
    dependencies = [] if public else [Depends(require_scopes("read"))]
    router = APIRouter(tags=["observability"], dependencies=dependencies)
    # A plain def: the warehouse gauges query the database, so the scrape runs in the threadpool.
    router.add_api_route(
        "/api/metrics",
        _metrics_endpoint,
        methods=["GET"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition."}},
    )
    return router


#: The public variant; apps with `METRICS_PUBLIC=false` use `build_metrics_router(False)`.
metrics_router = build_metrics_router(public=True)

__all__ = [
    "BREAKER_STATES",
    "ENDPOINT_SCOPE_KEY",
    "GATEWAY",
    "LATENCY_BUCKETS",
    "MODEL_METRICS_TABLE",
    "REQUEST_ID_HEADER",
    "UNMATCHED",
    "AccessLogMiddleware",
    "Metrics",
    "WarehouseMetricsCollector",
    "build_metrics_router",
    "configure_logging",
    "endpoint_template",
    "install_observability",
    "latest_rows",
    "metrics_router",
    "parse_table_version",
    "request_id",
    "route_contexts",
    "route_templates",
    "service_of",
]
