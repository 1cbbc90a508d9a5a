"""A real uvicorn server per test and real WebSocket clients (the `websockets` package) against it.

Everything started here (servers, client sockets) is stopped by the context that started it.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode
from websockets.sync.client import ClientConnection, connect

from ops.stream.events import StreamEvent
from resources.settings import Settings
from resources.stream_events import append_events
from resources.tokens import TokenStore
from resources.warehouse import Warehouse
from serving.app import create_app
from tests.serving.proof.conftest import UvicornServer

FAST = {
    "STREAM_POLL_SECONDS": 0.05,
    "STREAM_HEARTBEAT_SECONDS": 0.5,
    "STREAM_IDLE_SECONDS": 30,
    "RATE_LIMIT_DEFAULT": "1000000/minute",
}


def stream_settings(home: Path, warehouse_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "SEXTANT_HOME": home,
        "WAREHOUSE_URL": warehouse_url,
        "SERVICE_NAME": f"stream-{uuid.uuid4().hex[:12]}",
        **FAST,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def serving(settings: Settings, warehouse: Warehouse) -> Iterator[tuple[str, Any]]:
    """(ws:// URL of /api/v1/stream, the app) under uvicorn on a free loopback port, stopped on exit."""
    app = create_app(settings=settings, warehouse=warehouse)
    with UvicornServer(app) as server:
        deadline = time.monotonic() + 10
        while not (getattr(app.state, "stream", None) and app.state.stream.hub.ready):
            if time.monotonic() > deadline:
                raise RuntimeError("the stream did not read its log")
            time.sleep(0.02)
        yield server.url.replace("http://", "ws://") + "/api/v1/stream", app


def token(warehouse: Warehouse, client_id: str = "streamer", scopes: str = "read") -> str:
    return TokenStore(warehouse).create(client_id, scopes).token


def open_stream(url: str, bearer: str | None, query: str = "", **kwargs: Any) -> ClientConnection:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
    return connect(url + query, additional_headers=headers, open_timeout=10, close_timeout=5, **kwargs)


def receive(ws: ClientConnection, timeout: float = 10.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def events(ws: ClientConnection, count: int, timeout: float = 15.0) -> list[dict]:
    """The next `count` event messages (heartbeats and acknowledgements skipped)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail(f"got {len(out)} of {count} events within {timeout} s: {out[-3:]}")
        message = receive(ws, timeout=left)
        if message["type"] == "event":
            out.append(message)
    return out


def until(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        message = receive(ws, timeout=max(0.01, deadline - time.monotonic()))
        if message["type"] == kind:
            return message


def close_of(ws: ClientConnection, timeout: float = 10.0) -> tuple[int | None, str | None]:
    """Read until the server closes; its (code, reason)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (None, None)
    except TimeoutError:
        pass
    pytest.fail(f"the server did not close the connection within {timeout} s")


def blocks(first: int, count: int, pad: int = 0) -> list[StreamEvent]:
    """Block events; `pad` characters of random text each (incompressible: per-message deflate is on)."""
    return [StreamEvent("blocks", str(n), {"number": n, "hash": f"0x{n:064x}", "pad": _noise(pad)})
            for n in range(first, first + count)]  # fmt: skip


def _noise(chars: int) -> str:
    return base64.b64encode(os.urandom(chars * 3 // 4 + 3)).decode()[:chars] if chars else ""


def publish(warehouse: Warehouse, batch: list[StreamEvent]) -> list[int]:
    return append_events(warehouse, batch)


def strip_scopes(warehouse: Warehouse, bearer: str) -> None:
    """Leave the token valid with no scope this version knows (as a token granted a future scope is)."""
    token_id = bearer.split("_")[1]
    with warehouse.engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_tokens SET scopes = 'future' WHERE token_id = :id"), {"id": token_id})


class SlowClient:
    """A WebSocket client that never reads after the handshake, over a socket with a tiny receive
    buffer (set before connecting): the server's writes back up after a few kilobytes. Sans-I/O
    (`websockets.client.ClientProtocol`) because a library client reads in the background."""

    def __init__(self, url: str, bearer: str):
        from websockets.client import ClientProtocol
        from websockets.http11 import Response
        from websockets.uri import parse_uri

        host, port = url.removeprefix("ws://").split("/", 1)[0].split(":")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(10)
        self.sock.connect((host, int(port)))
        self.protocol = ClientProtocol(parse_uri(url), extensions=None)  # no compression
        request = self.protocol.connect()
        request.headers["Authorization"] = f"Bearer {bearer}"
        self.protocol.send_request(request)
        self.sock.sendall(b"".join(self.protocol.data_to_send()))
        while not any(isinstance(e, Response) for e in self.protocol.events_received()):
            data = self.sock.recv(1)  # byte by byte: leave every frame after the handshake unread
            if not data:
                raise ConnectionError("closed during the handshake")
            self.protocol.receive_data(data)

    def read_until_closed(self, timeout: float = 15.0) -> tuple[int | None, str | None, int]:
        """Read everything at last: (close code, reason, text frames received before it)."""
        frames = 0
        deadline = time.monotonic() + timeout
        while self.protocol.close_rcvd is None and time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            self.protocol.receive_data(data)
            frames += sum(1 for e in self.protocol.events_received() if getattr(e, "opcode", None) == Opcode.TEXT)
            self.sock.sendall(b"".join(self.protocol.data_to_send()))  # answers pings and the close
        close = self.protocol.close_rcvd
        return (close.code, close.reason, frames) if close else (None, None, frames)

    def close(self) -> None:
        self.sock.close()
