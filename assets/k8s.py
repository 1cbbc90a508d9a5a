"""What Kubernetes gives the heavy Dagster steps: per-asset pod resources and the step executor.

On the cluster (deploy/helm/values.yaml) every run is a Kubernetes Job (K8sRunLauncher) and the heavy
jobs use `k8s_job_executor`, which starts one pod per step. Such a pod is sized by its op's
`dagster-k8s/config` tag, so the assets that train or translate carry one of the dicts below in their
`op_tags`, while the light steps stay small. Off the cluster (DAGSTER_EXECUTOR=default) the tags are
inert and the default executor runs. Beside the domains that use it (price and NLP define their heavy
jobs in their triggers); deploy/helm/values.yaml shows the same figures (tests keep them equal).
"""

from __future__ import annotations

from typing import Any

from resources.settings import Settings, get_settings

K8S_CONFIG_TAG = "dagster-k8s/config"


def k8s_resources_tag(requests: dict[str, str], limits: dict[str, str]) -> dict[str, Any]:
    """Op tags that give a step's pod these container resources (read by dagster-k8s)."""
    return {K8S_CONFIG_TAG: {"container_config": {"resources": {"requests": requests, "limits": limits}}}}


#: Price model training (LSTM, ensemble, walk-forward evaluation): torch on CPU, a few GiB of windows.
PRICE_MODEL_K8S = k8s_resources_tag({"cpu": "500m", "memory": "2Gi"}, {"cpu": "2", "memory": "4Gi"})
#: Translation (seq2seq model in memory plus batches of texts).
TRANSLATION_K8S = k8s_resources_tag({"cpu": "1", "memory": "3Gi"}, {"cpu": "2", "memory": "5Gi"})


#: Steps of one heavy run in flight at once (each is a pod with the resources above).
HEAVY_MAX_CONCURRENT_STEPS = 4
#: Run tag of the heavy jobs: the instance lets 2 such runs go at once (concurrency.runs in
#: deploy/helm/values.yaml and deploy/dagster/dagster-k8s.yaml).
HEAVY_JOB_TAGS = {"sextant/heavy": "true"}


def heavy_executor(settings: Settings | None = None):
    """The executor of the heavy jobs: `k8s_job_executor` when DAGSTER_EXECUTOR=k8s, else None (Dagster's
    default, multiprocess). dagster-k8s is imported only on the cluster path."""
    settings = settings or get_settings()
    if settings.dagster_executor.strip().lower() != "k8s":
        return None
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured({"max_concurrent": HEAVY_MAX_CONCURRENT_STEPS}, name="k8s_heavy_executor")
