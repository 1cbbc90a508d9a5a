"""The Kubernetes manifests: each object deserializes into the official client's model without losing a
field, and the invariants of the deployment hold (replicas, autoscaling, probes, secrets, isolation)."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from kubernetes.client import ApiClient

from tests.deploy.conftest import DEPLOY, K8S, REPO, k8s_objects, of_kind, setting_aliases, yaml_docs

DOMAINS = ["data", "ml", "fraud", "nlp", "chain"]


def _model_name(doc: dict[str, Any]) -> str:
    version = doc["apiVersion"].split("/")[-1]
    return f"{version[0].upper()}{version[1:]}{doc['kind']}"


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


@pytest.mark.parametrize(
    "path,doc", k8s_objects(), ids=[f"{p.name}:{d['kind']}/{d['metadata']['name']}" for p, d in k8s_objects()]
)
def test_every_object_round_trips_through_the_client_model(path, doc):
    """A misspelt or misplaced field would be dropped by the model, so the round trip would differ."""
    api = ApiClient()
    model = api._ApiClient__deserialize(doc, _model_name(doc))
    assert type(model).__name__ == _model_name(doc)
    assert api.sanitize_for_serialization(model) == _drop_none(doc)


def test_the_serving_file_is_what_its_generator_writes():
    sys.path.insert(0, str(K8S))
    try:
        import render_serving
    finally:
        sys.path.remove(str(K8S))
    assert (K8S / "serving.yaml").read_text() == render_serving.render()


def _serving() -> dict[str, dict[str, dict]]:
    out: dict[str, dict[str, dict]] = {}
    for doc in yaml_docs(K8S / "serving.yaml"):
        component = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        if component:
            out.setdefault(component, {})[doc["kind"]] = doc
    return out


def test_one_deployment_service_autoscaler_and_budget_per_domain():
    serving = _serving()
    assert sorted(serving) == sorted(DOMAINS)
    from resources.settings import Settings

    assert sorted(Settings().serving_domains) == sorted(DOMAINS)  # the app's default list
    for domain, objs in serving.items():
        assert set(objs) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
        deploy = objs["Deployment"]
        labels = deploy["spec"]["template"]["metadata"]["labels"]
        assert deploy["spec"]["replicas"] >= 3
        assert deploy["spec"]["selector"]["matchLabels"] == labels
        assert objs["Service"]["spec"]["selector"] == labels
        assert objs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == labels
        assert objs["PodDisruptionBudget"]["spec"]["minAvailable"] < deploy["spec"]["replicas"]
        env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["SERVING_DOMAINS"]["value"] == domain


def test_autoscalers_have_the_issue_figures():
    for domain, objs in _serving().items():
        hpa = objs["HorizontalPodAutoscaler"]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"sextant-{domain}",
        }
        assert hpa["minReplicas"] == 3
        assert 10 <= hpa["maxReplicas"] <= 15
        targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["metrics"]}
        assert targets == {
            "cpu": {"type": "Utilization", "averageUtilization": 70},
            "memory": {"type": "Utilization", "averageUtilization": 80},
        }
        assert hpa["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 30
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_rate_limit_replicas_is_the_most_pods_the_autoscaler_runs():
    """While Redis is down each pod grants budget // RATE_LIMIT_REPLICAS: that must be the most pods
    of the domain that can run at once (the HPA's ceiling, never below the Deployment's replicas)."""
    from resources.settings import Settings

    for domain, objs in _serving().items():
        deploy = objs["Deployment"]
        env = {e["name"]: e for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}
        replicas = int(env["RATE_LIMIT_REPLICAS"]["value"])
        assert replicas == objs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"], domain
        assert replicas >= deploy["spec"]["replicas"], domain
        assert Settings(RATE_LIMIT_REPLICAS=env["RATE_LIMIT_REPLICAS"]["value"]).rate_limit_replicas == replicas


def test_probes_hit_routes_the_app_serves(sqlite_settings):
    from serving.app import create_app
    from serving.observability.endpoints import route_templates

    for domain, objs in _serving().items():
        app = create_app(sqlite_settings.model_copy(update={"serving_domains": [domain]}))
        routes = set(route_templates(app))
        container = objs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
        paths = {
            name: container[name]["httpGet"]["path"]
            for name in ("readinessProbe", "livenessProbe", "startupProbe")
        }
        assert paths["readinessProbe"] == "/api/health/ready"
        assert paths["livenessProbe"] == "/api/health/live"
        assert set(paths.values()) <= routes
        port_names = {p["name"] for p in container["ports"]}
        assert all(container[n]["httpGet"]["port"] in port_names for n in paths)
        annotations = objs["Deployment"]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] in routes
        assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]


def test_ingress_routes_each_domain_to_its_own_service_over_tls(sqlite_settings):
    from serving.app import create_app
    from serving.observability.endpoints import route_templates

    ingresses = of_kind("Ingress")  # the API, and the stream with WebSocket-long timeouts
    paths = []
    for ingress in ingresses:
        assert ingress["spec"]["tls"][0]["secretName"]
        hosts = {h for tls in ingress["spec"]["tls"] for h in tls["hosts"]}
        assert {rule["host"] for rule in ingress["spec"]["rules"]} <= hosts
        paths += [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    services = {s["metadata"]["name"] for s in of_kind("Service")}

    def backend(path: str) -> str | None:
        best = None
        for p in paths:
            exact = p["pathType"] == "Exact" and path == p["path"]
            prefix = p["pathType"] == "Prefix" and (path == p["path"] or path.startswith(p["path"] + "/"))
            if (exact or prefix) and (best is None or len(p["path"]) > len(best["path"])):
                best = p
        return best["backend"]["service"]["name"] if best else None

    assert all(p["backend"]["service"]["name"] in services for p in paths)
    for domain in DOMAINS:
        app = create_app(sqlite_settings.model_copy(update={"serving_domains": [domain]}))
        domain_routes = [r for r in route_templates(app) if r.startswith("/api/v1/")]
        assert domain_routes, domain
        for route in domain_routes:
            assert backend(route) == f"sextant-{domain}", route
    assert backend("/api/health/ready") and backend("/api/docs")
    assert backend("/api/v1/stream") == "sextant-data"  # mounted on every replica; one Service answers
    (stream,) = [i for i in ingresses if any(p["path"] == "/api/v1/stream" for r in i["spec"]["rules"]
                                             for p in r["http"]["paths"])]  # fmt: skip
    assert int(stream["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) > 60
    assert backend("/api/metrics") is None  # scraped in the cluster, never published


def _containers(doc: dict) -> list[dict]:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return [*pod.get("containers", []), *pod.get("initContainers", [])]


def test_every_env_var_the_app_reads_is_a_real_setting():
    aliases = setting_aliases()
    (config,) = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == "sextant-config"]
    assert set(config["data"]) <= aliases, set(config["data"]) - aliases
    for doc in of_kind("Deployment"):
        for container in _containers(doc):
            names = {e["name"] for e in container.get("env", [])}
            assert names <= aliases, names - aliases
            assert {"name": "sextant-config"} in [e["configMapRef"] for e in container["envFrom"]]
    from resources.settings import Settings

    Settings(**config["data"])  # and every value parses


def _secret_refs() -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key in ("secretKeyRef", "secretRef"):
                if key in value:
                    found.add(value[key]["name"])
            if "secretName" in value and isinstance(value["secretName"], str):
                found.add(value["secretName"])
            if "secret" in value and isinstance(value["secret"], dict):
                found.add(value["secret"]["secretName"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for _, doc in k8s_objects():
        walk(doc)
    values = yaml_docs(DEPLOY / "helm" / "values.yaml")[0]
    found.add(values["global"]["postgresqlSecretName"])
    for dep in values["dagster-user-deployments"]["deployments"]:
        found |= {s["name"] for s in dep.get("envSecrets", [])}
    return found


def test_secrets_are_referenced_by_name_and_never_committed():
    assert not of_kind("Secret")
    refs = _secret_refs()
    assert {"sextant-postgres", "sextant-redis", "sextant-chain", "sextant-tls"} <= refs
    guide = (REPO / "docs" / "deploy.md").read_text()
    for name in refs:  # the guide tells how to create each
        assert re.search(rf"secret\b.*\b{re.escape(name)}\b", guide), name
    # No literal password anywhere under deploy/ (values come from Secrets or, in compose, ${...}).
    text = "\n".join(p.read_text() for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))
    literal = re.findall(
        r"(?im)^[ \t]*-?[ \t]*(?:password|postgresqlPassword|POSTGRES_PASSWORD)[ \t]*:[ \t]*([^\s#]+)", text
    )
    assert all(v in ('""', "''") or v.startswith("${") for v in literal), literal


def test_redis_and_postgres_are_stateful_sets_with_volumes_and_probes():
    sets = {s["metadata"]["name"]: s for s in of_kind("StatefulSet")}
    assert set(sets) >= {"redis", "postgres"}
    headless = {s["metadata"]["name"] for s in of_kind("Service") if s["spec"].get("clusterIP") == "None"}
    for sts in sets.values():
        assert sts["spec"]["serviceName"] in headless
        assert sts["spec"]["volumeClaimTemplates"]
        container = sts["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"] and container["livenessProbe"]
        assert re.search(r":\d+\.\d+(\.\d+)?-", container["image"]), container["image"]  # pinned


def test_daily_postgres_backup_cronjob():
    (cron,) = of_kind("CronJob")
    minute, hour, dom, month, dow = cron["spec"]["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    script = " ".join(_containers(cron)[0]["args"])
    assert "pg_dump" in script and "sextant" in script and "dagster" in script


def test_network_policies_isolate_the_namespace():
    policies = {p["metadata"]["name"]: p for p in of_kind("NetworkPolicy")}
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    pg = policies["postgres"]["spec"]["ingress"][0]
    sources = [s["podSelector"]["matchLabels"] for s in pg["from"]]
    assert {"app.kubernetes.io/name": "sextant-serving"} in sources
    assert all(p["metadata"]["namespace"] == "sextant" for p in policies.values())


def test_pods_run_as_non_root():
    for doc in [*of_kind("Deployment"), *of_kind("StatefulSet"), *of_kind("CronJob")]:
        spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
        pod = spec["template"]["spec"]
        if doc["metadata"]["namespace"] != "sextant":
            continue
        assert pod["securityContext"]["runAsNonRoot"] is True, doc["metadata"]["name"]
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
