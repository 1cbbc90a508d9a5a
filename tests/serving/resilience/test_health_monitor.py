"""HealthMonitor: consecutive failures, timeouts, the background task; freshness checks."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from resources.settings import Settings
from serving.health_monitor import (
    DependencyStatus,
    HealthMonitor,
    Missing,
    Stale,
    freshness_check,
)

pytestmark = pytest.mark.anyio

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


class Switch:
    """A synchronous check that fails while `error` is set."""

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.calls = 0
        self.threads: set[int] = set()

    def __call__(self) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        if self.error is not None:
            raise self.error


async def test_three_failures_in_a_row_mark_unhealthy_and_a_success_resets() -> None:
    check = Switch()
    monitor = HealthMonitor({"warehouse": check}, timeout=5, clock=lambda: NOW)
    assert monitor.status() == {"warehouse": DependencyStatus(healthy=True)}  # not checked yet
    assert monitor.healthy()

    await monitor.run_once()
    assert monitor.status()["warehouse"] == DependencyStatus(True, 0, None, NOW)
    assert threading.get_ident() not in check.threads  # a sync check runs in a thread

    check.error = ConnectionRefusedError("postgres://user:secret@db refused")
    for n in (1, 2):
        status = (await monitor.run_once())["warehouse"]
        assert status == DependencyStatus(True, n, "ConnectionRefusedError", NOW)
        assert monitor.healthy()
    status = (await monitor.run_once())["warehouse"]
    assert status == DependencyStatus(False, 3, "ConnectionRefusedError", NOW)  # class name only
    assert not monitor.healthy()

    check.error = None
    assert (await monitor.run_once())["warehouse"] == DependencyStatus(True, 0, None, NOW)
    assert monitor.healthy()

    # One success in between starts the count again.
    check.error = OSError()
    await monitor.run_once()
    await monitor.run_once()
    check.error = None
    await monitor.run_once()
    check.error = OSError()
    await monitor.run_once()
    await monitor.run_once()
    assert monitor.status()["warehouse"].healthy
    assert monitor.status()["warehouse"].consecutive_failures == 2


async def test_async_checks_and_independent_dependencies() -> None:
    calls: list[str] = []

    async def cache() -> None:
        calls.append("cache")

    async def broken() -> None:
        raise RuntimeError("down")

    monitor = HealthMonitor({"cache": cache, "models": broken}, failures_unhealthy=1)
    await monitor.run_once()
    status = monitor.status()
    assert status["cache"].healthy and status["cache"].last_error is None
    assert not status["models"].healthy and status["models"].last_error == "RuntimeError"
    assert calls == ["cache"]
    assert not monitor.healthy()


async def test_a_hanging_async_check_is_cut_by_the_timeout() -> None:
    async def hangs() -> None:
        await anyio.sleep_forever()

    async def fine() -> None:
        return None

    monitor = HealthMonitor({"cache": hangs, "warehouse": fine}, timeout=0.2, failures_unhealthy=2)
    await monitor.run_once()
    status = monitor.status()
    assert status["cache"] == DependencyStatus(True, 1, "TimeoutError", status["cache"].last_checked)
    assert status["warehouse"].healthy and status["warehouse"].consecutive_failures == 0
    await monitor.run_once()
    assert not monitor.status()["cache"].healthy


async def test_a_hanging_sync_check_is_cut_and_not_started_twice() -> None:
    release = threading.Event()
    finished = threading.Event()
    calls = 0

    def hangs() -> None:
        nonlocal calls
        calls += 1
        try:
            if not release.is_set():
                release.wait(10)
        finally:
            finished.set()

    monitor = HealthMonitor({"warehouse": hangs}, timeout=0.2)
    try:
        await monitor.run_once()
        assert monitor.status()["warehouse"].last_error == "TimeoutError"
        # Still hanging: the next round fails without piling another thread on it.
        await monitor.run_once()
        assert monitor.status()["warehouse"].consecutive_failures == 2
        assert calls == 1
    finally:
        release.set()
    await anyio.to_thread.run_sync(finished.wait, 10)
    for _ in range(500):  # the worker clears its flag right after the check returns
        await monitor.run_once()
        if monitor.status()["warehouse"].healthy and calls == 2:
            break
        await anyio.sleep(0.01)
    assert monitor.status()["warehouse"].consecutive_failures == 0
    assert calls == 2


async def test_start_and_stop_leave_no_task_running() -> None:
    before = asyncio.all_tasks()
    check = Switch()
    monitor = HealthMonitor({"warehouse": check}, interval=3600, timeout=1)
    monitor.start()
    monitor.start()  # idempotent
    assert monitor.running
    for _ in range(500):
        if monitor.status()["warehouse"].last_checked is not None:
            break
        await anyio.sleep(0.01)
    assert monitor.status()["warehouse"].last_checked is not None  # the first round runs at once
    assert check.calls == 1  # then it waits for the interval

    await monitor.stop()
    await monitor.stop()  # idempotent
    assert not monitor.running
    assert asyncio.all_tasks() - before == set()


async def test_stop_cancels_a_round_in_progress() -> None:
    before = asyncio.all_tasks()
    entered = anyio.Event()

    async def hangs() -> None:
        entered.set()
        await anyio.sleep_forever()

    monitor = HealthMonitor({"cache": hangs}, interval=3600, timeout=3600)
    monitor.start()
    with anyio.fail_after(10):
        await entered.wait()
    await monitor.stop()
    assert not monitor.running
    assert asyncio.all_tasks() - before == set()
    assert monitor.status()["cache"].last_checked is None  # the cancelled round recorded nothing


async def test_background_loop_repeats_every_interval() -> None:
    check = Switch()
    check.error = ConnectionResetError()
    monitor = HealthMonitor({"warehouse": check}, interval=0.01, timeout=1, failures_unhealthy=3)
    monitor.start()
    try:
        for _ in range(1000):
            if not monitor.healthy():
                break
            await anyio.sleep(0.01)
    finally:
        await monitor.stop()
    assert monitor.status()["warehouse"].consecutive_failures >= 3
    assert not monitor.healthy()


def test_from_settings(tmp_path) -> None:
    settings = Settings(
        SEXTANT_HOME=tmp_path,
        HEALTH_INTERVAL_SECONDS=7,
        HEALTH_TIMEOUT_SECONDS=2,
        HEALTH_FAILURES_UNHEALTHY=4,
    )
    monitor = HealthMonitor.from_settings({"warehouse": Switch()}, settings)
    assert (monitor.interval, monitor.timeout, monitor.failures_unhealthy) == (7, 2, 4)
    assert HealthMonitor({}).healthy()


# -- freshness ---------------------------------------------------------------------------------------
def test_freshness_check() -> None:
    last: list[datetime | None] = [None]
    check = freshness_check(lambda: last[0], timedelta(hours=24), clock=lambda: NOW)
    with pytest.raises(Missing):
        check()
    last[0] = NOW - timedelta(hours=23)
    check()
    last[0] = NOW - timedelta(hours=25)
    with pytest.raises(Stale):
        check()
    last[0] = (NOW - timedelta(hours=1)).replace(tzinfo=None)  # naive = UTC
    check()
    last[0] = NOW + timedelta(minutes=5)  # a clock a little ahead is not stale
    check()


async def test_freshness_in_the_monitor() -> None:
    last: list[datetime | None] = [None]
    monitor = HealthMonitor(
        {"model": freshness_check(lambda: last[0], timedelta(days=1), clock=lambda: NOW)},
        failures_unhealthy=1,
    )
    await monitor.run_once()
    assert monitor.status()["model"].last_error == "Missing"
    last[0] = NOW - timedelta(days=2)
    await monitor.run_once()
    assert monitor.status()["model"].last_error == "Stale"
    assert not monitor.healthy()
    last[0] = NOW
    await monitor.run_once()
    assert monitor.healthy()


async def test_the_monitor_sees_the_sqlite_file_moved_away_and_back(tmp_path) -> None:
    """The monitor's warehouse check is `Warehouse.ping`: a moved file fails it, moving it back heals it."""
    from resources.warehouse import Warehouse

    path = tmp_path / "warehouse.sqlite"
    warehouse = Warehouse(f"sqlite:///{path}")
    monitor = HealthMonitor({"warehouse": warehouse.ping}, interval=3600, timeout=5, failures_unhealthy=2)
    try:
        assert (await monitor.run_once())["warehouse"].healthy
        path.rename(tmp_path / "moved.sqlite")
        for failures in (1, 2):
            status = (await monitor.run_once())["warehouse"]
            assert status.consecutive_failures == failures
            assert status.last_error == "WarehouseFileMissing"  # the class only, as for every check
        assert not status.healthy
        assert not path.exists()  # the checks did not create an empty database there
        (tmp_path / "moved.sqlite").rename(path)
        status = (await monitor.run_once())["warehouse"]
        assert status.healthy and status.consecutive_failures == 0
    finally:
        warehouse.dispose()
