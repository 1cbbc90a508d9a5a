"""Fixtures of the gateway tests: the shared Redis (REDIS_TEST_URL) and disposable Redis servers.

Under CI (CI=true) a Redis that does not answer, or a missing `redis-server`, fails the test instead
of skipping it.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest

from tests.services import delete_namespace


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key namespace of this test alone on the shared Redis; its keys are deleted before and after."""
    namespace = f"gwtest-{uuid.uuid4().hex[:12]}"
    delete_namespace(redis_url, namespace)
    yield namespace
    delete_namespace(redis_url, namespace)


@pytest.fixture
def hanging_redis_url() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers (a hung or black-holed Redis)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)  # the kernel completes the handshakes; nobody ever reads or writes
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
