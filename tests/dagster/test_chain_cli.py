"""`sextant chain index` and `sextant chain status` as a user runs them: settings from the environment, a
Dagster home on disk, real runs of chain_job against the session's devnet."""

from __future__ import annotations

import json
import logging

import pytest
from typer.testing import CliRunner

from orchestration.cli import app
from resources.settings import get_settings
from resources.warehouse import Warehouse
from tests.services import free_port


@pytest.fixture
def cli_env(monkeypatch, tmp_path, played_devnet):
    server, _ = played_devnet
    env = {
        "SEXTANT_HOME": str(tmp_path / "home"),
        "WAREHOUSE_URL": f"sqlite:///{tmp_path / 'warehouse.sqlite'}",
        "CHAIN_RPC_URL": server.url,
        "CHAIN_RANGE_SIZE": "10",
        "DAGSTER_HOME": str(tmp_path / "home" / "dagster"),  # the CLI sets it; monkeypatch puts it back
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # The CLI runs in a process of its own: no JSON log handler on stdout from an app that another
    # test module built at import (it would mix log lines into `status --json`).
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


def sextant(*args: str):
    result = CliRunner().invoke(app, list(args))
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    return result, " ".join(output.replace("│", " ").split())  # rich's error box, unwrapped


def test_index_then_status_show_the_node_s_blocks(cli_env, played_devnet):
    server, _ = played_devnet
    head = int(server.world.backend.call("eth_blockNumber", []), 16)
    result, output = sextant("chain", "index", "--from", "0", "--to", "25")
    assert result.exit_code == 0, output
    assert "indexed blocks 0-25 in 3 range(s)" in output

    result, output = sextant("chain", "status", "--json")
    assert result.exit_code == 0, output
    report = json.loads(result.stdout)
    assert report["head"] == head and report["behind_head"] == head - 25
    assert report["indexed_span"] == {"from": 0, "to": 25, "stored_blocks": 26}
    assert report["gaps"] == [] and report["failed_ranges"] == [] and report["ranges"] == 3
    assert report["block_receipts"] == "supported"  # learnt by the runs, kept in the warehouse

    wh = Warehouse(cli_env["WAREHOUSE_URL"])
    node_txs = sum(
        len(server.world.backend.call("eth_getBlockByNumber", [hex(n), False])["transactions"]) for n in range(26)
    )
    assert wh.count("chain_transactions") == node_txs
    before = wh.count("chain_logs")
    result, output = sextant("chain", "index", "--from", "3", "--to", "4")  # inside a range: it is re-indexed whole
    assert result.exit_code == 0 and "indexed blocks 0-9 in 1 range(s)" in output
    assert wh.count("chain_logs") == before
    wh.dispose()

    result, output = sextant("chain", "status")
    assert result.exit_code == 0 and "0-25 (26 blocks stored)" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "0", "--to", "100000"], "past the node's head"),
        (["--from", "9", "--to", "3"], "before --from"),
        (["--from", "-1", "--to", "3"], "greater than or equal to 0"),
        (["--from", "x", "--to", "3"], "unable to parse string as an integer"),
    ],
)
def test_bad_ranges_are_refused_with_a_message(cli_env, args, message):
    result, output = sextant("chain", "index", *args)
    assert result.exit_code == 2 and message in output and "Traceback" not in output


def test_an_unreachable_node_is_named(cli_env, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("CHAIN_RPC_URL", dead)
    get_settings.cache_clear()
    result, output = sextant("chain", "index", "--from", "0", "--to", "3")
    assert result.exit_code == 1 and f"the chain node at {dead} did not answer" in output
    result, output = sextant("chain", "status", "--json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["head"] is None and "ConnectionError" in report["node_error"]
