"""The devnet tests use the session's devnet of tests/conftest.py: compiled once, played once."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest


@pytest.fixture(scope="session")
def build_dir(devnet_build_dir: Path) -> Path:
    return devnet_build_dir


@pytest.fixture(scope="session")
def devnet(played_devnet):
    """(server, ground truth) of the session's devnet (tests/conftest.py), served on a free port."""
    return played_devnet


@pytest.fixture(scope="session")
def truth(devnet) -> dict:
    return devnet[1]


@pytest.fixture(scope="session")
def rpc(devnet):
    """``rpc(method, *params)`` over real HTTP; raises on a JSON-RPC error."""
    client = httpx.Client(base_url=devnet[0].url, timeout=30)

    def call(method: str, *params):
        answer = client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()
        if "error" in answer:
            raise RuntimeError(json.dumps(answer["error"]))
        return answer["result"]

    call.client = client
    yield call
    client.close()


@pytest.fixture(scope="session")
def w3(devnet):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(devnet[0].url, request_kwargs={"timeout": 30}))
