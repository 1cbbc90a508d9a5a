"""Fixtures of the chain client tests: the recorded mainnet blocks 17173049-17173050 and servers over them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestration.simulator.replay import ReplayBackend
from orchestration.simulator.rpc_server import JsonRpcServer

FIRST, LAST = 17173049, 17173050
EXPORT = "chain/ethereum-etl_blocks_17173049_17173050"


@pytest.fixture(scope="session")
def etl_folder(shared_data: Path) -> Path:
    return shared_data / EXPORT


@pytest.fixture(scope="session")
def expected(etl_folder: Path) -> dict[str, list[dict]]:
    """ethereum-etl's own export of the two blocks, table -> rows."""
    tables = {}
    for name in ("blocks", "transactions", "logs", "token_transfers"):
        with (etl_folder / f"expected_{name}.json").open() as handle:
            tables[name] = [json.loads(line) for line in handle if line.strip()]
    return tables


@pytest.fixture
def replay(etl_folder: Path) -> ReplayBackend:
    return ReplayBackend.from_etl_export(etl_folder)


@pytest.fixture
def replay_url(replay: ReplayBackend) -> Iterator[str]:
    with JsonRpcServer(replay) as url:
        yield url
