"""ChainRPC over real HTTP: the replay server, the receipts fallback, batching, faults, the breaker."""

from __future__ import annotations

import math

import pytest

from assets.chain.indexing import index_range
from ops.chain.decode import ChainFrames
from ops.chain.schema import TABLE_SCHEMAS, TRANSFER_TOPIC
from orchestration.simulator.faults import FAULT_KINDS, FaultProxy
from orchestration.simulator.replay import ReplayBackend
from orchestration.simulator.rpc_server import JsonRpcServer
from resources.breaker import CircuitBreaker, DependencyUnavailable
from resources.chain_rpc import ChainRPC, ChainRPCError, ChainUnavailable
from resources.token_bucket import TokenBucket
from tests.chain_client.conftest import FIRST, LAST
from tests.chain_client.etl_compare import mismatches
from tests.services import free_port

TRANSACTIONS = 298


def _assert_same(a: ChainFrames, b: ChainFrames) -> None:
    for name in TABLE_SCHEMAS:
        assert getattr(a, name).equals(getattr(b, name)), name


def _assert_no_gaps_or_duplicates(frames: ChainFrames) -> None:
    assert frames.blocks["number"].to_list() == [FIRST, LAST]
    assert frames.transactions.height == frames.blocks["transaction_count"].sum() == TRANSACTIONS
    assert frames.transactions["receipt_gas_used"].null_count() == 0
    for name, (_, key) in TABLE_SCHEMAS.items():
        assert not getattr(frames, name).select(key).is_duplicated().any(), name


def test_indexing_through_the_replay_server_reproduces_ethereum_etl(replay, replay_url, expected):
    with ChainRPC(replay_url) as rpc:
        assert rpc.chain_id() == 1
        assert rpc.head() == LAST
        frames = index_range(rpc, FIRST, LAST)
        block_by_block = index_range(rpc, FIRST, LAST, step=1)  # pieces decoded one by one, then stacked
    assert mismatches(frames, expected) == []
    _assert_no_gaps_or_duplicates(frames)
    _assert_same(block_by_block, frames)
    assert replay.calls["eth_getBlockReceipts"] == 4  # one call per block, in each of the two passes
    assert replay.calls["eth_getTransactionReceipt"] == 0


def test_the_receipts_fallback_gives_the_same_frames_and_is_remembered(etl_folder, replay_url):
    with ChainRPC(replay_url) as rpc:
        reference = index_range(rpc, FIRST, LAST)
    legacy = ReplayBackend.from_etl_export(etl_folder, block_receipts=False)
    with JsonRpcServer(legacy) as url, ChainRPC(url) as rpc:
        first = index_range(rpc, FIRST, LAST)
        assert rpc.block_receipts is False
        asked = legacy.calls["eth_getBlockReceipts"]
        again = index_range(rpc, FIRST, LAST)
    _assert_same(first, reference)
    _assert_same(again, reference)
    assert legacy.calls["eth_getBlockReceipts"] == asked  # the second range went straight to the fallback
    assert legacy.calls["eth_getTransactionReceipt"] == 2 * TRANSACTIONS


def test_batching_sends_many_calls_per_http_request(etl_folder):
    legacy = ReplayBackend.from_etl_export(etl_folder, block_receipts=False)
    with JsonRpcServer(legacy) as upstream:
        counting = FaultProxy(upstream, rate=0.0)  # a pass-through proxy that counts HTTP requests
        with counting as url, ChainRPC(url, batch_size=40, workers=1) as rpc:
            frames = index_range(rpc, FIRST, LAST)
    assert frames.transactions.height == TRANSACTIONS
    # blocks: 2 calls; eth_getBlockReceipts: 2 calls answered -32601; web3_clientVersion (to name the
    # node in the warning): 1; receipts: 298; code: 1
    assert sum(legacy.calls.values()) == 2 + 2 + 1 + TRANSACTIONS + 1
    # ... in 1 + 1 + 1 + ceil(298 / 40) + 1 HTTP requests, as counted on the wire
    assert counting.requests == rpc.http_requests == 4 + math.ceil(TRANSACTIONS / 40)


def test_a_range_completes_through_30_percent_faults_with_no_gaps_or_duplicates(etl_folder, replay_url):
    with ChainRPC(replay_url) as rpc:
        reference = index_range(rpc, FIRST, LAST)
    legacy = ReplayBackend.from_etl_export(etl_folder, block_receipts=False)  # many requests: many faults
    with JsonRpcServer(legacy) as upstream:
        proxy = FaultProxy(upstream, rate=0.3, seed=7, hold_seconds=2.0, retry_after_seconds=1)
        with proxy as url:
            rpc = ChainRPC(
                url,
                batch_size=10,
                workers=1,
                timeout_seconds=1.0,
                backoff_base_seconds=0.02,
                backoff_max_seconds=1.0,
            )
            with rpc:
                frames = index_range(rpc, FIRST, LAST)
                clean_calls = 2 + 2 + 1 + TRANSACTIONS + 1  # web3_clientVersion names the node once
    assert set(proxy.injected) == set(FAULT_KINDS)  # the seed gives every kind of fault at least once
    assert 0.15 < sum(proxy.injected.values()) / proxy.requests < 0.45
    _assert_no_gaps_or_duplicates(frames)
    _assert_same(frames, reference)
    # Only the failed element of a batch is sent again: each injected element error costs one call.
    # (429/503/timeouts never reached the backend; their batches were re-sent whole.)
    assert sum(legacy.calls.values()) == clean_calls + proxy.injected["rpc_error"]
    assert rpc.breaker.state == "closed"


def test_the_breaker_opens_after_5_consecutive_failures_and_says_so():
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every request is refused
    rpc = ChainRPC(dead, retry_attempts=20, backoff_base_seconds=0.001, backoff_max_seconds=0.01)
    with rpc, pytest.raises(ChainUnavailable) as raised:
        rpc.head()
    message = str(raised.value)
    assert dead in message and "circuit breaker open after 5 consecutive failed requests" in message
    assert "ConnectionError" in message  # the last failure is named
    assert rpc.http_requests == 5 and rpc.breaker.state == "open"
    with pytest.raises(ChainUnavailable):  # while open, no request is even attempted
        rpc.fetch_range(0, 10)
    assert rpc.http_requests == 5


def test_a_call_that_keeps_failing_gives_up_with_the_reason(etl_folder):
    backend = ReplayBackend.from_etl_export(etl_folder)
    with JsonRpcServer(backend) as url, ChainRPC(url, retry_attempts=3, backoff_base_seconds=0.001) as rpc:
        with pytest.raises(ChainRPCError, match="gave up after 3 attempts.*null result"):
            rpc.fetch_range(LAST, LAST + 1)  # the node does not have block LAST + 1
        assert rpc.breaker.state == "closed"  # the node answered; it is not down
        with pytest.raises(ChainRPCError, match="does not exist") as raised:
            rpc.call("eth_mine")
        assert raised.value.code == -32601
        assert rpc.block_hashes([FIRST, LAST, LAST + 1]) == {
            FIRST: "0xaa5ab9bb22d8020d438496a7edb4eff508b1c5128b0dc01fdecf57f96aac1bb3",
            LAST: "0x5699ffb9477f70ec736463b144614356eb051936da75fcccec73d648f2e91de4",
        }


def test_breaker_half_opens_for_one_probe_after_the_recovery_time():
    now = [0.0]
    breaker = CircuitBreaker(
        "node", failures=5, recovery_seconds=30, healthy_seconds=60, clock=lambda: now[0]
    )
    for _ in range(4):
        breaker.acquire()
        breaker.record_failure(False, "refused")
    assert breaker.acquire() is False  # 4 failures: still closed
    breaker.record_failure(False, "refused")
    with pytest.raises(DependencyUnavailable) as refused:
        breaker.acquire()
    assert refused.value.retry_after == 30 and refused.value.state == "open"
    now[0] = 30.0
    assert breaker.acquire() is True  # the probe goes through...
    with pytest.raises(DependencyUnavailable):  # ...alone
        breaker.acquire()
    breaker.record_failure(True, "refused")  # a failed probe re-opens at once
    assert breaker.state == "open"
    now[0] = 60.0
    assert breaker.acquire() is True
    breaker.record_success(True)
    assert breaker.state == "closed"
    assert breaker.acquire() is False


def test_token_bucket_paces_calls_to_the_rate():
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(10, clock=lambda: now[0], sleep=sleep)
    assert bucket.acquire(10) == 0  # a second's worth bursts at once
    assert bucket.acquire(5) == pytest.approx(0.5)
    assert bucket.acquire(25) == pytest.approx(1.0)  # larger than the bucket: waits for a full one...
    assert bucket.acquire(1) == pytest.approx(1.6)  # ...and the debt is paid by the next caller
    assert now[0] == pytest.approx(3.1)  # 41 calls at 10/s, the first 10 free


def test_rate_limit_is_applied_to_real_requests(replay_url):
    with ChainRPC(replay_url, max_rps=1000) as rpc:
        frames = index_range(rpc, FIRST, LAST)
        assert rpc.limiter is not None and rpc.limiter.rate == 1000
    assert frames.transactions.height == TRANSACTIONS


def test_replay_answers_get_logs_by_range_address_and_topics(replay_url, expected):
    weth = "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"
    with ChainRPC(replay_url) as rpc:
        logs = rpc.call(
            "eth_getLogs",
            [{"fromBlock": hex(FIRST), "toBlock": hex(LAST), "address": weth, "topics": [TRANSFER_TOPIC]}],
        )
        none = rpc.call("eth_getLogs", [{"fromBlock": hex(LAST + 1), "toBlock": hex(LAST + 5)}])
        tx = rpc.call("eth_getTransactionByHash", [expected["transactions"][5]["hash"]])
    want = [
        (lg["transaction_hash"], lg["log_index"])
        for lg in expected["logs"]
        if lg["address"] == weth and lg["topics"][:1] == [TRANSFER_TOPIC]
    ]
    assert [(lg["transactionHash"], int(lg["logIndex"], 16)) for lg in logs] == want and want
    assert none == []
    assert int(tx["nonce"], 16) == expected["transactions"][5]["nonce"]
