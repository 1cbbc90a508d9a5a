"""Shared fixtures: real services when the environment names them, temporary folders otherwise.

Integration tests need PostgreSQL (POSTGRES_TEST_URL) and, from the serving gateway on, Redis
(REDIS_TEST_URL). `.ci/run` exports both. On a laptop without them those tests skip with a
message; under CI (CI=true) a service that does not answer fails the test instead, so a green
CI run always means the PostgreSQL and Redis paths ran.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from tests.services import DisposableRedis, free_port, unavailable

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


_unavailable = unavailable


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        _unavailable(f"test data folder {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of a PostgreSQL server the tests may create databases on."""
    url = os.environ.get("POSTGRES_TEST_URL")
    if not url:
        _unavailable("PostgreSQL (set POSTGRES_TEST_URL)")
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        _unavailable(f"PostgreSQL at {url} ({exc.__class__.__name__})")
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"sextant_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_admin_url).set(database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse_url(request, tmp_path: Path) -> str:
    """The same test on both warehouse backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def warehouse(warehouse_url: str):
    from resources.warehouse import Warehouse

    wh = Warehouse(warehouse_url)
    yield wh
    wh.dispose()


@pytest.fixture
def settings(tmp_path: Path, warehouse_url: str):
    """Settings for one test: a temporary home, the parametrized warehouse."""
    from resources.settings import Settings

    return Settings(SEXTANT_HOME=tmp_path / "home", WAREHOUSE_URL=warehouse_url, MARKET_SYMBOLS="BTC-USD,ETH-USD")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the shared test Redis (database 15 by default); tests keep to their own key namespace."""
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


@pytest.fixture
def disposable_redis():
    """A started redis-server on a free port, killed after the test whatever happened."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server binary")
    server = DisposableRedis(binary, free_port())
    try:
        server.start()
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def devnet_build_dir(tmp_path_factory) -> Path:
    """The devnet's contracts compiled once per test session (every test dir that starts a devnet shares it)."""
    from orchestration.simulator import compiler

    path = tmp_path_factory.mktemp("devnet-build")
    compiler.compile_all(path)
    return path


#: The shared devnet's scenario: every kind of event fits in 40 played blocks.
DEVNET_SEED, DEVNET_BLOCKS = 11, 40


@pytest.fixture(scope="session")
def played_devnet(devnet_build_dir):
    """(server, ground truth) of one devnet played once per session, on a free port.

    Shared by every test dir: tests must leave it as they found it (one that mines takes an
    `evm_snapshot` first and reverts to it at the end).
    """
    from orchestration.simulator.scenario import start_devnet

    server, truth = start_devnet(DEVNET_SEED, port=0, blocks=DEVNET_BLOCKS, cache_dir=devnet_build_dir)
    yield server, truth
    server.stop()


@pytest.fixture(autouse=True)
def _no_leftover_defs_state_storage():
    """Each test starts with no Dagster definitions-state storage in its context.

    Dagster keeps the storage of the last entered instance in a context variable; a test whose
    instance was already collected once left it behind, and the next test that resolved an asset
    graph failed with "Attempted to resolve undefined DagsterInstance weakref".
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield


@pytest.fixture(autouse=True)
def _no_learnt_node_capabilities():
    """Each test starts with no node capability learnt in process memory (ports get reused)."""
    from resources.chain_capabilities import PROCESS_MEMORY

    PROCESS_MEMORY.forget()
    yield
    PROCESS_MEMORY.forget()
