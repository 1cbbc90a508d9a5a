"""Circuit breakers and retries around the blocking calls the API makes to its dependencies.

One `Guard` per app (`app.state.guard`). Endpoints hand it the blocking call instead of making it
themselves::

    frame = await guard.call("warehouse", warehouse.read, "ohlcv", where)

The call runs in a worker thread (the event loop never blocks), transient errors (connection
refused or dropped, pool timeout) are retried a few times with short, growing, jittered waits, and
the whole logical call, retries included, is one observation of the dependency's breaker, a
`resources.breaker.CircuitBreaker`: the state machine shared with the chain client (closed, open,
half-open with one probe at a time, probation after recovery; why not purgatory's breaker: see
there). While a breaker is open, calls fail at once with `DependencyUnavailable` (503 with
`Retry-After`); the probe of a half-open breaker is a single attempt, not `attempts`.

Errors that say nothing about the dependency's health (a `ValueError`, a `KeyError` for a missing
table, anything not in `retry_on`) pass through untouched: no retry, no count either way.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from ops.backoff import backoff_seconds
from resources.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    PROBE_RETRY_AFTER_SECONDS,
    CircuitBreaker,
    DependencyUnavailable,
    StateListener,
)
from resources.settings import Settings

log = logging.getLogger("serving.resilience")

T = TypeVar("T")

#: Errors that mean "the dependency did not answer (this time)": worth a retry, and a breaker failure.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
)


class Guard:
    """Retries and a circuit breaker per dependency around blocking calls; one per app."""

    def __init__(
        self,
        failures: int = 5,
        recovery_seconds: float = 30,
        healthy_seconds: float = 60,
        attempts: int = 3,
        backoff: float = 1.5,
        jitter: float = 0.1,
        retry_on: tuple[type[BaseException], ...] = TRANSIENT_ERRORS,
        *,
        base_wait: float = 0.05,
        max_wait: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = anyio.sleep,
        rng: Callable[[], float] = random.random,
    ):
        """`clock` (seconds, monotonic) drives the breakers; `sleep` waits between attempts;
        `rng` (uniform in [0, 1)) draws the jitter. Tests inject all three."""
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.failures = failures
        self.recovery_seconds = recovery_seconds
        self.healthy_seconds = healthy_seconds
        self.attempts = attempts
        self.backoff = backoff
        self.jitter = jitter
        self.retry_on = tuple(retry_on)
        self.base_wait = base_wait
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._breakers: dict[str, CircuitBreaker] = {}
        self._breakers_lock = threading.Lock()
        self._listeners: list[StateListener] = []

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> Guard:
        """A guard with the breaker and retry settings of `settings` (keyword overrides win)."""
        kwargs: dict[str, Any] = {
            "failures": settings.breaker_failures,
            "recovery_seconds": settings.breaker_recovery_seconds,
            "healthy_seconds": settings.breaker_healthy_seconds,
            "attempts": settings.retry_attempts,
        }
        kwargs.update(overrides)
        return cls(**kwargs)

    # -- breakers ----------------------------------------------------------------------------------
    def breaker(self, dependency: str) -> CircuitBreaker:
        """The breaker of `dependency`, created closed on first use."""
        brk = self._breakers.get(dependency)
        if brk is None:
            with self._breakers_lock:
                brk = self._breakers.get(dependency)
                if brk is None:
                    brk = CircuitBreaker(
                        dependency,
                        failures=self.failures,
                        recovery_seconds=self.recovery_seconds,
                        healthy_seconds=self.healthy_seconds,
                        clock=self._clock,
                        notify=self._notify,
                    )
                    self._breakers[dependency] = brk
        return brk

    def states(self) -> dict[str, str]:
        """Dependency -> "closed" | "open" | "half-open", for every dependency called so far."""
        with self._breakers_lock:
            breakers = list(self._breakers.values())
        return {brk.name: brk.state for brk in breakers}

    def on_state_change(self, callback: StateListener) -> Callable[[], None]:
        """Call `callback(dependency, old, new)` after each transition; returns an unsubscribe function.

        Callbacks run in whichever thread made the transition (usually the event loop's) and must be
        quick; an exception they raise is logged and ignored.
        """
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _notify(self, dependency: str, old: str, new: str) -> None:
        if new == OPEN:
            log.warning("circuit %s: %s -> open", dependency, old)
        else:
            log.info("circuit %s: %s -> %s", dependency, old, new)
        for callback in list(self._listeners):
            try:
                callback(dependency, old, new)
            except Exception:  # a metrics bug must not break requests
                log.exception("circuit state listener %r failed", callback)

    # -- retries -----------------------------------------------------------------------------------
    def backoff_wait(self, retry_number: int) -> float:
        """Seconds to wait before retry `retry_number` (1 = the second attempt), jitter included."""
        return backoff_seconds(retry_number, base=self.base_wait, factor=self.backoff, cap=self.max_wait,
                               jitter=self.jitter, draw=self._rng())

    def _wait(self, retry_state: RetryCallState) -> float:
        return self.backoff_wait(retry_state.attempt_number)

    async def call(self, dependency: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a worker thread, with retries, behind `dependency`'s breaker.

        Raises DependencyUnavailable without calling `fn` while the breaker is open; otherwise returns
        what `fn` returns or raises what it raised last.
        """
        brk = self.breaker(dependency)
        probe = brk.acquire()
        try:
            # The probe is one attempt: a dependency still down costs one failure, not `attempts`.
            result = await self._attempt(
                dependency, partial(fn, *args, **kwargs), 1 if probe else self.attempts
            )
        except self.retry_on:
            brk.record_failure(probe)
            raise
        except BaseException:
            brk.release(probe)
            raise
        brk.record_success(probe)
        return result

    async def _attempt(self, dependency: str, call: Callable[[], T], attempts: int) -> T:
        def before_sleep(retry_state: RetryCallState) -> None:
            exc = retry_state.outcome.exception() if retry_state.outcome else None
            log.info(
                "%s: attempt %d failed (%s), retrying",
                dependency,
                retry_state.attempt_number,
                exc.__class__.__name__,
            )

        retrying = AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(self.retry_on),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await anyio.to_thread.run_sync(call)
        raise AssertionError("unreachable: tenacity re-raises the last error")


# -- FastAPI wiring ------------------------------------------------------------------------------
async def _dependency_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DependencyUnavailable)
    log.info("%s %s refused: %s circuit %s", request.method, request.url.path, exc.dependency, exc.state)
    return JSONResponse(
        status_code=503,
        content={"detail": exc.detail},
        headers={"Retry-After": str(exc.retry_after)},
    )


def install_resilience_handlers(app: FastAPI) -> None:
    """DependencyUnavailable -> 503 `{"detail": ...}` with `Retry-After` (seconds until half-open)."""
    app.add_exception_handler(DependencyUnavailable, _dependency_unavailable)


async def get_guard(request: Request) -> Guard:
    """FastAPI dependency: the app's guard (`app.state.guard`, set by the lifespan)."""
    guard = getattr(request.app.state, "guard", None)
    if guard is None:
        raise RuntimeError("no guard on app.state: the app's lifespan has not started")
    return guard


__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "PROBE_RETRY_AFTER_SECONDS",
    "TRANSIENT_ERRORS",
    "CircuitBreaker",
    "DependencyUnavailable",
    "Guard",
    "StateListener",
    "get_guard",
    "install_resilience_handlers",
]
