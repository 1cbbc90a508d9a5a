"""Prometheus metrics, request ids and JSON logs of the API."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import polars as pl
import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from resources.tables import DATA_QUALITY, OHLCV
from serving.observability.endpoints import service_of
from serving.observability.install import install_observability
from serving.observability.json_logs import configure_logging
from serving.observability.metrics import Metrics
from serving.observability.warehouse_metrics import WarehouseMetricsCollector
from tests.serving.conftest import bars
from tests.serving.observability.conftest import MODEL_METRICS, auth_headers, json_lines, observed_app

REQUIRED_NAMES = {
    "python_services_requests_total",
    "python_services_request_latency_seconds_bucket",
    "python_services_request_latency_seconds_count",
    "python_services_request_latency_seconds_sum",
    "python_services_requests_success_total",
    "python_services_requests_failed_total",
    "python_services_cache_hits_total",
    "python_services_cache_misses_total",
    "python_services_rate_limit_rejections_total",
    "python_services_circuit_breaker_state",
}
LOG_KEYS = {"timestamp", "service", "level", "message", "duration_ms", "request_id", "user_id", "metadata"}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) -> value of a Prometheus text exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(parsed: dict, name: str, **labels: str) -> float | None:
    return parsed.get((name, frozenset(labels.items())))


def scrape(client: TestClient) -> dict:
    response = client.get("/api/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


def add_boom(client: TestClient) -> None:
    @client.app.get("/api/v1/data/boom")
    def boom():
        raise RuntimeError("secret postgres://user:pw@host")


# -- request metrics ------------------------------------------------------------------------------
def test_exposition_has_the_exact_names_and_route_templates(make_observed_client, warehouse):
    warehouse.upsert(OHLCV, bars("BTC-USD", "1h", 5))
    client = make_observed_client(raise_server_exceptions=False)
    add_boom(client)
    metrics: Metrics = client.app.state.metrics
    headers = auth_headers(client)

    assert client.get("/api/v1/data/ohlcv/BTC-USD", headers=headers).status_code == 200
    assert client.get("/api/v1/data/ohlcv/btc-usd", params={"limit": 2}, headers=headers).status_code == 200
    assert client.get("/api/v1/data/ohlcv/NOPE-USD", headers=headers).status_code == 404
    assert client.get("/api/health/live").status_code == 200
    assert client.get("/no/such/path/12345").status_code == 404
    assert client.get("/api/v1/data/boom").status_code == 500
    # the gateway's cache may count its own lookups: compare against this point
    before = samples(metrics.render()[0].decode())
    metrics.cache_hit("data")
    metrics.cache_hit("data")
    metrics.cache_miss("data")
    metrics.rate_limited("data")
    metrics.set_breaker_state("warehouse", "open")
    metrics.set_breaker_state("model_store", "half-opened")

    response = client.get("/api/metrics")
    text = response.text
    parsed = samples(text)
    names = {name for name, _ in parsed}
    assert REQUIRED_NAMES <= names
    assert "# TYPE python_services_requests_total counter" in text
    assert "# TYPE python_services_request_latency_seconds histogram" in text

    ohlcv = "/api/v1/data/ohlcv/{symbol}"
    assert value(parsed, "python_services_requests_total", service="data", endpoint=ohlcv) == 3
    assert value(parsed, "python_services_requests_total", service="health", endpoint="/api/health/live") == 1
    assert value(parsed, "python_services_requests_total", service="gateway", endpoint="unmatched") == 1
    assert value(parsed, "python_services_requests_total", service="data", endpoint="/api/v1/data/boom") == 1
    # the raw path never becomes a label value
    assert "BTC-USD" not in text and "12345" not in text and "NOPE" not in text

    # data: 2 answered (success), 1 not found (client error: neither), 1 crashed (failed)
    assert value(parsed, "python_services_requests_success_total", service="data") == 2
    assert value(parsed, "python_services_requests_failed_total", service="data") == 1
    assert value(parsed, "python_services_requests_client_errors_total", service="data") == 1
    assert value(parsed, "python_services_request_latency_seconds_count", service="data") == 4
    assert value(parsed, "python_services_request_latency_seconds_bucket", service="data", le="+Inf") == 4

    def delta(name: str) -> float:
        return (value(parsed, name, service="data") or 0) - (value(before, name, service="data") or 0)

    assert delta("python_services_cache_hits_total") == 2
    assert delta("python_services_cache_misses_total") == 1
    assert delta("python_services_rate_limit_rejections_total") == 1
    assert value(parsed, "python_services_circuit_breaker_state", dependency="warehouse") == 2
    assert value(parsed, "python_services_circuit_breaker_state", dependency="model_store") == 1

    # the scrape itself is counted (seen by the next scrape)
    again = scrape(client)
    assert value(again, "python_services_requests_total", service="metrics", endpoint="/api/metrics") == 1


def test_openmetrics_when_the_scraper_asks(make_observed_client):
    client = make_observed_client()
    client.get("/api/health/live")
    response = client.get("/api/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert 'python_services_requests_total{endpoint="/api/health/live",service="health"} 1.0' in response.text
    assert response.text.rstrip().endswith("# EOF")


def test_unhandled_error_is_a_500_counted_as_failed_with_a_request_id(make_observed_client):
    client = make_observed_client(raise_server_exceptions=False)
    add_boom(client)
    response = client.get("/api/v1/data/boom", headers={"X-Request-ID": "trace-500-abc"})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error"}
    assert response.headers["x-request-id"] == "trace-500-abc"
    parsed = scrape(client)
    assert value(parsed, "python_services_requests_failed_total", service="data") == 1
    assert value(parsed, "python_services_requests_success_total", service="data") is None


def test_an_exception_is_answered_once_and_counted(make_observed_client):
    """The access log records and re-raises; the app's outermost layer (`serving.errors.AnsweredErrors`)
    stops an exception whose 500 was already sent, so the server keeps the connection. Even a client
    that raises server exceptions gets the answer, without the exception's text."""
    client = make_observed_client(raise_server_exceptions=True)
    add_boom(client)
    answer = client.get("/api/v1/data/boom")
    assert (answer.status_code, answer.json()) == (500, {"detail": "internal error"})
    assert "secret" not in answer.text
    parsed = scrape(client)
    assert value(parsed, "python_services_requests_failed_total", service="data") == 1


def test_answers_before_routing_keep_their_route_template(make_observed_client, settings, warehouse):
    """A middleware that answers (a limiter's 429) before the router ran is labelled by its route."""
    from starlette.responses import PlainTextResponse

    app = observed_app(settings, warehouse)

    @app.middleware("http")
    async def refuse_everything(request: Request, call_next):
        return PlainTextResponse("slow down", status_code=429)

    client = make_observed_client(app)
    assert client.get("/api/v1/data/ohlcv/ETH-USD").status_code == 429
    text, _ = app.state.metrics.render()  # the scrape would be refused too: read the registry
    parsed = samples(text.decode())
    ohlcv = "/api/v1/data/ohlcv/{symbol}"
    assert value(parsed, "python_services_requests_total", service="data", endpoint=ohlcv) == 1
    assert value(parsed, "python_services_requests_client_errors_total", service="data") == 1


def test_two_apps_in_one_process_do_not_share_series(make_observed_client):
    first = make_observed_client()
    second = make_observed_client()
    assert first.app.state.metrics is not second.app.state.metrics
    for _ in range(3):
        first.get("/api/health/live")
    second.get("/api/health/live")
    assert (
        value(scrape(first), "python_services_requests_total", service="health", endpoint="/api/health/live")
        == 3
    )
    assert (
        value(scrape(second), "python_services_requests_total", service="health", endpoint="/api/health/live")
        == 1
    )


def test_install_is_idempotent(settings, warehouse):
    app = observed_app(settings, warehouse)
    metrics = app.state.metrics
    assert install_observability(app, Metrics(), "other") is metrics
    with TestClient(app) as client:
        client.get("/api/health/live")
        parsed = scrape(client)
    assert value(parsed, "python_services_requests_total", service="health", endpoint="/api/health/live") == 1


# -- request ids ----------------------------------------------------------------------------------
def test_request_id_generated_echoed_or_replaced(make_observed_client):
    client = make_observed_client()
    generated = client.get("/api/health/live").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/api/health/live").headers["x-request-id"] != generated

    given = "3f2b9c1e-req-42"
    assert client.get("/api/health/live", headers={"X-Request-ID": given}).headers["x-request-id"] == given
    uuid_given = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert (
        client.get("/api/health/live", headers={"X-Request-ID": uuid_given}).headers["x-request-id"]
        == uuid_given
    )

    for invalid in ("has spaces in it", "x" * 200, "semi;colon"):
        replaced = client.get("/api/health/live", headers={"X-Request-ID": invalid}).headers["x-request-id"]
        assert replaced != invalid and len(replaced) == 32
    # unmatched paths get one too
    assert len(client.get("/nowhere").headers["x-request-id"]) == 32


# -- JSON logs ------------------------------------------------------------------------------------
def test_one_json_access_line_per_request_with_the_required_keys(
    make_observed_client, settings, json_logging, capsys
):
    client = make_observed_client(settings=settings.model_copy(update={"service_name": "sextant-test"}))

    async def principal(request: Request) -> None:
        request.state.principal = SimpleNamespace(client_id="alice", scopes={"read"})

    @client.app.get("/api/v1/data/whoami", dependencies=[Depends(principal)])
    def whoami():
        logging.getLogger("serving.test").info("inside %s", "the endpoint", extra={"rows": 3})
        return {"ok": True}

    headers = auth_headers(client, client_id="bob")
    capsys.readouterr()
    response = client.get("/api/v1/data/whoami", headers={"X-Request-ID": "req-alice-1"})
    assert response.status_code == 200
    assert client.get("/api/v1/data/ohlcv/BTC-USD?limit=1", headers=headers).status_code == 404
    lines = json_lines(capsys.readouterr().out)

    access = [line for line in lines if line["logger"] == "serving.access"]
    assert len(access) == 2
    first = access[0]
    assert LOG_KEYS <= set(first)
    assert first["service"] == "sextant-test"
    assert first["level"] == "info"
    assert first["message"] == "request"
    assert first["request_id"] == "req-alice-1"
    assert first["user_id"] == "alice"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert first["metadata"] == {
        "method": "GET",
        "path": "/api/v1/data/whoami",
        "status": 200,
        "endpoint": "/api/v1/data/whoami",
        "domain": "data",
        "client": "testclient",
    }
    second = access[1]
    # the gateway's own authentication leaves its principal for the log (when the app has one)
    assert second["user_id"] == ("bob" if headers else None)
    assert (
        second["metadata"]["status"] == 404
        and second["metadata"]["endpoint"] == "/api/v1/data/ohlcv/{symbol}"
    )
    assert "limit" not in second["metadata"]["path"]  # no query string in logs
    assert len(second["request_id"]) == 32 and second["request_id"] != first["request_id"]

    # a stdlib log line inside the request carries the request's id and user, extras under metadata
    inside = next(line for line in lines if line["logger"] == "serving.test")
    assert LOG_KEYS <= set(inside)
    assert inside["message"] == "inside the endpoint"
    assert inside["request_id"] == "req-alice-1" and inside["user_id"] == "alice"
    assert inside["metadata"] == {"rows": 3}
    assert inside["duration_ms"] is None


def test_error_lines_carry_the_exception_but_the_body_does_not(make_observed_client, json_logging, capsys):
    client = make_observed_client(raise_server_exceptions=False)
    add_boom(client)
    capsys.readouterr()
    response = client.get("/api/v1/data/boom", headers={"X-Request-ID": "req-boom"})
    assert "secret" not in response.text
    lines = json_lines(capsys.readouterr().out)
    handler = next(line for line in lines if line["logger"] == "serving.errors")
    assert handler["level"] == "error" and handler["request_id"] == "req-boom"
    assert "RuntimeError" in handler["exception"]
    access = next(line for line in lines if line["logger"] == "serving.access")
    assert access["level"] == "error"
    assert access["metadata"]["status"] == 500 and access["metadata"]["error"] == "RuntimeError"


def test_uvicorn_and_structlog_loggers_emit_json_and_setup_is_idempotent(json_logging, capsys):
    import structlog

    json_logging("sextant-test", "INFO")  # again: still one handler
    marked = [h for h in logging.getLogger().handlers if getattr(h, "_sextant_json_handler", False)]
    assert len(marked) == 1
    logging.getLogger("uvicorn.error").handlers.append(logging.StreamHandler(sys.stderr))
    configure_logging("sextant-test")  # uvicorn's own handlers are dropped again
    assert logging.getLogger("uvicorn.error").handlers == []

    capsys.readouterr()
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 123)
    structlog.get_logger("serving.custom").warning("cache degraded", backend="redis", duration_ms=1.5)
    logging.getLogger("uvicorn.access").info("GET / 200")  # quiet: the access middleware logs requests
    out = capsys.readouterr().out
    lines = json_lines(out)
    assert len(lines) == len(out.strip().splitlines()) == 2
    uvicorn_line, custom = lines
    assert (
        uvicorn_line["logger"] == "uvicorn.error"
        and uvicorn_line["message"] == "Started server process [123]"
    )
    assert LOG_KEYS <= set(uvicorn_line) and uvicorn_line["request_id"] is None
    assert custom["level"] == "warning" and custom["message"] == "cache degraded"
    assert custom["duration_ms"] == 1.5 and custom["metadata"] == {"backend": "redis"}
    assert custom["service"] == "sextant-test"


# -- warehouse gauges -----------------------------------------------------------------------------
def test_warehouse_gauges_latest_pass_rate_and_model_metrics(make_observed_client, warehouse):
    t0 = datetime(2024, 1, 2, tzinfo=UTC)
    quality = pl.DataFrame(
        {
            "asset": ["ohlcv", "ohlcv", "ohlcv", "raw_ohlcv"],
            "partition": [
                "2024-01-01|BTC-USD",
                "2024-01-02|BTC-USD",
                "2024-01-02|ETH-USD",
                "2024-01-02|BTC-USD",
            ],
            "check_name": ["bars_suite", "bars_suite", "bars_suite", "raw_bars_suite"],
            "success": [True, True, True, False],
            "evaluated": [100, 100, 100, 100],
            "passed": [50, 99, 97, 80],
            "pass_rate": [0.5, 0.99, 0.97, 0.8],
            "row_count": [100, 100, 100, 100],
            "measured_at": [t0, t0 + timedelta(hours=1), t0 + timedelta(hours=1), t0],
        }
    )
    warehouse.upsert(DATA_QUALITY, quality)
    client = make_observed_client()
    parsed = scrape(client)
    assert value(parsed, "sextant_validation_pass_rate", asset="ohlcv", check="bars_suite") == 0.97
    assert value(parsed, "sextant_validation_pass_rate", asset="raw_ohlcv", check="raw_bars_suite") == 0.8
    assert value(
        parsed, "sextant_validation_measured_timestamp_seconds", asset="ohlcv", check="bars_suite"
    ) == ((t0 + timedelta(hours=1)).timestamp())
    assert not any(name == "sextant_model_metric" for name, _ in parsed)  # table absent: no family
    written = value(parsed, "sextant_table_last_write_timestamp_seconds", table="data_quality_metrics")
    assert written is not None and abs(written - datetime.now(UTC).timestamp()) < 300

    warehouse.upsert(
        MODEL_METRICS,
        pl.DataFrame(
            {
                "model": ["price", "price", "translation", "fraud", "fraud"],
                "metric": ["mae_ratio", "mae_ratio", "bleu", "precision", "recall"],
                "value": [0.95, 0.91, 31.5, 0.88, 0.74],
                "version": ["v1", "v2", "v1", "v1", "v1"],
                "measured_at": [t0, t0 + timedelta(days=1), t0, t0, t0],
            }
        ),
    )
    parsed = scrape(client)
    assert value(parsed, "sextant_model_metric", model="price", metric="mae_ratio") == 0.91
    assert value(parsed, "sextant_model_metric", model="translation", metric="bleu") == 31.5
    assert value(parsed, "sextant_model_metric", model="fraud", metric="precision") == 0.88
    assert value(parsed, "sextant_model_metric", model="fraud", metric="recall") == 0.74


class _BrokenWarehouse:
    def has_table(self, name: str) -> bool:
        raise ConnectionError("database down")

    def versions(self):
        raise ConnectionError("database down")


def test_scrape_errors_skip_the_family_and_are_counted():
    metrics = Metrics(process_metrics=False)
    metrics.register_collector(WarehouseMetricsCollector(_BrokenWarehouse()))

    def broken():
        raise RuntimeError("boom")

    metrics.register_collector(broken, name="custom")
    metrics.observe_request("data", "/api/v1/data/symbols", 200, 0.01)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    parsed = samples(body.decode())
    assert (
        value(parsed, "python_services_requests_total", service="data", endpoint="/api/v1/data/symbols") == 1
    )
    errors = "python_services_metrics_collector_errors_total"
    assert value(parsed, errors, collector="warehouse", family="sextant_validation_pass_rate") == 1
    assert value(parsed, errors, collector="warehouse", family="sextant_model_metric") == 1
    assert (
        value(parsed, errors, collector="warehouse", family="sextant_table_last_write_timestamp_seconds") == 1
    )
    assert value(parsed, errors, collector="custom", family="*") == 1


def test_collector_before_the_warehouse_is_open_exports_nothing():
    metrics = Metrics(process_metrics=False)
    metrics.register_collector(WarehouseMetricsCollector(lambda: None))
    body, _ = metrics.render()
    assert b"sextant_" not in body and b"collector_errors_total{" not in body


# -- units ----------------------------------------------------------------------------------------
def test_outcomes_and_breaker_states():
    metrics = Metrics(process_metrics=False)
    for status in (200, 204, 301, 400, 404, 429, 500, 503):
        metrics.observe_request("ml", "/api/v1/ml/predict", status, 0.2)
    summary = metrics.service_summary()["ml"]
    assert summary == {"requests": 8, "success": 3, "failed": 2, "client_errors": 3}
    for state, expected in (("closed", 0), ("half_open", 1), ("HALF-OPEN", 1), ("opened", 2), ("open", 2)):
        metrics.set_breaker_state("redis", state)
        assert (
            metrics.registry.get_sample_value(
                "python_services_circuit_breaker_state", {"dependency": "redis"}
            )
            == expected
        )
    assert metrics.breaker_states() == {"redis": "open"}
    with pytest.raises(ValueError):
        metrics.set_breaker_state("redis", "melted")


@pytest.mark.parametrize(
    ("template", "service"),
    [
        ("/api/v1/data/ohlcv/{symbol}", "data"),
        ("/api/v1/ml/predict", "ml"),
        ("/api/v2/fraud/score", "fraud"),
        ("/api/health/live", "health"),
        ("/api/dashboard/html", "dashboard"),
        ("/api/metrics", "metrics"),
        ("/api/openapi.json", "openapi"),
        ("/", "gateway"),
    ],
)
def test_service_of_route_template(template, service):
    assert service_of(template) == service


def test_private_metrics_need_the_read_scope(make_observed_client, settings, warehouse):
    """With METRICS_PUBLIC=false the scrape and the dashboard need a read token."""
    from resources.tokens import TokenStore
    from serving.app import create_app

    private = settings.model_copy(update={"metrics_public": False})
    client = make_observed_client(create_app(settings=private, warehouse=warehouse))
    for path in ("/api/metrics", "/api/dashboard"):
        denied = client.get(path)
        assert denied.status_code == 401 and denied.headers["www-authenticate"].startswith("Bearer")
    token = TokenStore(warehouse).create("prometheus", "read").token
    ok = client.get("/api/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200 and "python_services_requests_total" in ok.text
