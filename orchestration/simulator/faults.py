"""A fault-injecting HTTP proxy in front of a JSON-RPC node, for testing the indexer's resilience.

``FaultProxy(upstream_url, rate=0.3, seed=0)`` listens on 127.0.0.1 and forwards each HTTP request
body to the upstream as is. On a seeded ``rate`` of HTTP requests it injects one fault instead:

- ``http_429``: 429 Too Many Requests with a Retry-After header (nothing forwarded);
- ``http_503``: 503 Service Unavailable (nothing forwarded);
- ``timeout``: hold the request ``hold_seconds`` (longer than the client's timeout, which tests set
  short), then drop the connection without an answer;
- ``rpc_error``: forward, then replace one element of the answer (one call of a batch, or the single
  call) with a JSON-RPC server error (-32000).

Why a proxy of its own rather than a ``JsonRpcServer`` backend: faults are decided per HTTP
request (a batch is one request), and a timeout must drop a connection, which a backend's
per-call ``call(method, params)`` cannot express. The fault sequence comes from one seeded
``random.Random`` drawn once per request under a lock, so a sequential client sees the same
faults on every run. ``injected`` counts what was injected, by kind.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable
from urllib.parse import urlsplit

from orchestration.simulator.rpc_server import BackgroundServer, LocalServer, QuietHandler

FAULT_KINDS = ("http_429", "http_503", "timeout", "rpc_error")
INJECTED_ERROR = {"code": -32000, "message": "injected fault: temporarily unavailable, try again"}


class _ProxyServer(LocalServer):
    proxy: FaultProxy


class _Handler(QuietHandler):
    server: _ProxyServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.proxy._handle(self, body)


class FaultProxy(BackgroundServer):
    """``with FaultProxy(upstream_url, rate=0.3, seed=7) as url: ...`` -- see the module docstring."""

    def __init__(
        self,
        upstream_url: str,
        rate: float = 0.3,
        seed: int = 0,
        kinds: Iterable[str] = FAULT_KINDS,
        *,
        hold_seconds: float = 3.0,
        retry_after_seconds: int = 1,
        port: int = 0,
    ) -> None:
        self.kinds = tuple(kinds)
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be among {FAULT_KINDS}, got {sorted(unknown) or 'none'}")
        self.rate = rate
        self.hold_seconds = hold_seconds
        self.retry_after_seconds = retry_after_seconds
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        upstream = urlsplit(upstream_url)
        self._upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80, upstream.path or "/")
        self._local = threading.local()
        self._stopping = threading.Event()
        self._server = _ProxyServer(("127.0.0.1", port), _Handler)
        self._server.proxy = self

    # --- lifecycle ------------------------------------------------------------------------------

    _thread_name = "fault-proxy"

    def stop(self) -> None:
        self._stopping.set()  # releases held "timeout" requests
        super().stop()

    # --- the proxy ------------------------------------------------------------------------------

    def _draw(self) -> tuple[str | None, float]:
        with self._lock:
            self.requests += 1
            fault = self._rng.choice(self.kinds) if self._rng.random() < self.rate else None
            pick = self._rng.random()  # which batch element an rpc_error hits
            if fault is not None:
                self.injected[fault] += 1
        return fault, pick

    def _handle(self, handler: _Handler, body: bytes) -> None:
        fault, pick = self._draw()
        if fault == "http_429":
            handler.reply(
                429, b'{"error":"too many requests"}', {"Retry-After": str(self.retry_after_seconds)}
            )
            return
        if fault == "http_503":
            handler.reply(503, b'{"error":"service unavailable"}')
            return
        if fault == "timeout":
            self._stopping.wait(self.hold_seconds)
            handler.close_connection = True  # no answer at all: the client's timeout fires first
            return
        try:
            status, answer = self._forward(body)
        except OSError as error:
            handler.reply(502, json.dumps({"error": f"upstream unreachable: {error}"}).encode())
            return
        if fault == "rpc_error" and status == 200:
            answer = _break_one(answer, pick)
        handler.reply(status, answer)

    def _forward(self, body: bytes) -> tuple[int, bytes]:
        """POST ``body`` upstream over this thread's keep-alive connection (reconnecting once)."""
        host, port, path = self._upstream
        for attempt in (1, 2):
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(host, port, timeout=60)
            try:
                conn.request("POST", path, body, {"Content-Type": "application/json"})
                response = conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _break_one(answer: bytes, pick: float) -> bytes:
    """Replace one element of a JSON-RPC answer (batch or single) with a server error."""
    try:
        payload = json.loads(answer)
    except ValueError:
        return answer
    if isinstance(payload, list) and payload:
        index = min(int(pick * len(payload)), len(payload) - 1)
        payload[index] = {"jsonrpc": "2.0", "id": payload[index].get("id"), "error": INJECTED_ERROR}
    elif isinstance(payload, dict):
        payload = {"jsonrpc": "2.0", "id": payload.get("id"), "error": INJECTED_ERROR}
    return json.dumps(payload, separators=(",", ":")).encode()


def wait_until_listening(url: str, timeout: float = 5.0) -> None:
    """Block until an HTTP server answers GET at ``url`` (for scripts that start one in a subprocess)."""
    parts = urlsplit(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=1)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
