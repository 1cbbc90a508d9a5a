"""schemathesis, run as its users run it (the CLI, every check), against the API served by uvicorn.

The in-process fuzz (test_schema_fuzz.py) runs four checks on each backend; this runs `--checks all`
once: server errors, status codes, content types, headers and bodies as the schema says, schema-valid
data accepted, schema-violating data rejected, auth not ignored, unsupported methods refused.
Rules JSON Schema cannot state are listed, each with its reason, in schemathesis.toml beside this file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resources.warehouse import Warehouse
from serving.app import create_app
from tests.serving.proof.conftest import UvicornServer, issue, proof_settings, seed

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = "20261203"


@pytest.fixture
def served(tmp_path):
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    warehouse = Warehouse(url)
    seed(warehouse)
    token = issue(warehouse, "schemathesis", "read,write").token
    app = create_app(proof_settings(tmp_path / "home", url), warehouse)
    with UvicornServer(app) as server:
        yield server.url, token
    warehouse.dispose()


def test_schemathesis_checks_all_find_nothing(served, tmp_path):
    url, token = served
    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
    command = [
        cli, "--no-color", "--config-file", str(CONFIG), "run", f"{url}/api/openapi.json", "--checks", "all",
        "-H", f"Authorization: Bearer {token}", "--max-examples", "25", "--seed", SEED, "--workers", "1",
    ]
    done = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    summary = done.stdout[-8000:]
    assert done.returncode == 0, summary
    operations = sum(len(ops) for ops in create_app(proof_settings(tmp_path, "sqlite://")).openapi()["paths"].values())
    assert f"Tested: {operations}" in done.stdout, summary  # every operation, none skipped
