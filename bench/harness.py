"""Starting and stopping the servers a benchmark measures, one way for every bench.

A bench runs its servers as child processes on free loopback ports, each logging to a file of its
own (its last lines are shown when it fails to come up), and stops them with a signal and a
timeout, so a bench never leaves a process behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """A child process of the bench; `port` is where it serves (0: it serves nothing)."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(name: str, command: Sequence[str], log_path: Path, *, port: int = 0, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> Server:  # fmt: skip
    """`command` in its own session (a signal reaches its children too), output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(list(command), cwd=str(cwd) if cwd else None, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    return Server(name, port, process, log_path)


def wait_until(server: Server, check: Callable[[], bool], timeout: float, what: str = "ready") -> None:
    """Poll `check` (exceptions count as not yet) until true; bounded by `timeout` and by the process
    staying alive. Raises RuntimeError with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001, S110 - not up yet
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not {what} after {timeout:.0f} s:\n{server.log_tail()}")


def wait_http(server: Server, path: str, timeout: float) -> None:
    """Until `GET path` on the server answers 200."""
    import httpx

    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        wait_until(server, lambda: client.get(path).status_code == 200, timeout)


def stop(server: Server, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """`sig` to the server's session (SIGTERM: uvicorn shuts down gracefully; SIGINT: what Ctrl-C
    does to our CLIs), then SIGKILL if it lingers."""
    process = server.process
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


def best_on_copies(sqlite_path: Path, folder: Path, repeats: int, work: Callable[[Any], Any],
                   warm: Callable[[Any], Any], read: Callable[[Any], Any] | None = None) -> tuple[float, Any]:  # fmt: skip
    """Best wall time of `work(db)` over `repeats` fresh copies of a SQLite warehouse file.

    Each copy starts from the same state (a fold writes, so a second run on one file would time
    something else); `warm(db)` runs first, outside the timing (the connection, the page cache);
    `read(db)`, after it, returns what the caller compares (the last copy's)."""
    import shutil

    from resources.warehouse import Warehouse

    best, result = float("inf"), None
    for i in range(repeats):
        copy = folder / f"run{i}.sqlite"
        shutil.copy(sqlite_path, copy)
        db = Warehouse(f"sqlite:///{copy}")
        try:
            warm(db)
            start = time.perf_counter()
            work(db)
            best = min(best, time.perf_counter() - start)
            result = read(db) if read else None
        finally:
            db.dispose()
    return best, result
