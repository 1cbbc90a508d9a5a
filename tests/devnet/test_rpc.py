"""The JSON-RPC surface over real HTTP: batches, hex in and out, errors, receipts, logs, reorgs."""

from __future__ import annotations

import httpx
import pytest

from orchestration.simulator.chain import DevnetBackend
from orchestration.simulator.rpc_server import JsonRpcServer

SWAP_TOPIC = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"


def _post(url: str, body) -> object:
    return httpx.post(url, json=body, timeout=30).json()


def test_batch_array_answers_each_element(devnet, truth):
    server, _ = devnet
    answers = _post(server.url, [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": 3, "method": "eth_noSuchMethod", "params": []},
        {"jsonrpc": "2.0", "id": 4, "method": "eth_getBlockByNumber", "params": ["latest", False]},
    ])
    by_id = {a["id"]: a for a in answers}
    assert int(by_id[1]["result"], 16) >= truth["last_block"]
    assert by_id[2]["result"] == hex(truth["chain_id"])
    assert by_id[3]["error"]["code"] == -32601
    assert by_id[4]["result"]["number"].startswith("0x")


def test_unknown_method_and_bad_params_get_standard_errors(devnet):
    url = devnet[0].url
    unknown = _post(url, {"jsonrpc": "2.0", "id": 7, "method": "debug_traceBlock", "params": []})
    assert unknown["id"] == 7 and unknown["error"]["code"] == -32601
    for params in ([12, False], ["0xzz", False], []):
        bad = _post(url, {"jsonrpc": "2.0", "id": 8, "method": "eth_getBlockByNumber", "params": params})
        assert bad["error"]["code"] == -32602, params
    bad_hash = _post(url, {"jsonrpc": "2.0", "id": 9, "method": "eth_getTransactionReceipt", "params": ["0x1234"]})
    assert bad_hash["error"]["code"] == -32602


def test_hex_quantities_in_and_out(rpc, truth):
    block = rpc("eth_getBlockByNumber", hex(truth["first_block"] + 2), True)
    for key in ("number", "timestamp", "gasUsed", "gasLimit", "baseFeePerGas", "size"):
        assert block[key].startswith("0x") and int(block[key], 16) >= 0
    assert block["number"] == hex(truth["first_block"] + 2)
    tx = block["transactions"][0]
    assert tx["blockHash"] == block["hash"] and tx["transactionIndex"] == "0x0"
    for key in ("gas", "nonce", "value", "gasPrice", "maxFeePerGas", "type"):
        assert tx[key].startswith("0x")
    assert rpc("eth_getTransactionByHash", tx["hash"]) == tx
    assert rpc("eth_getBlockByHash", block["hash"], True) == block
    assert rpc("eth_getBlockByNumber", hex(10**6), False) is None
    deployer = truth["accounts"]["deployer"]
    assert int(rpc("eth_getBalance", deployer, "latest"), 16) > 0
    assert int(rpc("eth_getTransactionCount", deployer, "latest"), 16) > 10
    for tag in ("earliest", "latest", "safe", "finalized", "pending"):
        assert rpc("eth_getBlockByNumber", tag, False)["number"].startswith("0x")


def test_block_receipts_equal_the_per_transaction_receipts(rpc, truth):
    block_number = truth["sandwiches"][0]["block"]
    block = rpc("eth_getBlockByNumber", hex(block_number), False)
    receipts = rpc("eth_getBlockReceipts", hex(block_number))
    assert len(receipts) == len(block["transactions"]) >= 3
    assert receipts == [rpc("eth_getTransactionReceipt", h) for h in block["transactions"]]
    assert rpc("eth_getBlockReceipts", block["hash"]) == receipts
    log_indexes = [int(log["logIndex"], 16) for r in receipts for log in r["logs"]]
    assert log_indexes == list(range(len(log_indexes)))  # block-wide, as real nodes number them
    gas = [int(r["gasUsed"], 16) for r in receipts]
    assert [int(r["cumulativeGasUsed"], 16) for r in receipts] == [sum(gas[: i + 1]) for i in range(len(gas))]
    for receipt in receipts:
        assert receipt["status"] == "0x1" and len(receipt["logsBloom"]) == 2 + 512
        assert set(receipt) >= {"effectiveGasPrice", "type", "contractAddress", "from", "to", "logs"}


def test_get_logs_filters_by_address_and_topic(rpc, truth):
    pool = truth["sandwiches"][0]["pool"]
    last = hex(truth["last_block"])
    swaps = rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": last, "address": pool, "topics": [SWAP_TOPIC]})
    expected = [
        log
        for n in range(truth["last_block"] + 1)
        for receipt in rpc("eth_getBlockReceipts", hex(n))
        for log in receipt["logs"]
        if log["address"] == pool and log["topics"][0] == SWAP_TOPIC
    ]
    assert swaps == expected and len(swaps) >= 3
    none = rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": last, "topics": [None, "0x" + "ab" * 32]})
    assert none == []


def test_web3_reads_the_devnet(w3, truth):
    assert w3.eth.chain_id == truth["chain_id"]
    assert w3.eth.block_number >= truth["last_block"]
    arb = truth["arbitrages"][0]
    receipt = w3.eth.get_transaction_receipt(arb["tx"])
    assert receipt["status"] == 1 and receipt["blockNumber"] == arb["block"]
    block = w3.eth.get_block(arb["block"], full_transactions=True)
    assert arb["tx"] in [t["hash"].to_0x_hex() for t in block["transactions"]]


def test_send_estimate_and_call():
    backend = DevnetBackend(accounts=3)
    with JsonRpcServer(backend, port=0, serialize=True) as url:
        rpc = lambda method, *p: _post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(p)})
        a, b = rpc("eth_accounts")["result"][:2]
        tx = {"from": a, "to": b, "value": hex(10**18)}
        assert rpc("eth_estimateGas", tx)["result"] == hex(21_000)
        tx_hash = rpc("eth_sendTransaction", tx | {"gas": hex(21_000)})["result"]
        receipt = rpc("eth_getTransactionReceipt", tx_hash)["result"]
        assert receipt["status"] == "0x1" and receipt["blockNumber"] == "0x1"
        assert rpc("eth_getBalance", b, "0x1")["result"] == hex(10**24 + 10**18)
        assert rpc("eth_getBalance", b, "0x0")["result"] == hex(10**24)
        assert rpc("eth_call", {"to": b, "data": "0x"})["result"] == "0x"
        unknown = rpc("eth_sendTransaction", {"from": "0x" + "12" * 20, "to": b})
        assert unknown["error"]["code"] == -32000


def test_reorg_by_snapshot_and_revert_changes_hashes():
    backend = DevnetBackend(accounts=3)
    with JsonRpcServer(backend, port=0, serialize=True) as url:
        def rpc(method, *p):
            answer = _post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(p)})
            assert "error" not in answer, answer
            return answer["result"]

        a, b = rpc("eth_accounts")[:2]
        rpc("evm_mine")
        base = int(rpc("eth_blockNumber"), 16)
        snapshot = rpc("evm_snapshot")
        sent = rpc("eth_sendTransaction", {"from": a, "to": b, "value": "0x1", "gas": hex(21_000)})
        rpc("evm_mine")
        old = [rpc("eth_getBlockByNumber", hex(base + i), False)["hash"] for i in (1, 2)]
        assert rpc("evm_revert", snapshot) is True
        assert int(rpc("eth_blockNumber"), 16) == base
        assert rpc("eth_getTransactionReceipt", sent) is None  # reorged out
        assert rpc("eth_getTransactionByHash", sent) is None
        rpc("evm_mine")  # different blocks at the same heights, even when empty
        rpc("evm_mine")
        new = [rpc("eth_getBlockByNumber", hex(base + i), False) for i in (1, 2)]
        assert [blk["hash"] for blk in new] != old and all(h not in old for h in [blk["hash"] for blk in new])
        assert new[1]["parentHash"] == new[0]["hash"]
        assert rpc("eth_getBlockByNumber", hex(base), False)["hash"] == new[0]["parentHash"]
        assert rpc("evm_revert", snapshot) is False  # used up, as in Hardhat


@pytest.mark.parametrize("method", ["eth_blockNumber", "net_version", "web3_clientVersion", "eth_gasPrice"])
def test_simple_methods_answer(rpc, method):
    assert isinstance(rpc(method), str)
