"""The Prometheus metrics of one app, and `GET /api/metrics` that serves them.

Every app gets a `Metrics` of its own, in a private `CollectorRegistry`, so several apps in one
process (tests build many) never share a series. The access middleware, the cache, the rate limiter
and the circuit breakers record into it; scrape-time collectors (`register_collector`) add gauges
that are computed when Prometheus asks, and a failing one never breaks the scrape.

Request outcome, as counted by `Metrics.observe_request`: status < 400 is a success, >= 500 a
failure, and 4xx (the client's mistake: validation, not found, auth, rate limit) neither; those are
in `python_services_requests_client_errors_total`, so success + failed + client errors = requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder, generate_latest

from serving.auth import require_scopes

# One logger name for the whole package.
log = logging.getLogger("serving.observability")

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
    "LATENCY_BUCKETS",
    "Metrics",
    "build_metrics_router",
    "metrics_router",
]
