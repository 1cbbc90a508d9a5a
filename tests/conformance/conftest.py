"""The peer nodes, one session each: Hardhat Network and Ganache from tests/peers (``make peers``).

Locally a missing Node.js or npm package skips with how to install it; under CI (CI=true) it
fails, as every other service the tests need (see tests/services.py).
"""

from __future__ import annotations

import os

import pytest

from tests.conformance.peer import PEERS, PeerNode, missing_prerequisite
from tests.services import free_port


def _missing(why: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{why} (required under CI)")
    pytest.skip(why)


@pytest.fixture(scope="session", params=PEERS)
def peer(request) -> PeerNode:
    """A started peer node on a free port of 127.0.0.1, stopped (its process group killed) at the end."""
    why = missing_prerequisite(request.param)
    if why:
        _missing(why)
    node = PeerNode(request.param, free_port())
    node.start()
    yield node
    node.stop()
