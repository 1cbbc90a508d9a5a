"""Node capability detection and log renumbering, over real HTTP against nodes that behave like others do.

The replay server serves the real mainnet blocks 17173049-17173050 while answering the unknown
eth_getBlockReceipts the ways other node implementations do, or numbering receipts' logs per
transaction; the indexer must give ethereum-etl's own rows either way.
"""

from __future__ import annotations

import logging

import polars as pl
import pytest

from assets.chain.indexing import index_range
from ops.chain.decode import decode_logs, renumber_log_indexes
from orchestration.simulator.replay import ReplayBackend
from orchestration.simulator.rpc_server import JsonRpcServer, RpcError, method_not_found
from resources.chain_capabilities import (
    BLOCK_RECEIPTS,
    PROCESS_MEMORY,
    WarehouseCapabilityStore,
    endpoint_id,
    unknown_method_verdict,
)
from resources.chain_rpc import ChainRPC, ChainRPCError
from resources.warehouse import Warehouse
from tests.chain_client.conftest import FIRST, LAST
from tests.chain_client.etl_compare import mismatches

TRANSACTIONS = 298

#: How nodes have been seen to say "no such method" (code, message).
REFUSALS = [
    (-32601, "the method eth_getBlockReceipts does not exist/is not available"),
    (-32700, "Parse error"),  # ambiguous on its own: settled by the control call
    (-32600, "Invalid request"),  # likewise
    (-32000, "Method eth_getBlockReceipts is not supported"),
    (-32004, "method not supported"),
]


@pytest.mark.parametrize(("code", "message"), REFUSALS, ids=[str(c) for c, _ in REFUSALS])
def test_every_way_of_refusing_the_method_falls_back_once_with_one_warning(
    etl_folder, expected, caplog, code, message
):
    backend = ReplayBackend.from_etl_export(etl_folder, block_receipts=False, unknown_method=(code, message))
    caplog.set_level(logging.WARNING, logger="sextant.chain")
    with JsonRpcServer(backend) as url, ChainRPC(url, retry_attempts=3) as rpc:
        first = index_range(rpc, FIRST, FIRST)
        asked = backend.calls["eth_getBlockReceipts"]
        second = index_range(rpc, LAST, LAST)
        assert rpc.block_receipts is False
    assert mismatches(type(first).concat([first, second]), expected) == []
    assert backend.calls["eth_getBlockReceipts"] == asked <= 2  # the second range never asked again
    warnings = [r for r in caplog.records if r.name == "sextant.chain"]
    assert len(warnings) == 1 and str(code) in warnings[0].getMessage()
    assert "sextant-replay at http://127.0.0.1" in warnings[0].getMessage()  # the node is named


def test_the_decision_is_remembered_across_runs_in_the_warehouse(etl_folder, tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}")
    store = WarehouseCapabilityStore(warehouse)
    backend = ReplayBackend.from_etl_export(etl_folder, block_receipts=False)
    with JsonRpcServer(backend) as url:
        with ChainRPC(url, capability_store=store) as rpc:
            index_range(rpc, FIRST, LAST)
        asked = backend.calls["eth_getBlockReceipts"]
        assert store.load(endpoint_id(url)) == {BLOCK_RECEIPTS: False}
        PROCESS_MEMORY.forget()  # a new process: only the warehouse remembers
        with ChainRPC(url, capability_store=WarehouseCapabilityStore(warehouse)) as rpc:
            assert rpc.block_receipts is False
            frames = index_range(rpc, FIRST, LAST)
            assert rpc.notices == []  # nothing new learnt, nothing logged
    assert frames.transactions.height == TRANSACTIONS
    assert backend.calls["eth_getBlockReceipts"] == asked
    warehouse.dispose()


def test_a_node_that_has_the_method_is_remembered_as_having_it(replay, replay_url, tmp_path):
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with ChainRPC(replay_url, capability_store=WarehouseCapabilityStore(warehouse)) as rpc:
        index_range(rpc, FIRST, LAST)
        assert rpc.block_receipts is True
    assert WarehouseCapabilityStore(warehouse).load(endpoint_id(replay_url)) == {BLOCK_RECEIPTS: True}
    assert replay.calls["eth_getTransactionReceipt"] == 0
    warehouse.dispose()


def test_the_setting_forces_the_fallback_or_insists(etl_folder, replay, replay_url):
    with ChainRPC(replay_url, block_receipts=False) as rpc:
        frames = index_range(rpc, FIRST, LAST)
    assert frames.transactions.height == TRANSACTIONS
    assert replay.calls["eth_getBlockReceipts"] == 0 and replay.calls["eth_getTransactionReceipt"] == TRANSACTIONS

    legacy = ReplayBackend.from_etl_export(etl_folder, block_receipts=False)
    insisting = pytest.raises(ChainRPCError, match="refused eth_getBlockReceipts.*CHAIN_BLOCK_RECEIPTS=off")
    with JsonRpcServer(legacy) as url, ChainRPC(url, block_receipts=True) as rpc, insisting:
        index_range(rpc, FIRST, LAST)
    assert legacy.calls["eth_getTransactionReceipt"] == 0


class _Contradicting:
    """A node (or a load balancer over two) that has eth_getBlockReceipts for one block but not another."""

    def __init__(self, backend: ReplayBackend, *, control_fails: bool = False) -> None:
        self.backend = backend
        self.control_fails = control_fails
        self.refusals = 0

    def call(self, method, params):
        if method == "eth_getBlockReceipts" and int(params[0], 16) == LAST:
            raise method_not_found(method)
        if method == "eth_getBlockReceipts" and self.control_fails:
            self.refusals += 1
            if self.refusals == 1:
                raise RpcError(-32700, "Parse error")
        return self.backend.call(method, params)


def test_a_node_contradicting_itself_in_one_batch_is_a_clear_error(etl_folder):
    node = _Contradicting(ReplayBackend.from_etl_export(etl_folder))
    with JsonRpcServer(node) as url, ChainRPC(url) as rpc:
        with pytest.raises(ChainRPCError, match="sextant-replay at .*inconsistent.*CHAIN_BLOCK_RECEIPTS=off"):
            index_range(rpc, FIRST, LAST)
        assert rpc.block_receipts is None  # nothing was learnt from contradictory answers


def test_an_ambiguous_code_that_the_control_call_contradicts_is_a_clear_error(etl_folder):
    node = _Contradicting(ReplayBackend.from_etl_export(etl_folder), control_fails=True)
    contradiction = pytest.raises(ChainRPCError, match="code -32700 'Parse error', answered it.*inconsistent")
    with JsonRpcServer(node) as url, ChainRPC(url) as rpc, contradiction:
        index_range(rpc, FIRST, FIRST)


def test_other_errors_of_the_method_are_not_taken_for_a_missing_method(etl_folder):
    backend = ReplayBackend.from_etl_export(etl_folder, block_receipts=False, unknown_method=(-32602, "invalid argument 0"))
    with JsonRpcServer(backend) as url, ChainRPC(url) as rpc:
        with pytest.raises(ChainRPCError, match="refused eth_getBlockReceipts.*-32602 'invalid argument 0'"):
            index_range(rpc, FIRST, LAST)
        assert rpc.block_receipts is None
    assert backend.calls["eth_getTransactionReceipt"] == 0


@pytest.mark.parametrize("block_receipts", [True, False], ids=["block-receipts", "per-transaction"])
def test_receipts_numbering_logs_per_transaction_are_renumbered_in_block_order(etl_folder, expected, block_receipts):
    node = ReplayBackend.from_etl_export(etl_folder, block_receipts=block_receipts, per_transaction_log_index=True)
    with JsonRpcServer(node) as url, ChainRPC(url) as rpc:
        frames = index_range(rpc, FIRST, LAST)
        by_logs = rpc.call("eth_getLogs", [{"fromBlock": hex(FIRST), "toBlock": hex(LAST)}])
    assert frames.renumbered_blocks == (FIRST, LAST)
    assert mismatches(frames, expected) == []  # ethereum-etl's log indexes, transfers included
    assert sorted(frames.logs["log_index"].to_list()) == sorted(int(x["logIndex"], 16) for x in by_logs)


def _logs(per_block: dict[int, list[list[int]]]) -> pl.DataFrame:
    """A logs frame: block -> the logIndex values of each of its transactions' logs."""
    blocks, receipts = [], []
    for number, transactions in per_block.items():
        blocks.append({"number": hex(number), "timestamp": "0x1", "transactions": [{}] * len(transactions)})
        for t, indexes in enumerate(transactions):
            logs = [
                {"logIndex": hex(i), "transactionHash": f"0x{number:02x}{t:02x}", "transactionIndex": hex(t),
                 "address": "0xAB", "data": "0x", "topics": [], "blockNumber": hex(number), "blockHash": "0x"}
                for i in indexes
            ]
            receipts.append({"logs": logs})
    return decode_logs(blocks, receipts)


def test_renumbering_touches_only_blocks_whose_indexes_repeat_or_go_back():
    logs = _logs({1: [[0, 1], [2]], 2: [[0, 1], [0]], 3: [[5], [9]], 4: [[1], [0]]})
    fixed, renumbered = renumber_log_indexes(logs)
    assert renumbered == (2, 4)
    by_block = fixed.group_by("block_number", maintain_order=True).agg("log_index").rows()
    assert by_block == [(1, [0, 1, 2]), (2, [0, 1, 2]), (3, [5, 9]), (4, [0, 1])]  # block 3 is the node's own
    assert renumber_log_indexes(fixed) == (fixed, ())


@pytest.mark.parametrize(
    ("code", "message", "verdict"),
    [
        (-32601, "", True),
        (-32000, "the method eth_x does not exist/is not available", True),
        (-32000, "header not found", False),  # geth's answer for a block it does not have yet
        (-32000, "missing trie node", False),
        (-32700, "Parse error", None),
        (-32600, "unknown method eth_x", True),
        (-32602, "method handler crashed", False),
        (None, "timeout", False),
    ],
)
def test_unknown_method_verdicts_read_code_and_message(code, message, verdict):
    assert unknown_method_verdict(code, message) is verdict


def test_endpoint_ids_never_hold_credentials():
    assert endpoint_id("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    keyed = endpoint_id("https://user:pw@mainnet.example/v3/0123456789abcdef")
    assert keyed.startswith("https://mainnet.example/#") and "pw" not in keyed and "0123456789abcdef" not in keyed
    assert keyed != endpoint_id("https://mainnet.example/v3/other-key")
