"""Helpers for tests that need real services: reachability policy, free ports, disposable Redis.

Under CI (CI=true) a service that does not answer fails the test; on a laptop it skips with a
message. Everything started here is stopped by the fixture that started it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time

import pytest


def unavailable(what: str) -> None:
    """Fail under CI, skip elsewhere: a green CI run always means the service paths ran."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{what} is required under CI but is not reachable")
    pytest.skip(f"{what} not reachable")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delete_namespace(url: str, namespace: str) -> None:
    """Delete the keys `<namespace>:*` of one test on the shared Redis (never FLUSHDB: others use it)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


class DisposableRedis:
    """A redis-server of one test on a fixed free port, which the test may kill and start again."""

    def __init__(self, binary: str, port: int):
        self.binary = binary
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> None:
        import redis

        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise RuntimeError(f"redis-server on port {self.port} exited with {code}")
            try:
                client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
                client.ping()
                client.close()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server on port {self.port} did not answer") from None
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL (no goodbye to the clients), then reap the process."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.process = None

    stop = kill

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None
