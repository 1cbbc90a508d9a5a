"""Background health checks of the API's dependencies (warehouse, cache, model freshness).

One `HealthMonitor` per app (`app.state.health_monitor`), started and stopped by the lifespan. Every
`interval` seconds it runs each check at once, each bounded by `timeout` (a synchronous check runs
in a worker thread), and counts consecutive failures: `failures_unhealthy` in a row mark the
dependency unhealthy, one success marks it healthy again. Readiness reads `status()` instead of
pinging on every probe, so a flood of probes never becomes a flood of database connections.

A dependency not checked yet counts as healthy (`last_checked` is None): the first round runs as
soon as the monitor starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import anyio.to_thread

from resources.settings import Settings

log = logging.getLogger("serving.health_monitor")

#: A health check: returns (or resolves to) None when the dependency is fine, raises otherwise.
Check = Callable[[], Awaitable[None] | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DependencyStatus:
    healthy: bool
    consecutive_failures: int = 0
    #: Class name of the last failure (never its message, which may hold hosts or credentials).
    last_error: str | None = None
    last_checked: datetime | None = None


class Stale(Exception):
    """A freshness check found data older than it may be."""


class Missing(Stale):
    """A freshness check found no data at all (never loaded or trained)."""


def freshness_check(
    get_last_update: Callable[[], datetime | None],
    max_age: timedelta,
    *,
    clock: Callable[[], datetime] = _utcnow,
) -> Callable[[], None]:
    """A check that fails with `Missing` when `get_last_update()` is None, `Stale` when it is older
    than `max_age`. It is synchronous (the monitor runs it in a thread, so `get_last_update` may
    block, e.g. read a manifest). Naive datetimes are taken as UTC."""

    def check() -> None:
        last = get_last_update()
        if last is None:
            raise Missing("never updated")
        if last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        age = clock() - last
        if age > max_age:
            raise Stale(f"last update {age} ago, more than {max_age}")

    return check


class HealthMonitor:
    """Runs `checks` periodically and keeps each dependency's status."""

    def __init__(
        self,
        checks: Mapping[str, Check],
        interval: float = 30,
        timeout: float = 5,
        failures_unhealthy: int = 3,
        clock: Callable[[], datetime] = _utcnow,
    ):
        if failures_unhealthy < 1:
            raise ValueError("failures_unhealthy must be at least 1")
        self.checks = dict(checks)
        self.interval = interval
        self.timeout = timeout
        self.failures_unhealthy = failures_unhealthy
        self._clock = clock
        self._status = {name: DependencyStatus(healthy=True) for name in self.checks}
        self._task: asyncio.Task[None] | None = None
        # Synchronous checks still running in a thread the timeout gave up on: not started again
        # until they return, so a hanging dependency does not pile up threads.
        self._hung: set[str] = set()
        self._hung_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, checks: Mapping[str, Check], settings: Settings, **overrides: Any
    ) -> HealthMonitor:
        kwargs: dict[str, Any] = {
            "interval": settings.health_interval_seconds,
            "timeout": settings.health_timeout_seconds,
            "failures_unhealthy": settings.health_failures_unhealthy,
        }
        kwargs.update(overrides)
        return cls(checks, **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the background loop on the running event loop (from the lifespan). Idempotent."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="health-monitor")

    async def stop(self) -> None:
        """Cancel the loop and wait for it to end. Idempotent."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # the monitor must outlive any bug in one round
                log.exception("health check round failed")
            await anyio.sleep(self.interval)

    # -- checks ------------------------------------------------------------------------------------
    async def run_once(self) -> dict[str, DependencyStatus]:
        """Run every check once (concurrently), update the statuses and return them."""
        async with anyio.create_task_group() as group:
            for name, check in self.checks.items():
                group.start_soon(self._check_one, name, check)
        return self.status()

    async def _check_one(self, name: str, check: Check) -> None:
        error: BaseException | None = None
        try:
            with anyio.fail_after(self.timeout):
                await self._invoke(name, check)
        except Exception as exc:  # noqa: BLE001 - any failure is the dependency's failure; the class says which
            error = exc
        self._record(name, error)

    async def _invoke(self, name: str, check: Check) -> None:
        if _is_async(check):
            result = check()
        else:
            with self._hung_lock:
                if name in self._hung:
                    raise TimeoutError(f"previous {name} check still running")

            def run() -> Awaitable[None] | None:
                # Flagged from inside the thread: a call abandoned before a worker picked it up
                # never runs, and must not leave the flag behind.
                with self._hung_lock:
                    self._hung.add(name)
                try:
                    return check()
                finally:
                    with self._hung_lock:
                        self._hung.discard(name)

            # abandon_on_cancel: the timeout stops the wait; the thread ends when the call returns.
            result = await anyio.to_thread.run_sync(run, abandon_on_cancel=True)
        if inspect.isawaitable(result):
            await result

    def _record(self, name: str, error: BaseException | None) -> None:
        before = self._status[name]
        now = self._clock()
        if error is None:
            after = DependencyStatus(healthy=True, consecutive_failures=0, last_error=None, last_checked=now)
            if not before.healthy:
                log.info("dependency %s is healthy again", name)
        else:
            failures = before.consecutive_failures + 1
            healthy = failures < self.failures_unhealthy
            after = DependencyStatus(
                healthy=healthy,
                consecutive_failures=failures,
                last_error=error.__class__.__name__,
                last_checked=now,
            )
            if before.healthy and not healthy:
                log.warning(
                    "dependency %s is unhealthy: %d failed checks in a row (last: %s)",
                    name,
                    failures,
                    error.__class__.__name__,
                )
            else:
                log.info("health check %s failed (%s), %d in a row", name, error.__class__.__name__, failures)
        self._status[name] = after

    # -- reading -----------------------------------------------------------------------------------
    def status(self) -> dict[str, DependencyStatus]:
        """Dependency name -> its status (a copy; statuses are immutable)."""
        return dict(self._status)

    def healthy(self) -> bool:
        """True when every dependency is healthy."""
        return all(status.healthy for status in self._status.values())


def _is_async(check: Check) -> bool:
    if inspect.iscoroutinefunction(check):
        return True
    call = getattr(check, "__call__", None)  # noqa: B004 - an object with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


__all__ = [
    "Check",
    "DependencyStatus",
    "HealthMonitor",
    "Missing",
    "Stale",
    "freshness_check",
]
