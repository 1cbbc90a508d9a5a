"""Writes deploy/k8s/serving.yaml: per serving domain a Deployment, Service, HorizontalPodAutoscaler
and PodDisruptionBudget. The five domains differ only in name, size and autoscaling ceiling, so
they are written from one template here instead of by hand; tests/deploy checks the file is what
this script writes. Run: `python deploy/k8s/render_serving.py` after editing DOMAINS or the template.
"""

from __future__ import annotations

from pathlib import Path

import yaml

#: domain -> (cpu request, memory request, cpu limit, memory limit, HPA max replicas)
DOMAINS: dict[str, tuple[str, str, str, str, int]] = {
    "data": ("250m", "512Mi", "1", "1Gi", 15),
    "chain": ("250m", "512Mi", "1", "1Gi", 10),
    "ml": ("500m", "1Gi", "2", "2Gi", 12),
    "fraud": ("500m", "1Gi", "2", "2Gi", 12),
    "nlp": ("1", "3Gi", "2", "5Gi", 10),
}
NAMESPACE = "sextant"
IMAGE = "registry.example.com/sextant:0.1.0"  # replaced per release (see docs/deploy.md)
PORT = 8000
MIN_REPLICAS = 3
OUT = Path(__file__).with_name("serving.yaml")


def _labels(domain: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "sextant-serving",
        "app.kubernetes.io/component": domain,
        "app.kubernetes.io/part-of": "sextant",
    }


def _probe(path: str, period: int, failures: int) -> dict:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(domain: str) -> dict:
    cpu_req, mem_req, cpu_lim, mem_lim, max_replicas = DOMAINS[domain]
    name = f"sextant-{domain}"
    labels = _labels(domain)
    secret = lambda env, secret_name, key: {
        "name": env,
        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}},
    }
    container = {
        "name": "api",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["sextant", "serve"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": "sextant-config"}}],
        "env": [
            {"name": "SERVING_DOMAINS", "value": domain},
            # While Redis is down each pod limits on its own: it grants a client budget // this, so the
            # most pods the autoscaler may run together never grant more than the budget.
            {"name": "RATE_LIMIT_REPLICAS", "value": str(max_replicas)},
            secret("WAREHOUSE_URL", "sextant-postgres", "warehouse-url"),
            secret("CACHE_URL", "sextant-redis", "cache-url"),
            secret("CHAIN_RPC_URL", "sextant-chain", "rpc-url"),
        ],
        "resources": {
            "requests": {"cpu": cpu_req, "memory": mem_req},
            "limits": {"cpu": cpu_lim, "memory": mem_lim},
        },
        "readinessProbe": _probe("/api/health/ready", 10, 3),
        "livenessProbe": _probe("/api/health/live", 15, 3),
        "startupProbe": _probe("/api/health/live", 5, 24),
        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},  # let the endpoints drop the pod first
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "shared", "mountPath": "/var/lib/sextant"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": MIN_REPLICAS,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/path": "/api/metrics",
                        "prometheus.io/port": str(PORT),
                        "fluentbit.io/parser": "json",
                    },
                },
                "spec": {
                    "serviceAccountName": "sextant-serving",
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        {"name": "shared", "persistentVolumeClaim": {"claimName": "sextant-shared"}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                    ],
                },
            },
        },
    }


def service(domain: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"sextant-{domain}", "namespace": NAMESPACE, "labels": _labels(domain)},
        "spec": {
            "type": "ClusterIP",
            "selector": _labels(domain),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(domain: str) -> dict:
    max_replicas = DOMAINS[domain][4]
    name = f"sextant-{domain}"
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": _labels(domain)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": MIN_REPLICAS,
            "maxReplicas": max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "Utilization", "averageUtilization": 80},
                    },
                },
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 30,
                    "selectPolicy": "Max",
                    "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 30},
                        {"type": "Pods", "value": 3, "periodSeconds": 30},
                    ],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "selectPolicy": "Min",
                    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}],
                },
            },
        },
    }


def disruption_budget(domain: str) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"sextant-{domain}", "namespace": NAMESPACE, "labels": _labels(domain)},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": _labels(domain)}},
    }


class _NoAliases(yaml.SafeDumper):
    """Repeated label maps written out in full (anchors and aliases read badly in manifests)."""

    def ignore_aliases(self, data) -> bool:
        return True


def render() -> str:
    docs = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "sextant-serving", "namespace": NAMESPACE},
            "automountServiceAccountToken": False,
        }
    ]
    for domain in DOMAINS:
        docs += [deployment(domain), service(domain), autoscaler(domain), disruption_budget(domain)]
    header = (
        "# Generated by deploy/k8s/render_serving.py: edit that script and run it, not this file.\n"
        "# Per serving domain: Deployment (>= 3 replicas), Service, HorizontalPodAutoscaler, PodDisruptionBudget.\n"
    )
    return header + yaml.dump_all(docs, Dumper=_NoAliases, sort_keys=False, width=120)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
