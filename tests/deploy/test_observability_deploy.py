"""Alerts, dashboard and log shipping: the rules pass promtool and fire, every metric they read is one
the API exports, and the Elasticsearch mapping covers every field of the JSON log lines."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.deploy.conftest import DEPLOY, yaml_docs
from tests.services import unavailable

MONITORING = DEPLOY / "monitoring"
#: Series that come from elsewhere: Prometheus itself, and kube-state-metrics (memory limits).
EXTERNAL = {"up", "kube_pod_container_resource_limits"}
_PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "label_values",
    "bool",
    "abs",
    "clamp_min",
    "clamp_max",
    "topk",
    "bottomk",
    "absent",
}


def _metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label matchers, grouping lists and Grafana variables removed)."""
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\$\w+", " ", expr)
    tokens = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {t for t in tokens if t not in _PROMQL_WORDS and not re.fullmatch(r"\d+[smhd]?", t)}


@pytest.fixture(scope="module")
def exported(sqlite_settings) -> set[str]:
    """Sample names on a real scrape of the API, with warehouse gauges present, plus recorded series."""
    from datetime import UTC, datetime

    import polars as pl

    from resources.tables import DATA_QUALITY, MODEL_METRICS
    from resources.warehouse import Warehouse
    from serving.app import create_app

    wh = Warehouse(sqlite_settings.resolved_warehouse_url)
    now = datetime.now(UTC)
    wh.upsert(
        MODEL_METRICS,
        pl.DataFrame(
            [{"model": "price", "metric": "mae_ratio", "value": 0.9, "version": "v1", "measured_at": now}]
        )
        .cast({k: v for k, v in MODEL_METRICS.schema.items()}, strict=False)
        .select(list(MODEL_METRICS.schema)),
    )
    quality = {name: None for name in DATA_QUALITY.schema}
    quality.update(
        asset="ohlcv", partition="p", check_name="bars_suite", success=True, evaluated=10, passed=10
    )
    quality.update({k: v for k, v in (("pass_rate", 1.0), ("measured_at", now)) if k in DATA_QUALITY.schema})
    wh.upsert(DATA_QUALITY, pl.DataFrame([quality], schema=DATA_QUALITY.schema))
    app = create_app(sqlite_settings, warehouse=wh)
    with TestClient(app) as client:
        assert client.get("/api/health/live").status_code == 200
        client.get("/api/v1/data/symbols")  # 401: a client error, counted
        app.state.metrics.cache_hit("data")
        app.state.metrics.cache_miss("data")
        app.state.metrics.rate_limited("data")
        app.state.metrics.set_breaker_state("warehouse", "closed")
        text = client.get("/api/metrics").text
    wh.dispose()
    names = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")
    }
    # Families declared without a sample yet (a labelled counter before its first 5xx) count too.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    for family, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.MULTILINE):
        names |= {f"{family.removesuffix('_total')}{s}" for s in suffixes.get(kind, ("",))}
    rules = yaml_docs(MONITORING / "alerts.yml")[0]
    names |= {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
    return names


def _exprs_of_rules() -> list[str]:
    rules = yaml_docs(MONITORING / "alerts.yml")[0]
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def _exprs_of_dashboard() -> list[str]:
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [
        re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", v["query"])
        for v in dash["templating"]["list"]
        if v["type"] == "query"
    ]
    return exprs


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_used_is_exported_by_the_api(exported, source):
    exprs = _exprs_of_rules() if source == "alerts" else _exprs_of_dashboard()
    used = set().union(*(_metric_names(e) for e in exprs))
    assert used, exprs
    missing = used - exported - EXTERNAL
    assert not missing, f"{source} read series the API does not export: {sorted(missing)}"


def test_the_checker_catches_a_misspelt_metric(exported):
    assert _metric_names("sum by (service) (rate(python_services_request_total[5m]))") - exported == {
        "python_services_request_total"
    }


def test_alert_thresholds_are_the_issue_figures():
    rules = {
        r["alert"]: r
        for g in yaml_docs(MONITORING / "alerts.yml")[0]["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    figures = {
        name: (
            float(re.search(r"([<>]=?|==)\s*([\d.]+)\s*$", r["expr"].strip()).group(2)),
            r["labels"]["severity"],
        )
        for name, r in rules.items()
    }
    assert figures == {
        "SextantHighErrorRate": (0.05, "warning"),
        "SextantCriticalErrorRate": (0.10, "critical"),
        "SextantHighLatencyP95": (0.2, "warning"),
        "SextantServiceDown": (0.0, "critical"),
        "SextantCapacityHigh": (0.90, "warning"),
        "SextantCapacityCritical": (0.95, "critical"),
    }


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # skips on a laptop, fails under CI (which installs it)
        unavailable("promtool (apt-get install --no-install-recommends prometheus; .ci/run installs it)")
    return path


def test_promtool_checks_the_rules():
    result = subprocess.run(
        check=False,
        args=[_promtool(), "check", "rules", "alerts.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_fires_each_alert():
    tested = {
        t["alertname"]
        for case in yaml_docs(MONITORING / "alerts_test.yml")[0]["tests"]
        for t in case.get("alert_rule_test", [])
        if t["exp_alerts"]
    }
    alerts = {
        r["alert"]
        for g in yaml_docs(MONITORING / "alerts.yml")[0]["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    assert tested == alerts
    result = subprocess.run(
        check=False,
        args=[_promtool(), "test", "rules", "alerts_test.yml"],
        cwd=MONITORING,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_test_fails_when_a_threshold_moves(tmp_path):
    """The promtool cases can fail: with the warning threshold at 7 %, the 6 % case no longer fires."""
    shutil.copy(MONITORING / "alerts_test.yml", tmp_path)
    (tmp_path / "alerts.yml").write_text(
        (MONITORING / "alerts.yml")
        .read_text()
        .replace("sextant:request_error_ratio:rate5m > 0.05", "sextant:request_error_ratio:rate5m > 0.07")
    )
    result = subprocess.run(
        check=False, args=[_promtool(), "test", "rules", "alerts_test.yml"], cwd=tmp_path, capture_output=True
    )
    assert result.returncode != 0


def test_scrape_config_finds_the_serving_pods():
    config = yaml_docs(MONITORING / "prometheus.yml")[0]
    assert config["rule_files"] == ["alerts.yml"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "sextant-serving"]
    assert job["metrics_path"] == "/api/metrics"
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "domain", "__metrics_path__", "__address__"} <= targets
    serving = yaml_docs(DEPLOY / "k8s" / "serving.yaml")
    pods = [d["spec"]["template"]["metadata"] for d in serving if d["kind"] == "Deployment"]
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert all(p["labels"]["app.kubernetes.io/name"] == keep[0]["regex"] for p in pods)
    assert all(p["annotations"]["prometheus.io/scrape"] == keep[1]["regex"] for p in pods)


def test_dashboard_covers_the_serving_metrics():
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dash["uid"] and len({p["id"] for p in dash["panels"]}) == len(dash["panels"])
    text = " ".join(_exprs_of_dashboard())
    for series in (
        "python_services_requests_total",
        "python_services_request_latency_seconds_bucket",
        "python_services_requests_failed_total",
        "python_services_cache_hits_total",
        "python_services_circuit_breaker_state",
        "sextant_model_metric",
    ):
        assert series in text, series
    assert {"0.50", "0.95", "0.99"} <= set(re.findall(r"histogram_quantile\((0\.\d+)", text))


def test_index_template_maps_every_field_of_a_log_line(sqlite_settings, capsys):
    """Fields come from real JSON lines: an access line and an error line with an exception."""
    import logging

    from serving.app import create_app

    with TestClient(create_app(sqlite_settings)) as client:
        capsys.readouterr()
        client.get("/api/health/live")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("serving.test").exception("failed", extra={"where": "test"})
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line.get("message") == "request" for line in lines)
    template = json.loads((DEPLOY / "logging" / "elasticsearch-index-template.json").read_text())
    props = template["template"]["mappings"]["properties"]
    fields = set().union(*(line.keys() for line in lines))
    assert {
        "timestamp",
        "level",
        "service",
        "logger",
        "message",
        "request_id",
        "user_id",
        "duration_ms",
        "metadata",
        "exception",
    } <= fields
    assert fields <= set(props), fields - set(props)
    access = next(line for line in lines if line.get("message") == "request")
    assert set(access["metadata"]) <= set(props["metadata"]["properties"])
    assert template["index_patterns"] == ["sextant-logs-*"]


def test_fluent_bit_ships_the_sextant_json_logs_to_the_template_index():
    docs = yaml_docs(DEPLOY / "logging" / "fluent-bit.yaml")
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    pipeline = yaml.safe_load(config["data"]["fluent-bit.yaml"])["pipeline"]
    (tail,) = pipeline["inputs"]
    assert "_sextant_" in tail["path"]
    kube = next(f for f in pipeline["filters"] if f["name"] == "kubernetes")
    assert kube["merge_log"] is True  # the app's JSON object becomes the document's fields
    (out,) = pipeline["outputs"]
    assert out["name"] == "es" and out["logstash_format"] is True
    template = json.loads((DEPLOY / "logging" / "elasticsearch-index-template.json").read_text())
    assert re.fullmatch(
        template["index_patterns"][0].replace("*", ".*"), f"{out['logstash_prefix']}-2025.01.01"
    )
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    args = ds["spec"]["template"]["spec"]["containers"][0]["args"]
    mount = next(
        m for m in ds["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] if m["name"] == "config"
    )
    assert args == [f"--config={mount['mountPath']}/fluent-bit.yaml"]
