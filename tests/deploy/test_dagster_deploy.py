"""The Dagster side of the deployment: Helm values against the chart's documented keys, the production
instance config against Dagster's schema, and the per-asset pod resources through dagster-k8s."""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from assets.k8s import (
    HEAVY_JOB_TAGS,
    K8S_CONFIG_TAG,
    PRICE_MODEL_K8S,
    TRANSLATION_K8S,
    heavy_executor,
)
from tests.deploy.conftest import DEPLOY, yaml_docs

VALUES = yaml_docs(DEPLOY / "helm" / "values.yaml")[0]
INSTANCE = yaml_docs(DEPLOY / "dagster" / "dagster-k8s.yaml")[0]

ANY = object()  # any value (a map the chart passes through, or a Kubernetes object)
_IMAGE = {"repository": str, "tag": str, "pullPolicy": str}
_POD = {
    "podSecurityContext": ANY,
    "securityContext": ANY,
    "resources": ANY,
    "nodeSelector": ANY,
    "affinity": ANY,
    "tolerations": ANY,
    "annotations": ANY,
    "labels": ANY,
    "volumes": ANY,
    "volumeMounts": ANY,
    "schedulerName": str,
    "livenessProbe": ANY,
    "readinessProbe": ANY,
    "startupProbe": ANY,
}
_ENV = {"env": ANY, "envConfigMaps": ANY, "envSecrets": ANY}
_TICKS = {"purgeAfterDays": ANY}
#: The keys the official chart documents (its values schema models, Dagster 1.13), for what we set.
DOCUMENTED: dict[str, Any] = {
    "global": {
        "postgresqlSecretName": str,
        "dagsterHome": str,
        "serviceAccountName": str,
        "celeryConfigSecretName": str,
    },
    "dagsterWebserver": {
        "replicaCount": int,
        "image": _IMAGE,
        "nameOverride": str,
        "pathPrefix": str,
        "service": ANY,
        "workspace": ANY,
        "deploymentLabels": ANY,
        "enableReadOnly": bool,
        "logLevel": str,
        "dbStatementTimeout": int,
        "dbPoolRecycle": int,
        **_ENV,
        **_POD,
    },
    "dagster-user-deployments": {
        "enabled": bool,
        "enableSubchart": bool,
        "imagePullSecrets": ANY,
        "deployments": [
            {
                "name": str,
                "image": _IMAGE,
                "dagsterApiGrpcArgs": [str],
                "codeServerArgs": [str],
                "includeConfigInLaunchedRuns": {"enabled": bool},
                "port": int,
                **_ENV,
                **_POD,
            }
        ],
    },
    "runLauncher": {
        "type": str,
        "config": {
            "k8sRunLauncher": {
                "image": _IMAGE,
                "imagePullPolicy": str,
                "jobNamespace": str,
                "loadInclusterConfig": bool,
                "kubeconfigFile": str,
                "envConfigMaps": ANY,
                "envSecrets": ANY,
                "envVars": ANY,
                "volumeMounts": ANY,
                "volumes": ANY,
                "labels": ANY,
                "failPodOnRunFailure": bool,
                "resources": ANY,
                "schedulerName": str,
                "securityContext": ANY,
                "runK8sConfig": {
                    "containerConfig": ANY,
                    "podSpecConfig": ANY,
                    "podTemplateSpecMetadata": ANY,
                    "jobSpecConfig": ANY,
                    "jobMetadata": ANY,
                },
            }
        },
    },
    "postgresql": {
        "enabled": bool,
        "image": ANY,
        "postgresqlHost": str,
        "postgresqlUsername": str,
        "postgresqlPassword": str,
        "postgresqlDatabase": str,
        "postgresqlParams": ANY,
        "postgresqlScheme": str,
        "service": {"port": int},
    },
    "generatePostgresqlPasswordSecret": bool,
    "rabbitmq": {"enabled": bool},
    "redis": {"enabled": bool},
    "flower": {"enabled": bool},
    "dagsterDaemon": {
        "enabled": bool,
        "image": _IMAGE,
        "heartbeatTolerance": int,
        "deploymentLabels": ANY,
        "runCoordinator": {
            "enabled": bool,
            "type": str,
            "config": {
                "queuedRunCoordinator": {
                    "dequeueIntervalSeconds": int,
                    "dequeueNumWorkers": int,
                    "dequeueUseThreads": bool,
                }
            },
        },
        "runMonitoring": ANY,
        "runRetries": ANY,
        "sensors": ANY,
        "schedules": ANY,
        **_ENV,
        **_POD,
    },
    "concurrency": {
        "enabled": bool,
        "pools": {"defaultLimit": int, "granularity": str, "opGranularityRunBuffer": int},
        "runs": {
            "maxConcurrentRuns": int,
            "tagConcurrencyLimits": [{"key": str, "value": ANY, "limit": int}],
        },
    },
    "retention": {"enabled": bool, "schedule": _TICKS, "sensor": _TICKS, "autoMaterialize": _TICKS},
    "telemetry": {"enabled": bool},
    # Ours, ignored by the chart: the op tags of the heavy assets, shown beside every other pod size.
    "sextant": ANY,
}


def _check(value: Any, schema: Any, path: str) -> None:
    if schema is ANY:
        return
    if isinstance(schema, dict):
        assert isinstance(value, dict), path
        unknown = set(value) - set(schema)
        assert not unknown, f"{path}: keys the chart does not document: {sorted(unknown)}"
        for key, sub in value.items():
            _check(sub, schema[key], f"{path}.{key}")
    elif isinstance(schema, list):
        assert isinstance(value, list), path
        for i, item in enumerate(value):
            _check(item, schema[0], f"{path}[{i}]")
    else:
        assert isinstance(value, schema), f"{path}: {value!r} is not {schema.__name__}"


def test_helm_values_use_only_keys_the_chart_documents():
    _check(VALUES, DOCUMENTED, "values")
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert VALUES["postgresql"]["enabled"] is False and VALUES["postgresql"]["postgresqlHost"] == "postgres"
    (deployment,) = VALUES["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"][:2] == ["--module-name", "orchestration.definitions"]
    # The run coordinator must not repeat what `concurrency.runs` sets (the chart refuses both).
    queued = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert "maxConcurrentRuns" not in queued and "tagConcurrencyLimits" not in queued


def test_values_tags_are_the_code_tags_with_the_issue_figures():
    tags = VALUES["sextant"]["stepTags"]
    assert tags["price_model"] == PRICE_MODEL_K8S
    assert tags["translation"] == TRANSLATION_K8S
    price = PRICE_MODEL_K8S[K8S_CONFIG_TAG]["container_config"]["resources"]
    assert price == {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    translation = TRANSLATION_K8S[K8S_CONFIG_TAG]["container_config"]["resources"]
    assert translation == {"requests": {"cpu": "1", "memory": "3Gi"}, "limits": {"cpu": "2", "memory": "5Gi"}}


def _camel_to_snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            _camel_to_snake(k) if k not in ("applyLimitPerUniqueValue",) else k: _snake(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def test_instance_config_is_what_the_values_render():
    concurrency = {k: v for k, v in VALUES["concurrency"].items() if k != "enabled"}
    assert INSTANCE["concurrency"] == _snake(concurrency)
    retention = {k: v for k, v in VALUES["retention"].items() if k != "enabled"}
    assert INSTANCE["retention"] == _snake(retention)
    assert INSTANCE["run_monitoring"] == {
        "enabled": True,
        **_snake({k: v for k, v in VALUES["dagsterDaemon"]["runMonitoring"].items() if k != "enabled"}),
    }
    launcher = VALUES["runLauncher"]["config"]["k8sRunLauncher"]
    assert INSTANCE["run_launcher"]["config"]["resources"] == launcher["resources"]
    assert INSTANCE["run_launcher"]["config"]["env_config_maps"] == [
        m["name"] for m in launcher["envConfigMaps"]
    ]
    assert (
        INSTANCE["run_launcher"]["config"]["postgres_password_secret"]
        == VALUES["global"]["postgresqlSecretName"]
    )
    db = INSTANCE["storage"]["postgres"]["postgres_db"]
    pg = VALUES["postgresql"]
    assert (db["hostname"], db["db_name"], db["username"], db["port"]) == (
        pg["postgresqlHost"],
        pg["postgresqlDatabase"],
        pg["postgresqlUsername"],
        pg["service"]["port"],
    )


def test_production_instance_config_validates_against_dagster(tmp_path):
    from dagster._config import validate_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    shutil.copy(DEPLOY / "dagster" / "dagster-k8s.yaml", tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"
    assert config["storage"]["postgres"]
    launcher = validate_config(K8sRunLauncher.config_type(), config["run_launcher"]["config"])
    assert launcher.success, launcher.errors
    heavy = {
        limit["key"]: limit["limit"] for limit in config["concurrency"]["runs"]["tag_concurrency_limits"]
    }
    assert heavy[next(iter(HEAVY_JOB_TAGS))] == 2


def test_an_instance_config_that_breaks_the_schema_is_refused(tmp_path):
    """The validation above can fail: a misspelt key is an error."""
    from dagster._core.errors import DagsterInvalidConfigError
    from dagster._core.instance.config import dagster_instance_config

    text = (DEPLOY / "dagster" / "dagster-k8s.yaml").read_text().replace("run_monitoring:", "run_monitorin:")
    (tmp_path / "dagster.yaml").write_text(text)
    with pytest.raises(DagsterInvalidConfigError):
        dagster_instance_config(str(tmp_path))


def _job_resources(tags: dict) -> dict:
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job, get_user_defined_k8s_config

    config = DagsterK8sJobConfig(
        job_image="registry.example.com/sextant:0.1.0",
        dagster_home="/opt/dagster/dagster_home",
        instance_config_map="dagster-instance",
    )
    # Dagster stores op tags as strings (a dict tag JSON-encoded), as the executor hands them over.
    tags = {k: v if isinstance(v, str) else json.dumps(v) for k, v in tags.items()}
    job = construct_dagster_k8s_job(
        config, ["dagster", "api", "execute_step"], "dagster-step-abc", get_user_defined_k8s_config(tags)
    )
    resources = job.spec.template.spec.containers[0].resources
    return {"requests": resources.requests, "limits": resources.limits}


def test_price_model_tags_give_the_step_pod_its_resources():
    assert _job_resources(PRICE_MODEL_K8S) == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }
    assert _job_resources(TRANSLATION_K8S) == {
        "requests": {"cpu": "1", "memory": "3Gi"},
        "limits": {"cpu": "2", "memory": "5Gi"},
    }


HEAVY_ASSETS = {
    "price_lstm": PRICE_MODEL_K8S,
    "price_ensemble": PRICE_MODEL_K8S,
    "price_model": PRICE_MODEL_K8S,
    "translation_model": TRANSLATION_K8S,
    "translations": TRANSLATION_K8S,
}


@pytest.mark.parametrize("name", sorted(HEAVY_ASSETS))
def test_heavy_assets_carry_their_k8s_tags(name):
    """`construct_dagster_k8s_job` for the asset's own op tags yields the requested resources."""
    from orchestration.definitions import defs

    asset = defs.resolve_assets_def(name)
    tags = dict(asset.op.tags)
    assert _job_resources(tags) == _job_resources(HEAVY_ASSETS[name])


def test_heavy_executor_is_k8s_only_when_asked(sqlite_settings):
    assert heavy_executor(sqlite_settings) is None
    executor = heavy_executor(sqlite_settings.model_copy(update={"dagster_executor": "k8s"}))
    assert executor.name == "k8s_heavy_executor"
