"""The Dagster home: which instance config a local process uses.

The repository's `dagster.yaml` is the embedded instance (SQLite under the home). With
DAGSTER_PG_URL set, `deploy/dagster/dagster-postgres.yaml` is used instead, so runs, event logs
and schedules live in PostgreSQL. Either is copied into the home, where Dagster looks for it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from resources.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_CONFIG = REPO_ROOT / "dagster.yaml"
POSTGRES_CONFIG = REPO_ROOT / "deploy" / "dagster" / "dagster-postgres.yaml"


def instance_config_for(settings: Settings) -> Path:
    return POSTGRES_CONFIG if settings.dagster_pg_url else EMBEDDED_CONFIG


def prepare_dagster_home(settings: Settings) -> Path:
    """Create the Dagster home with the right dagster.yaml and return its path (for DAGSTER_HOME)."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(instance_config_for(settings), home / "dagster.yaml")
    return home
