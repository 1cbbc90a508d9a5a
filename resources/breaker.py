"""The circuit breaker shared by the API's dependency guard and the chain client.

Why a module of its own: the same state machine protects two kinds of callers, the API's blocking
calls to its dependencies (`serving.resilience.Guard`, one breaker per dependency) and the indexer's
JSON-RPC client (`resources.chain_rpc.ChainRPC`, one breaker per node). It lives in `resources/`,
which never imports FastAPI or `serving/`: the chain client runs in the Dagster code location.

A caller asks `acquire()` before each call and reports the outcome with `record_success(probe)`,
`record_failure(probe, error)` or, when the call said nothing about the dependency's health,
`release(probe)`:

- closed: calls go through. `failures` consecutive failed calls open it.
- open: calls fail at once with `DependencyUnavailable`, the dependency is left alone. After
  `recovery_seconds` the breaker turns half-open.
- half-open: exactly one call (the probe) is let through; the others are refused as while open.
  A failed probe opens the breaker again for another `recovery_seconds`; a successful one closes it.
- closed after a probe is on probation for `healthy_seconds`: a single failure in that window
  re-opens it at once. Only after `healthy_seconds` of health does it tolerate `failures`
  consecutive failures again ("closed again after 60 s of health").

Why not purgatory's breaker: it reads `time.time()` directly (no injectable clock, so tests would
sleep 30 s), its half-open state admits every concurrent request instead of one probe, an excluded
exception raised by the probe closes the breaker, and it has no notion of a healthy period after
recovery. Wrapping it would take more code than the state machine below.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half-open"

#: `callback(name, old_state, new_state)`, called after each breaker transition.
StateListener = Callable[[str, str, str], None]

#: Seconds a caller refused while another call probes a half-open breaker should wait.
PROBE_RETRY_AFTER_SECONDS = 1


class DependencyUnavailable(Exception):
    """A dependency's breaker refused the call; nothing was attempted."""

    def __init__(self, dependency: str, retry_after: float, state: str = OPEN):
        self.dependency = dependency
        #: Whole seconds (at least 1) until the breaker lets a probe through.
        self.retry_after = max(1, math.ceil(retry_after))
        self.state = state
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        """Client-safe text: which dependency, why, and when to come back."""
        return f"{self.dependency} unavailable (circuit {self.state}), retry in {self.retry_after} s"


def _no_listener(name: str, old: str, new: str) -> None:
    return None


class CircuitBreaker:
    """The breaker of one dependency (see the module docstring). Thread-safe.

    Time-driven transitions (open -> half-open, end of probation) are applied lazily, whenever the
    breaker is asked something, so no timer runs in the background. `notify(name, old, new)` is
    called after each transition, outside the lock.
    """

    def __init__(
        self,
        name: str,
        *,
        failures: int,
        recovery_seconds: float,
        healthy_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        notify: StateListener | None = None,
    ):
        if failures < 1:
            raise ValueError("failures must be at least 1")
        self.name = name
        self.failures = failures
        self.recovery_seconds = recovery_seconds
        self.healthy_seconds = healthy_seconds
        self._clock = clock
        self._notify = notify or _no_listener
        self._lock = threading.Lock()
        self._state = CLOSED
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probation_until: float | None = None
        self._probe_in_flight = False
        #: The `error` of the last recorded failure ("" until one is recorded), for messages.
        self.last_error = ""
        #: Failures recorded since the last success that counted; unlike `consecutive_failures` it
        #: is not reset when the breaker opens, so messages can say "open after N failed calls".
        self.failure_streak = 0

    # -- queries -----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """closed, open or half-open, as of now."""
        with self._lock:
            changes = self._advance(self._clock())
            state = self._state
        self._fire(changes)
        return state

    @property
    def consecutive_failures(self) -> int:
        """Failures counted towards opening a closed breaker (reset when it opens or a call succeeds)."""
        return self._consecutive_failures

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (0 when it would let a call through now)."""
        with self._lock:
            now = self._clock()
            changes = self._advance(now)
            wait = self._wait_locked(now)
        self._fire(changes)
        return wait

    # -- the protocol callers follow ---------------------------------------------------------------
    def acquire(self) -> bool:
        """Admit one call or raise DependencyUnavailable. True when the admitted call is the probe.

        Every admitted call must be settled by exactly one of `record_success`, `record_failure` or
        `release`, with the value returned here; an unsettled probe keeps the breaker half-open
        and refusing.
        """
        with self._lock:
            now = self._clock()
            changes = self._advance(now)
            state = self._state
            probe = False
            refused = state == OPEN or (state == HALF_OPEN and self._probe_in_flight)
            if state == HALF_OPEN and not refused:
                self._probe_in_flight = probe = True
            wait = self._wait_locked(now)
        self._fire(changes)
        if refused:
            raise DependencyUnavailable(self.name, wait, state)
        return probe

    def record_success(self, probe: bool) -> None:
        with self._lock:
            now = self._clock()
            changes = self._advance(now)
            if probe:
                self._probe_in_flight = False
                if self._state == HALF_OPEN:
                    self._probation_until = now + self.healthy_seconds
                    self.failure_streak = 0
                    changes += self._move(CLOSED)
            elif self._state == CLOSED:
                self._consecutive_failures = 0
                self.failure_streak = 0
            # A straggler admitted before the breaker opened proves little; the probe decides.
        self._fire(changes)

    def record_failure(self, probe: bool, error: str = "") -> None:
        """The call failed in a way that says the dependency is unwell; `error` describes it."""
        with self._lock:
            now = self._clock()
            changes = self._advance(now)
            self.failure_streak += 1
            if error:
                self.last_error = error
            if probe:
                self._probe_in_flight = False
                if self._state == HALF_OPEN:
                    changes += self._open(now)
            elif self._state == CLOSED:
                self._consecutive_failures += 1
                on_probation = self._probation_until is not None
                if on_probation or self._consecutive_failures >= self.failures:
                    changes += self._open(now)
        self._fire(changes)

    def release(self, probe: bool) -> None:
        """The call ended without telling anything about the dependency (non-transient error, cancel)."""
        if probe:
            with self._lock:
                self._probe_in_flight = False

    # -- internals (called with the lock held) ---------------------------------------------------
    def _advance(self, now: float) -> list[tuple[str, str]]:
        if self._state == OPEN and now >= self._opened_at + self.recovery_seconds:
            self._probe_in_flight = False
            return self._move(HALF_OPEN)
        if self._probation_until is not None and now >= self._probation_until:
            self._probation_until = None
        return []

    def _open(self, now: float) -> list[tuple[str, str]]:
        self._opened_at = now
        self._consecutive_failures = 0
        self._probation_until = None
        return self._move(OPEN)

    def _move(self, new: str) -> list[tuple[str, str]]:
        old, self._state = self._state, new
        return [(old, new)] if old != new else []

    def _wait_locked(self, now: float) -> float:
        if self._state == OPEN:
            return max(0.0, self._opened_at + self.recovery_seconds - now)
        if self._state == HALF_OPEN and self._probe_in_flight:
            return PROBE_RETRY_AFTER_SECONDS
        return 0.0

    def _fire(self, changes: list[tuple[str, str]]) -> None:
        for old, new in changes:
            self._notify(self.name, old, new)


__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "PROBE_RETRY_AFTER_SECONDS",
    "CircuitBreaker",
    "DependencyUnavailable",
    "StateListener",
]
