"""Fixtures of the gateway tests: the shared Redis (REDIS_TEST_URL) and disposable Redis servers.

Under CI (CI=true) a Redis that does not answer, or a missing `redis-server`, fails the test instead
of skipping it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest


def _unavailable(what: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required under CI but is not reachable")
    pytest.skip(f"{what} not reachable")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the shared test Redis (database 15 by default)."""
    url = os.environ.get("REDIS_TEST_URL")
    if not url:
        _unavailable("Redis (set REDIS_TEST_URL)")
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        _unavailable(f"Redis at {url} ({exc.__class__.__name__})")
    return url


def _delete_namespace(url: str, namespace: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_namespace(redis_url: str) -> Iterator[str]:
    """A key namespace of this test alone on the shared Redis; its keys are deleted before and after."""
    namespace = f"gwtest-{uuid.uuid4().hex[:12]}"
    _delete_namespace(redis_url, namespace)
    yield namespace
    _delete_namespace(redis_url, namespace)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DisposableRedis:
    """A redis-server of one test, on a free port, that the test may kill and start again."""

    def __init__(self, binary: str, port: int):
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        import redis

        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited with {self.process.returncode}")
            try:
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not answer") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to the clients) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@pytest.fixture
def disposable_redis() -> Iterator[DisposableRedis]:
    """A started redis-server on a free port, stopped after the test whatever happened."""
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server binary")
    server = DisposableRedis(binary, _free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def hanging_redis_url() -> Iterator[str]:
    """A Redis URL whose server accepts connections and never answers (a hung or black-holed Redis)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)  # the kernel completes the handshakes; nobody ever reads or writes
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
