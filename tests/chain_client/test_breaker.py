"""ChainRPC's circuit breaker (the shared ``resources.breaker`` one) against a node over real HTTP.

The node is a small local server that can be taken down (HTTP 503) and can hold requests back; the
breaker runs on a fake clock, so recovery and probation take no real time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from orchestration.simulator.rpc_server import BackgroundServer, LocalServer, QuietHandler, answer
from resources.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from resources.chain_rpc import ChainRPC, ChainRPCError, ChainUnavailable
from tests.fakes import FakeClock

HEAD = 0x10



class _Head:
    def call(self, method: str, params: list[Any]) -> Any:
        return hex(HEAD)


class Node(BackgroundServer):
    """A JSON-RPC node answering ``status`` (200: a real answer) after ``release`` is set."""

    def __init__(self) -> None:
        self.status = 200
        self.requests = 0
        self.arrived = threading.Event()  # set by each request as it comes in
        self.release = threading.Event()  # cleared: requests wait (at most 10 s) before answering
        self.release.set()
        self._lock = threading.Lock()
        node = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with node._lock:
                    node.requests += 1
                node.arrived.set()
                node.release.wait(timeout=10)
                if node.status == 200:
                    self.reply(200, answer(_Head(), body))
                else:
                    self.reply(node.status, b'{"error":"unwell"}')

        self._server = LocalServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def node() -> Iterator[Node]:
    node = Node()
    with node:
        yield node


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rpc(node: Node, clock: FakeClock) -> Iterator[ChainRPC]:
    client = ChainRPC(
        node.url,
        workers=1,
        retry_attempts=20,
        backoff_base_seconds=0.001,
        backoff_max_seconds=0.01,
        breaker_failures=5,
        breaker_recovery_seconds=30,
        breaker_healthy_seconds=60,
    )
    built = client.breaker
    assert (built.failures, built.recovery_seconds, built.healthy_seconds) == (5, 30, 60)
    # The same breaker, on the test's clock.
    client.breaker = CircuitBreaker(
        built.name, failures=5, recovery_seconds=30, healthy_seconds=60, clock=clock
    )
    with client:
        yield client


def open_breaker(rpc: ChainRPC, node: Node) -> None:
    node.status = 503
    before = node.requests
    with pytest.raises(ChainUnavailable) as raised:
        rpc.head()
    assert node.requests - before == 5
    assert rpc.breaker.state == OPEN
    message = str(raised.value)
    assert rpc.url in message and "circuit breaker open after 5 consecutive failed requests" in message
    assert "HTTP 503" in message and "next attempt in 30 s" in message


def test_a_failure_within_60_s_of_recovery_re_opens_at_once(rpc: ChainRPC, node: Node, clock: FakeClock):
    open_breaker(rpc, node)
    clock.advance(30)
    node.status = 200
    assert rpc.head() == HEAD  # the probe closes it
    assert rpc.breaker.state == CLOSED
    clock.advance(59)
    node.status = 503
    before = node.requests
    with pytest.raises(ChainUnavailable, match="open after 1 consecutive failed request "):
        rpc.head()
    assert node.requests - before == 1  # on probation: one failed request was enough
    clock.advance(30)
    node.status = 200
    assert rpc.head() == HEAD
    clock.advance(60)  # 60 s of health: back to tolerating 4 failures in a row
    open_breaker(rpc, node)


def test_a_half_open_client_sends_one_probe_while_other_threads_are_refused(
    rpc: ChainRPC, node: Node, clock: FakeClock
):
    open_breaker(rpc, node)
    clock.advance(30)
    node.status = 200
    node.release.clear()
    node.arrived.clear()
    before = node.requests
    callers = 8
    start = threading.Barrier(callers)
    finished = threading.Semaphore(0)
    outcomes: list[Any] = []
    lock = threading.Lock()

    def caller() -> None:
        start.wait(timeout=10)
        try:
            outcome: Any = rpc.head()
        except ChainRPCError as error:
            outcome = error
        with lock:
            outcomes.append(outcome)
        finished.release()

    threads = [threading.Thread(target=caller) for _ in range(callers)]
    for thread in threads:
        thread.start()
    assert node.arrived.wait(timeout=10)
    for _ in range(callers - 1):  # everyone but the probe returns while the probe is held at the node
        assert finished.acquire(timeout=10)
    assert node.requests - before == 1
    assert rpc.breaker.state == HALF_OPEN
    node.release.set()
    for thread in threads:
        thread.join(timeout=10)
    refused = [o for o in outcomes if isinstance(o, ChainUnavailable)]
    assert len(refused) == callers - 1 and outcomes.count(HEAD) == 1
    assert all("half-open" in str(error) and "next attempt in 1 s" in str(error) for error in refused)
    assert rpc.breaker.state == CLOSED
    assert rpc.head() == HEAD


def test_a_probe_that_never_reaches_the_node_is_released(rpc: ChainRPC, node: Node, clock: FakeClock):
    open_breaker(rpc, node)
    clock.advance(30)
    node.status = 200

    class BrokenLimiter:
        def acquire(self, n: int = 1) -> float:
            raise RuntimeError("limiter broke")

    rpc.limiter = BrokenLimiter()  # type: ignore[assignment]
    before = node.requests
    with pytest.raises(RuntimeError, match="limiter broke"):
        rpc.head()
    assert node.requests == before
    assert rpc.breaker.state == HALF_OPEN  # nothing learnt, and the probe slot is free again
    rpc.limiter = None
    assert rpc.head() == HEAD
    assert rpc.breaker.state == CLOSED


def test_a_throttled_probe_counts_as_alive(rpc: ChainRPC, node: Node, clock: FakeClock):
    open_breaker(rpc, node)
    clock.advance(30)
    node.status = 429
    rpc.retry_attempts = 2
    with pytest.raises(ChainRPCError, match="gave up after 2 attempts: HTTP 429"):
        rpc.head()
    assert rpc.breaker.state == CLOSED
