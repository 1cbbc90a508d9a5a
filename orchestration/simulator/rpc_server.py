"""One small HTTP JSON-RPC 2.0 server in front of any backend (devnet chain, recorded replay).

Why our own and not a framework: the server must accept batch arrays, answer each element on its
own (one failing call does not fail the batch), speak HTTP/1.1 keep-alive so clients reuse
connections, and cost little per call so benchmarks measure the client, not the server. The
standard library's threading server does all of that in a page.

A backend is anything with ``call(method, params) -> result``. It raises ``RpcError`` for a JSON-RPC
error answer. A result may be ``RawJson`` (already-encoded bytes) to skip encoding on hot paths.
The fault proxy (`faults.py`) is an HTTP server of its own but shares the handler basics and the
start/stop lifecycle defined here.
"""

from __future__ import annotations

import json
import threading
from contextlib import nullcontext
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


class RpcError(Exception):
    """A JSON-RPC error answer: standard codes above, or a server-defined one (-32000..-32099)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True, slots=True)
class RawJson:
    """A result that is already JSON text (bytes), spliced into the answer as is."""

    text: bytes


class Backend(Protocol):
    def call(self, method: str, params: list[Any]) -> Any: ...


def method_not_found(method: str) -> RpcError:
    return RpcError(METHOD_NOT_FOUND, f"the method {method} does not exist/is not available")


def _encode_result(request_id: Any, result: Any) -> bytes:
    head = b'{"jsonrpc":"2.0","id":' + json.dumps(request_id).encode() + b',"result":'
    body = result.text if isinstance(result, RawJson) else json.dumps(result, separators=(",", ":")).encode()
    return head + body + b"}"


def _encode_error(request_id: Any, error: RpcError) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}, separators=(",", ":")).encode()


def answer_one(backend: Backend, request: Any) -> bytes:
    """The encoded answer to one request object (never raises for a JSON-RPC level problem)."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        return _encode_error(None, RpcError(INVALID_REQUEST, "invalid request: expected an object with a method"))
    request_id = request.get("id")
    params = request.get("params", [])
    if not isinstance(params, list):
        return _encode_error(request_id, RpcError(INVALID_PARAMS, "params must be an array"))
    try:
        return _encode_result(request_id, backend.call(request["method"], params))
    except RpcError as error:
        return _encode_error(request_id, error)
    except Exception as error:  # noqa: BLE001 - a backend bug is still a JSON-RPC answer, not a dropped connection
        return _encode_error(request_id, RpcError(INTERNAL_ERROR, f"internal error: {type(error).__name__}: {error}"))


def answer(backend: Backend, body: bytes) -> bytes:
    """The encoded answer to a request body: one object, or a batch array answered element by element."""
    try:
        payload = json.loads(body)
    except ValueError:
        return _encode_error(None, RpcError(PARSE_ERROR, "parse error: the body is not JSON"))
    if isinstance(payload, list):
        if not payload:
            return _encode_error(None, RpcError(INVALID_REQUEST, "invalid request: empty batch"))
        return b"[" + b",".join(answer_one(backend, item) for item in payload) + b"]"
    return answer_one(backend, payload)


class QuietHandler(BaseHTTPRequestHandler):
    """What every local JSON-RPC endpoint here shares: keep-alive, no Nagle, JSON replies, no access log."""

    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse one connection for many calls
    # Headers and body go out in two writes; with Nagle on, the second waits for the client's delayed
    # ACK (~40 ms per call on Linux). TCP_NODELAY sends both at once.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # a liveness probe for scripts and compose health checks
        self.reply(200, b'{"ok":true}')

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # quiet: one line per call would drown the logs
        return


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class BackgroundServer:
    """Start, stop and `with` for a `LocalServer` served from a daemon thread (``self._server``)."""

    _server: LocalServer
    _thread_name = "local-server"
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._server.serve_forever, name=self._thread_name, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(QuietHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock if self.server.serialize else nullcontext():
            answered = answer(self.server.backend, body)
        self.reply(200, answered)


class _Server(LocalServer):
    backend: Backend
    lock: threading.Lock
    serialize: bool


class JsonRpcServer(BackgroundServer):
    """Serve ``backend`` on 127.0.0.1 in a background thread; ``with JsonRpcServer(b) as url: ...``.

    ``serialize=True`` runs one call at a time, for backends that are not thread-safe (eth-tester).
    ``port=0`` picks a free port; ``url`` says which.
    """

    _thread_name = "jsonrpc-server"

    def __init__(self, backend: Backend, host: str = "127.0.0.1", port: int = 0, *, serialize: bool = False) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.backend = backend
        self._server.lock = threading.Lock()
        self._server.serialize = serialize

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the CLI)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()
