"""Guard: retries and circuit breakers around blocking calls, on a fake clock (nothing sleeps for real).

The last test runs the breaker against the real PostgreSQL through a TCP proxy it cuts and restores.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from resources.settings import Settings
from resources.warehouse import Warehouse
from serving.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    DependencyUnavailable,
    Guard,
    install_resilience_handlers,
)
from tests.fakes import FakeClock

pytestmark = pytest.mark.anyio

DEP = "warehouse"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"



class Sleeps:
    """Records the waits between attempts instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Flaky:
    """A blocking fake dependency: raises the queued errors in order, then returns `value`."""

    def __init__(self, *errors: BaseException, value: Any = "ok"):
        self.errors = list(errors)
        self.value = value
        self.calls = 0
        self.threads: set[int] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.threads.add(threading.get_ident())
        if self.errors:
            raise self.errors.pop(0)
        return (self.value, args, kwargs) if args or kwargs else self.value


def down(n: int = 1000) -> Flaky:
    """A dependency whose connection is refused `n` times."""
    return Flaky(*(ConnectionRefusedError("refused") for _ in range(n)))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def guard(clock: FakeClock, sleeps: Sleeps) -> Guard:
    return Guard(clock=clock, sleep=sleeps)


async def fail_calls(guard: Guard, n: int, fn: Callable[..., Any] | None = None) -> None:
    fn = fn or down()
    for _ in range(n):
        with pytest.raises(ConnectionRefusedError):
            await guard.call(DEP, fn)


async def open_breaker(guard: Guard) -> None:
    await fail_calls(guard, guard.failures)
    assert guard.states()[DEP] == OPEN


# -- retries ---------------------------------------------------------------------------------------
async def test_success_runs_in_a_worker_thread_with_arguments(guard: Guard) -> None:
    fn = Flaky()
    assert await guard.call(DEP, fn, 1, key="x") == ("ok", (1,), {"key": "x"})
    assert fn.calls == 1
    assert threading.get_ident() not in fn.threads
    assert guard.states() == {DEP: CLOSED}


async def test_retries_then_success_counts_as_one_success(guard: Guard, sleeps: Sleeps) -> None:
    await fail_calls(guard, 4)  # one short of opening
    assert guard.breaker(DEP).consecutive_failures == 4

    fn = Flaky(ConnectionRefusedError(), sa.exc.OperationalError("SELECT 1", {}, Exception("gone")))
    assert await guard.call(DEP, fn) == "ok"
    assert fn.calls == 3  # two transient failures retried, third attempt answered
    assert guard.breaker(DEP).consecutive_failures == 0  # one observation: a success
    assert guard.states()[DEP] == CLOSED

    # The failed attempts inside that call were not counted: 4 more failed calls still leave it closed.
    await fail_calls(guard, 4)
    assert guard.states()[DEP] == CLOSED


async def test_exhausted_retries_raise_the_last_error_and_count_once(guard: Guard) -> None:
    fn = Flaky(
        OSError("a"), TimeoutError("b"), sa.exc.InterfaceError("SELECT 1", {}, Exception("c")), value="late"
    )
    with pytest.raises(sa.exc.InterfaceError):
        await guard.call(DEP, fn)
    assert fn.calls == 3
    assert guard.breaker(DEP).consecutive_failures == 1


async def test_backoff_grows_by_1_5_within_10_percent_jitter(clock: FakeClock, sleeps: Sleeps) -> None:
    guard = Guard(attempts=5, clock=clock, sleep=sleeps)
    await fail_calls(guard, 1)
    waits = sleeps.waits
    assert len(waits) == 4  # between 5 attempts
    for k, wait in enumerate(waits):
        base = 0.05 * 1.5**k
        assert base <= wait <= base * 1.1
    for before, after in pairwise(waits):
        assert 1.5 / 1.1 <= after / before <= 1.5 * 1.1


async def test_jitter_bounds_are_reached(clock: FakeClock) -> None:
    low = Guard(clock=clock, rng=lambda: 0.0)
    high = Guard(clock=clock, rng=lambda: 0.999999)
    assert [low.backoff_wait(n) for n in (1, 2, 3)] == pytest.approx([0.05, 0.075, 0.1125])
    assert [high.backoff_wait(n) for n in (1, 2, 3)] == pytest.approx([0.055, 0.0825, 0.12375], rel=1e-5)
    assert Guard(clock=clock, max_wait=0.06, rng=lambda: 0.0).backoff_wait(3) == 0.06


async def test_non_transient_errors_pass_through_without_retry_or_count(guard: Guard, sleeps: Sleeps) -> None:
    fn = Flaky(*(ValueError("bad") for _ in range(10)))
    for _ in range(10):
        with pytest.raises(ValueError, match="bad"):
            await guard.call(DEP, fn)
    assert fn.calls == 10  # no retries
    assert sleeps.waits == []
    assert guard.states()[DEP] == CLOSED
    assert guard.breaker(DEP).consecutive_failures == 0

    # Nor does a KeyError reset the count of transient failures around it.
    await fail_calls(guard, 4)
    with pytest.raises(KeyError):
        await guard.call(DEP, Flaky(KeyError("table")))
    assert guard.breaker(DEP).consecutive_failures == 4
    await fail_calls(guard, 1)
    assert guard.states()[DEP] == OPEN


# -- the breaker -----------------------------------------------------------------------------------
async def test_five_failed_calls_open_the_breaker(guard: Guard) -> None:
    fn = down()
    await fail_calls(guard, 4, fn)
    assert guard.states()[DEP] == CLOSED
    await fail_calls(guard, 1, fn)
    assert guard.states()[DEP] == OPEN
    assert fn.calls == 5 * 3


async def test_open_breaker_refuses_without_calling(guard: Guard, clock: FakeClock) -> None:
    await open_breaker(guard)
    fn = Flaky()
    with pytest.raises(DependencyUnavailable) as info:
        await guard.call(DEP, fn)
    assert fn.calls == 0
    exc = info.value
    assert exc.dependency == DEP
    assert exc.retry_after == 30
    assert exc.detail == "warehouse unavailable (circuit open), retry in 30 s"

    clock.advance(12.5)
    with pytest.raises(DependencyUnavailable) as info:
        await guard.call(DEP, fn)
    assert info.value.retry_after == 18  # whole seconds, rounded up
    assert fn.calls == 0

    # Other dependencies have their own breaker.
    assert await guard.call("models", fn) == "ok"
    assert guard.states() == {DEP: OPEN, "models": CLOSED}


async def test_half_open_lets_one_probe_through(guard: Guard, clock: FakeClock) -> None:
    await open_breaker(guard)
    clock.advance(29.9)
    assert guard.states()[DEP] == OPEN
    clock.advance(0.1)
    assert guard.states()[DEP] == HALF_OPEN

    entered, release = threading.Event(), threading.Event()

    def slow_probe() -> str:
        entered.set()
        release.wait(10)
        return "probed"

    others = Flaky()
    async with anyio.create_task_group() as group:
        results: list[str] = []

        async def probe() -> None:
            results.append(await guard.call(DEP, slow_probe))

        group.start_soon(probe)
        await anyio.to_thread.run_sync(entered.wait, 10)
        try:
            with pytest.raises(DependencyUnavailable) as info:
                await guard.call(DEP, others)  # while the probe is in flight
        finally:
            release.set()
    assert info.value.detail == "warehouse unavailable (circuit half-open), retry in 1 s"
    assert others.calls == 0
    assert results == ["probed"]
    assert guard.states()[DEP] == CLOSED


async def test_failed_probe_reopens_for_another_recovery_period(guard: Guard, clock: FakeClock) -> None:
    await open_breaker(guard)
    clock.advance(30)
    probe = down()
    with pytest.raises(ConnectionRefusedError):
        await guard.call(DEP, probe)
    assert probe.calls == 1  # the probe is a single attempt
    assert guard.states()[DEP] == OPEN
    with pytest.raises(DependencyUnavailable) as info:
        await guard.call(DEP, Flaky())
    assert info.value.retry_after == 30
    clock.advance(30)
    assert guard.states()[DEP] == HALF_OPEN


async def test_successful_probe_closes_with_a_probation_period(guard: Guard, clock: FakeClock) -> None:
    await open_breaker(guard)
    clock.advance(30)
    assert await guard.call(DEP, Flaky()) == "ok"
    assert guard.states()[DEP] == CLOSED

    # Within 60 s of the recovery one failed call is enough to open it again...
    clock.advance(59)
    await fail_calls(guard, 1)
    assert guard.states()[DEP] == OPEN

    # ...after 60 s of health the usual five are needed.
    clock.advance(30)
    assert await guard.call(DEP, Flaky()) == "ok"
    clock.advance(60)
    await fail_calls(guard, 4)
    assert guard.states()[DEP] == CLOSED
    await fail_calls(guard, 1)
    assert guard.states()[DEP] == OPEN


async def test_non_transient_error_in_the_probe_leaves_it_half_open(guard: Guard, clock: FakeClock) -> None:
    await open_breaker(guard)
    clock.advance(30)
    with pytest.raises(ValueError):
        await guard.call(DEP, Flaky(ValueError("bad request")))
    assert guard.states()[DEP] == HALF_OPEN
    assert await guard.call(DEP, Flaky()) == "ok"  # the next call is the probe
    assert guard.states()[DEP] == CLOSED


async def test_state_change_listeners(guard: Guard, clock: FakeClock) -> None:
    seen: list[tuple[str, str, str]] = []

    def broken(dependency: str, old: str, new: str) -> None:
        raise RuntimeError("listener bug")

    guard.on_state_change(broken)  # must not break calls
    unsubscribe = guard.on_state_change(lambda *change: seen.append(change))
    assert guard.states() == {}

    await open_breaker(guard)
    clock.advance(30)
    assert guard.states() == {DEP: HALF_OPEN}
    await guard.call(DEP, Flaky())
    assert seen == [(DEP, CLOSED, OPEN), (DEP, OPEN, HALF_OPEN), (DEP, HALF_OPEN, CLOSED)]

    unsubscribe()
    await fail_calls(guard, 1)  # probation: opens again, unheard
    assert guard.states() == {DEP: OPEN}
    assert len(seen) == 3


async def test_from_settings(tmp_path) -> None:
    settings = Settings(
        SEXTANT_HOME=tmp_path,
        BREAKER_FAILURES=2,
        BREAKER_RECOVERY_SECONDS=7,
        BREAKER_HEALTHY_SECONDS=11,
        RETRY_ATTEMPTS=2,
    )
    guard = Guard.from_settings(settings, jitter=0.0)
    assert (guard.failures, guard.recovery_seconds, guard.healthy_seconds, guard.attempts) == (2, 7, 11, 2)
    assert guard.jitter == 0.0
    assert guard.backoff == 1.5


# -- HTTP ------------------------------------------------------------------------------------------
def test_handler_answers_503_with_retry_after() -> None:
    clock = FakeClock()
    guard = Guard(clock=clock)
    app = FastAPI()
    install_resilience_handlers(app)

    @app.get("/thing")
    async def thing() -> dict:
        return {"value": await guard.call(DEP, Flaky())}

    brk = guard.breaker(DEP)
    for _ in range(guard.failures):
        brk.acquire()
        brk.record_failure(probe=False)

    with TestClient(app) as client:
        answer = client.get("/thing")
        assert answer.status_code == 503
        assert answer.json() == {"detail": "warehouse unavailable (circuit open), retry in 30 s"}
        assert answer.headers["Retry-After"] == "30"
        clock.advance(12)
        assert client.get("/thing").headers["Retry-After"] == "18"
        clock.advance(18)
        assert client.get("/thing").json() == {"value": "ok"}  # the probe
        assert guard.states() == {DEP: CLOSED}


# -- the real PostgreSQL through a proxy we can cut ----------------------------------------------
class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` drops every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._start(self._accept)

    def _start(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # the client sees the server hang up at once
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close(src, dst)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with self._lock:
                self._sockets.discard(sock)
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a recv() blocked in the other pump
            except OSError:
                pass
            sock.close()

    def cut(self) -> None:
        self._up.clear()
        with self._lock:
            socks = list(self._sockets)
        self._close(*socks)

    def restore(self) -> None:
        self._up.set()

    def close(self) -> None:
        self._stopping.set()
        self.cut()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
        self._listener.close()


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    url = sa.engine.make_url(postgres_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        yield proxy, proxied
    finally:
        proxy.close()


@pytest.mark.postgres
async def test_breaker_around_a_real_postgres_that_goes_away(
    pg_proxy: tuple[TcpProxy, str], clock: FakeClock, sleeps: Sleeps
) -> None:
    proxy, url = pg_proxy
    warehouse = Warehouse(url)
    guard = Guard(clock=clock, sleep=sleeps)
    pings = 0

    def ping() -> None:
        nonlocal pings
        pings += 1
        warehouse.ping()

    try:
        await guard.call(DEP, ping)
        assert guard.states() == {DEP: CLOSED}

        proxy.cut()
        for _ in range(5):
            with pytest.raises(sa.exc.OperationalError):
                await guard.call(DEP, ping)
        assert guard.states() == {DEP: OPEN}
        assert pings == 1 + 5 * 3

        with pytest.raises(DependencyUnavailable) as info:
            await guard.call(DEP, ping)
        assert pings == 16  # refused without touching the database
        assert info.value.retry_after == 30

        clock.advance(30)  # half-open, but the database is still away: the probe fails
        with pytest.raises(sa.exc.OperationalError):
            await guard.call(DEP, ping)
        assert guard.states() == {DEP: OPEN}

        proxy.restore()
        warehouse.dispose()  # drop pooled connections the cut killed
        clock.advance(30)
        assert guard.states() == {DEP: HALF_OPEN}
        await guard.call(DEP, ping)
        assert guard.states() == {DEP: CLOSED}
        assert await guard.call(DEP, warehouse.versions) == {}
    finally:
        warehouse.dispose()
