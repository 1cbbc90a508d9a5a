"""Print how each peer node (Hardhat Network, Ganache) answers what the indexer asks.

    .venv/bin/python -m tests.conformance.characterize [hardhat|ganache ...]

Starts its own node on a free port, makes one block with two token transfers and an ETH transfer,
and prints: the client version, the answer to an unknown method and to eth_getBlockReceipts, the
logIndex of each log in the receipts and in eth_getLogs, the block fields the indexer reads
(totalDifficulty, mixHash, baseFeePerGas, withdrawals...), and what a pending block looks like.
"""

from __future__ import annotations

import json
import sys

from tests.conformance.peer import PEERS, PeerNode, missing_prerequisite, package_version
from tests.conformance.scenario import ETHER, Actions, token_creation_code
from tests.services import free_port


def show(title: str, value: object) -> None:
    print(f"== {title}\n{json.dumps(value, indent=1)[:1500]}")


def main(names: list[str]) -> int:
    for name in names or PEERS:
        why = missing_prerequisite(name)
        if why:
            print(why)
            return 1
        print(f"######## {name} {package_version(name)}")
        characterize(name)
    return 0


def characterize(name: str) -> None:
    node = PeerNode(name, free_port())
    node.start()
    try:
        show("web3_clientVersion", node.rpc("web3_clientVersion"))
        show("eth_chainId", node.rpc("eth_chainId"))
        show("unknown method eth_noSuchMethod", node.raw("eth_noSuchMethod"))
        show("eth_getBlockReceipts ['0x0']", node.raw("eth_getBlockReceipts", "0x0"))
        show("eth_getBlockReceipts ['latest']", node.raw("eth_getBlockReceipts", "latest"))

        act = Actions(node)
        a, b, c = act.accounts[:3]
        token = act.deploy(a, token_creation_code(), (["string", "string", "uint8"], ["Peer", "PEER", 18]))
        act.mint(token, a, a, 1000 * ETHER)
        with act.one_block():
            t1 = act.transfer(token, a, b, 5 * ETHER)
            act.eth(c, b, ETHER)
            t2 = act.transfer(token, a, c, 7 * ETHER)
            t3 = act.approve(token, a, b, 1)
        number = node.rpc("eth_getTransactionReceipt", t1)["blockNumber"]
        show("eth_getBlockReceipts [block with 3 txs]", node.raw("eth_getBlockReceipts", number))
        print("== logIndex per receipt (eth_getTransactionReceipt)")
        for tx in (t1, t2, t3):
            r = node.rpc("eth_getTransactionReceipt", tx)
            print(tx[:10], "transactionIndex", r["transactionIndex"],
                  "logIndex", [lg["logIndex"] for lg in r["logs"]])
        logs = node.rpc("eth_getLogs", {"fromBlock": number, "toBlock": number})
        print("== eth_getLogs logIndex", [(lg["transactionHash"][:10], lg["logIndex"]) for lg in logs])
        block = node.rpc("eth_getBlockByNumber", number, True)
        show("block keys", sorted(k for k in block if k != "transactions"))
        show("block fields", {k: block.get(k) for k in (
            "totalDifficulty", "difficulty", "mixHash", "nonce", "baseFeePerGas", "withdrawals", "withdrawalsRoot",
            "blobGasUsed", "excessBlobGas", "parentBeaconBlockRoot", "requestsHash", "miner", "extraData", "size")})
        show("transaction keys", sorted(block["transactions"][0]))
        show("receipt keys", sorted(node.rpc("eth_getTransactionReceipt", t1)))
        head = node.head()
        for ahead in (1, 2):
            answer = node.rpc("eth_getBlockByNumber", hex(head + ahead), False)
            show(f"eth_getBlockByNumber(head + {ahead}) (number, hash)",
                 answer and {k: answer.get(k) for k in ("number", "hash", "parentHash")})
        node.pause_mining()
        act.eth(a, b, 1)
        pending = node.rpc("eth_getBlockByNumber", "pending", True)
        show("pending block (hash, number, nonce, miner)",
             {k: pending.get(k) for k in ("hash", "number", "nonce", "miner", "totalDifficulty")})
        show("pending block's transactions (blockHash, blockNumber, transactionIndex)",
             [{k: t.get(k) for k in ("blockHash", "blockNumber", "transactionIndex")} for t in pending["transactions"]])
        node.mine()
        node.resume_mining()
        snap = node.rpc("evm_snapshot")
        show("evm_snapshot", snap)
        show("evm_revert", node.rpc("evm_revert", snap))
        show("evm_revert again (same id)", node.raw("evm_revert", snap))
        show("batch of two calls", node._session.post(node.url, json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_getBlockReceipts", "params": ["0x1"]},
        ], timeout=10).json())
    finally:
        node.stop()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
