"""Helpers of the observability tests: an app with observability installed, JSON log capture, and
real HTTP servers (uvicorn in a thread on a free 127.0.0.1 port) for the browser and Dagster tests.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
import structlog
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from resources.settings import Settings
from resources.warehouse import TableSpec, Warehouse
from serving.app import create_app
from serving.observability.endpoints import route_templates
from serving.observability.install import install_observability
from serving.observability.metrics import Metrics, build_metrics_router
from serving.routers import dashboard

#: The model quality table later issues write (the warehouse collector reads it when present).
MODEL_METRICS = TableSpec(
    "model_metrics",
    {
        "model": pl.Utf8,
        "metric": pl.Utf8,
        "value": pl.Float64,
        "version": pl.Utf8,
        "measured_at": pl.Datetime("us", "UTC"),
    },
    ("model", "metric", "version"),
)


def observed_app(settings: Settings, warehouse: Warehouse) -> FastAPI:
    """`create_app` with metrics, request ids, access log, /api/metrics and /api/dashboard.

    Works before and after the app factory wires observability itself: nothing is added twice.
    """
    app = create_app(settings=settings, warehouse=warehouse)
    if not getattr(app.state, "observability_installed", False):
        install_observability(app, Metrics(settings.service_name), settings.service_name)
    paths = set(route_templates(app))
    if "/api/metrics" not in paths:
        app.include_router(build_metrics_router(public=True))
    if "/api/dashboard" not in paths:
        app.include_router(dashboard.router)
    return app


@pytest.fixture
def make_observed_client(settings, warehouse):
    """Build (and start) TestClients over `observed_app`; all closed after the test."""
    clients: list[TestClient] = []

    def make(app: FastAPI | None = None, **kwargs: Any) -> TestClient:
        app = app or observed_app(kwargs.pop("settings", settings), warehouse)
        client = TestClient(app, **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def auth_headers(client: TestClient, client_id: str = "observer", scopes: str = "read") -> dict[str, str]:
    """A bearer header for a token of `client_id` when the app authenticates (a token store is set)."""
    store = getattr(client.app.state, "token_store", None)
    if store is None:
        return {}
    return {"Authorization": f"Bearer {store.create(client_id, scopes).token}"}


# -- logging --------------------------------------------------------------------------------------
@pytest.fixture
def json_logging():
    """`configure_logging` for one test, then the logging set-up of before is put back."""
    from serving.observability.json_logs import configure_logging

    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {
        n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate, logging.getLogger(n).level)
        for n in names
    }
    configure_logging("sextant-test", "INFO")
    yield configure_logging
    structlog.reset_defaults()
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among captured output lines (other lines are ignored)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


# -- real servers ---------------------------------------------------------------------------------
class ServerThread:
    """An ASGI app under uvicorn on 127.0.0.1 (a port the OS picks), in a daemon thread."""

    def __init__(self, app: Any):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=2, ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=10)
        if self.thread.is_alive():  # graceful shutdown is stuck: force it
            self.server.force_exit = True
            self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    """`serve(app)` starts a ServerThread; every server started is stopped after the test."""
    servers: list[ServerThread] = []

    def start(app: Any) -> ServerThread:
        server = ServerThread(app)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


