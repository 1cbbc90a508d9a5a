"""Helpers of the deployment tests: the files under deploy/, parsed, and the app's routes and metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"


def yaml_docs(path: Path) -> list[dict[str, Any]]:
    """Every non-empty document of a YAML file."""
    with path.open() as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc]


def k8s_objects() -> list[tuple[Path, dict[str, Any]]]:
    """(file, object) for every Kubernetes object committed under deploy/ (k8s/ and logging/)."""
    out = []
    for path in sorted([*K8S.glob("*.yaml"), *(DEPLOY / "logging").glob("*.yaml")]):
        out += [(path, doc) for doc in yaml_docs(path)]
    return out


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_objects() if doc["kind"] == kind]


def setting_aliases() -> set[str]:
    from resources.settings import Settings

    return {field.alias for field in Settings.model_fields.values() if field.alias}


@pytest.fixture(scope="module")
def sqlite_settings(tmp_path_factory):
    from resources.settings import Settings

    home = tmp_path_factory.mktemp("deploy-home")
    return Settings(SEXTANT_HOME=home, WAREHOUSE_URL=f"sqlite:///{home / 'warehouse.sqlite'}")
