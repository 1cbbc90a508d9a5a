"""The shared circuit breaker on its own, on a fake clock (nothing sleeps): what the chain client now gets."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from resources.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    PROBE_RETRY_AFTER_SECONDS,
    CircuitBreaker,
    DependencyUnavailable,
)
from tests.fakes import FakeClock


def breaker(clock: FakeClock, **kwargs) -> CircuitBreaker:
    settings = {"failures": 5, "recovery_seconds": 30, "healthy_seconds": 60, "clock": clock} | kwargs
    return CircuitBreaker("node", **settings)


def fail(brk: CircuitBreaker, n: int, error: str = "refused") -> None:
    for _ in range(n):
        brk.record_failure(brk.acquire(), error)


def test_serving_resilience_re_exports_the_same_objects() -> None:
    from serving import resilience

    assert resilience.CircuitBreaker is CircuitBreaker
    assert resilience.DependencyUnavailable is DependencyUnavailable
    assert (resilience.CLOSED, resilience.OPEN, resilience.HALF_OPEN) == (CLOSED, OPEN, HALF_OPEN)
    assert {"CircuitBreaker", "DependencyUnavailable", "CLOSED", "OPEN", "HALF_OPEN"} <= set(
        resilience.__all__
    )


def test_the_breaker_and_the_chain_client_load_without_fastapi_or_serving() -> None:
    code = (
        "import sys, resources.breaker, resources.chain_rpc; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'serving')))"
    )
    root = Path(__file__).resolve().parents[2]
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert loaded.stdout.strip() == "[]"


def test_without_a_listener_transitions_still_happen_and_with_one_they_are_reported() -> None:
    clock = FakeClock()
    quiet = breaker(clock)  # no notify: the chain client needs no listener
    fail(quiet, 5)
    assert quiet.state == OPEN
    seen: list[tuple[str, str, str]] = []
    loud = breaker(clock, notify=lambda *change: seen.append(change))
    fail(loud, 5)
    clock.advance(30)
    loud.record_success(loud.acquire())
    assert seen == [("node", CLOSED, OPEN), ("node", OPEN, HALF_OPEN), ("node", HALF_OPEN, CLOSED)]
    assert quiet.state == HALF_OPEN  # the same clock moved it too, silently


def test_a_failure_on_probation_re_opens_at_once_and_after_60_s_of_health_it_takes_5_again() -> None:
    clock = FakeClock()
    brk = breaker(clock)
    fail(brk, 5)
    clock.advance(30)
    brk.record_success(brk.acquire())  # the probe: closed, on probation
    assert brk.state == CLOSED
    clock.advance(59)
    fail(brk, 1)
    assert brk.state == OPEN  # one failure within 60 s of recovery
    assert brk.retry_after() == 30
    clock.advance(30)
    brk.record_success(brk.acquire())
    clock.advance(60)  # probation over
    fail(brk, 4)
    assert brk.state == CLOSED and brk.consecutive_failures == 4
    fail(brk, 1)
    assert brk.state == OPEN


def test_half_open_admits_one_probe_across_threads() -> None:
    clock = FakeClock()
    brk = breaker(clock)
    fail(brk, 5)
    clock.advance(30)
    threads_n = 16
    start = threading.Barrier(threads_n)
    probes: list[bool] = []
    refusals: list[DependencyUnavailable] = []
    lock = threading.Lock()

    def caller() -> None:
        start.wait(timeout=10)
        try:
            probe = brk.acquire()
        except DependencyUnavailable as refused:
            with lock:
                refusals.append(refused)
        else:
            with lock:
                probes.append(probe)

    threads = [threading.Thread(target=caller) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert probes == [True]
    assert len(refusals) == threads_n - 1
    assert {(r.state, r.retry_after) for r in refusals} == {(HALF_OPEN, PROBE_RETRY_AFTER_SECONDS)}
    brk.record_success(True)
    assert brk.state == CLOSED


def test_a_released_probe_lets_the_next_caller_probe() -> None:
    clock = FakeClock()
    brk = breaker(clock)
    fail(brk, 5)
    clock.advance(30)
    probe = brk.acquire()
    with pytest.raises(DependencyUnavailable):
        brk.acquire()
    brk.release(probe)  # the call was interrupted: nothing learnt
    assert brk.state == HALF_OPEN
    assert brk.acquire() is True


def test_a_straggler_success_does_not_close_an_open_breaker() -> None:
    clock = FakeClock()
    brk = breaker(clock)
    straggler = brk.acquire()  # admitted while closed, answers after the breaker opened
    fail(brk, 5)
    brk.record_success(straggler)
    assert brk.state == OPEN


def test_last_error_and_the_failure_streak_describe_the_outage() -> None:
    clock = FakeClock()
    brk = breaker(clock)
    assert (brk.last_error, brk.failure_streak) == ("", 0)
    fail(brk, 4, "HTTP 503")
    brk.record_success(brk.acquire())
    assert brk.failure_streak == 0  # a success ends the streak
    fail(brk, 5, "HTTP 503")
    assert brk.state == OPEN and brk.consecutive_failures == 0  # the count towards opening restarts...
    assert brk.failure_streak == 5  # ...the streak, which messages quote, does not
    clock.advance(30)
    brk.record_failure(brk.acquire(), "ConnectionError: refused")  # a failed probe
    assert (brk.last_error, brk.failure_streak) == ("ConnectionError: refused", 6)
    brk.record_failure(False)  # no description: the last one stays
    assert brk.last_error == "ConnectionError: refused"
