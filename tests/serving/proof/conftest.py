"""Helpers of the gateway proof tests: seeded warehouses, the app's routes, real Redis servers and a
TCP proxy that can cut the warehouse off.

Everything a test starts here (servers, threads, sockets, apps) is stopped by the fixture that
started it, whatever the test did.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import polars as pl
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ops.market.features import compute_features
from ops.market.summary import summarize_daily
from resources.settings import Settings
from resources.tables import MARKET_DAILY_SUMMARY, OHLCV, OHLCV_FEATURES
from resources.tokens import IssuedToken, TokenStore
from resources.warehouse import Warehouse
from serving.app import create_app
from tests.services import delete_namespace, free_port
from tests.serving.conftest import bars

#: The symbol that fills every `{param}` of a route template.
SYMBOL = "BTC-USD"
#: A budget no test reaches, for the tests that are not about rate limits.
UNLIMITED = "1000000/minute"
#: Probes answer anonymous callers whatever the settings.
PROBES = frozenset({"/api/health/live", "/api/health/ready"})


def proof_settings(home: Path, warehouse_url: str, **overrides: Any) -> Settings:
    """Settings of one proof app: the whole default domain list, an unreachable budget, a unique
    service name (so Redis keys never meet another test's)."""
    values: dict[str, Any] = {
        "SEXTANT_HOME": home,
        "WAREHOUSE_URL": warehouse_url,
        "MARKET_SYMBOLS": "BTC-USD,ETH-USD",
        "RATE_LIMIT_DEFAULT": UNLIMITED,
        "SERVICE_NAME": f"proof-{uuid.uuid4().hex[:12]}",
    }
    values.update(overrides)
    return Settings(**values)


def seed(warehouse: Warehouse) -> pl.DataFrame:
    """A few bars of two symbols, and the summary and features computed from them by the real ops."""
    ohlcv = pl.concat([bars("BTC-USD", "1h", 48), bars("BTC-USD", "1d", 5), bars("ETH-USD", "1h", 6)])
    warehouse.upsert(OHLCV, ohlcv)
    warehouse.upsert(MARKET_DAILY_SUMMARY, summarize_daily(ohlcv))
    warehouse.upsert(OHLCV_FEATURES, compute_features(ohlcv))
    return ohlcv


def issue(warehouse: Warehouse, client_id: str = "proof", scopes: str = "read") -> IssuedToken:
    return TokenStore(warehouse).create(client_id, scopes)


def auth(token: IssuedToken | str) -> dict[str, str]:
    value = token.token if isinstance(token, IssuedToken) else token
    return {"Authorization": f"Bearer {value}"}


@contextmanager
def running(app: FastAPI, **kwargs: Any) -> Iterator[TestClient]:
    """A started TestClient (lifespan run), shut down on exit."""
    with TestClient(app, **kwargs) as client:
        yield client


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped on exit (for fixtures wider than a test)."""
    import sqlalchemy as sa

    name = f"sextant_proof_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def seeded(warehouse: Warehouse) -> Warehouse:
    seed(warehouse)
    return warehouse


@pytest.fixture
def make_app(tmp_path: Path, warehouse_url: str, warehouse: Warehouse):
    """`make_app(**setting_overrides)` -> create_app over the parametrized warehouse."""

    def make(**overrides: Any) -> FastAPI:
        return create_app(
            settings=proof_settings(tmp_path / "home", warehouse_url, **overrides), warehouse=warehouse
        )

    return make


# -- the app's routes -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RouteInfo:
    method: str
    template: str
    #: True for FastAPI's own documentation routes (OpenAPI JSON, Swagger UI and its OAuth redirect).
    documentation: bool
    #: Scopes the route itself demands beyond the gateway's `read` (e.g. {"write"} for feedback).
    scopes: frozenset[str] = frozenset()

    @property
    def path(self) -> str:
        """The template with every `{param}` filled with a valid symbol."""
        return re.sub(r"\{[^}]+\}", SYMBOL, self.template)

    def __str__(self) -> str:
        return f"{self.method} {self.template}"


def _route_contexts(app: FastAPI) -> list[Any]:
    routes = list(app.routes)
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # a FastAPI that copies included routes into app.routes
        return routes
    return list(iter_route_contexts(routes))


def app_routes(app: FastAPI) -> list[RouteInfo]:
    """Every (method, path template) the app answers, through included routers, HEAD left out."""
    from fastapi.routing import APIRoute

    docs = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    out: list[RouteInfo] = []
    for route in _route_contexts(app):
        template = getattr(route, "path_format", None) or getattr(route, "path", None)
        methods = getattr(route, "methods", None)
        if not template or not methods:  # mounts, websockets
            continue
        original = getattr(route, "original_route", route)
        documentation = template in docs and not isinstance(original, APIRoute)
        scopes = _demanded_scopes(getattr(route, "dependant", None) or getattr(original, "dependant", None))
        for method in sorted(methods - {"HEAD"}):
            out.append(RouteInfo(method, template, documentation, frozenset(scopes - {"read"})))
    return out


def _demanded_scopes(dependant: Any) -> set[str]:
    """Scopes of every `require_scopes(...)` dependency in a route's dependency tree (by its name)."""
    found: set[str] = set()
    stack = [dependant] if dependant is not None else []
    while stack:
        node = stack.pop()
        name = getattr(getattr(node, "call", None), "__name__", "")
        if name.startswith("require_scopes_"):
            found |= set(name.removeprefix("require_scopes_").split("_")) - {"none"}
        stack.extend(getattr(node, "dependencies", []))
    return found


def is_metrics_route(template: str) -> bool:
    return (
        template == "/api/metrics" or template == "/api/dashboard" or template.startswith("/api/dashboard/")
    )


def is_open(route: RouteInfo, metrics_public: bool) -> bool:
    """Whether anonymous callers may use `route` (everything not named here needs a read token)."""
    if route.documentation or route.template in PROBES:
        return True
    return metrics_public and is_metrics_route(route.template)


# -- Redis ----------------------------------------------------------------------------------------
@pytest.fixture
def service_name(redis_url: str) -> Iterator[str]:
    """A SERVICE_NAME of this test alone; its keys on the shared Redis are deleted before and after."""
    name = f"proof-{uuid.uuid4().hex[:12]}"
    delete_namespace(redis_url, name)
    yield name
    delete_namespace(redis_url, name)


# -- a TCP proxy in front of PostgreSQL ------------------------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target, in threads; `cut()` makes the target unreachable.

    Cut: the listening socket is closed (new connections are refused) and every forwarded
    connection is shut down (pooled connections break). `restore()` listens on the same port again.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    # lifecycle
    def start(self) -> None:
        assert self._listener is None, "already listening"
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._accept_thread.start()

    restore = start

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        with self._lock:
            sockets, self._sockets = set(self._sockets), set()
        for sock in sockets:
            _close(sock)
        threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout=5)

    stop = cut

    # forwarding
    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by cut()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
                for source, sink in ((client, upstream), (upstream, client)):
                    thread = threading.Thread(target=self._pump, args=(source, sink), daemon=True)
                    self._threads.append(thread)
                    thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """(proxy, URL of the fresh database through the proxy); the proxy is stopped afterwards."""
    import sqlalchemy as sa

    url = sa.engine.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.stop()


def poll(condition, *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Call `condition()` until it returns something truthy (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} did not happen within {timeout} s (last: {last!r})")


class UvicornServer:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread: a real chunked request body."""

    def __init__(self, app: FastAPI):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            app, log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> Self:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.sock.close()
