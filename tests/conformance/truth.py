"""What the indexer's tables must hold for a block span, read from the node by plain JSON-RPC calls.

Independent of the indexer: no ``ChainRPC``, no ``ops.chain.decode``. Blocks come from
``eth_getBlockByNumber(n, true)``, receipts from ``eth_getTransactionReceipt`` one by one, logs
from ``eth_getLogs`` over the whole span (the one answer whose ``logIndex`` every node numbers
block-wide), created code from ``eth_getCode`` at the creating block. Each table is a list of
row dicts in the warehouse's column names and representations (ints, decimal strings for wei).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.conformance.peer import PeerNode

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
Row = dict[str, Any]


def _int(value: str | None) -> int | None:
    return None if value is None else int(value, 16)


def _dec(value: str | None) -> str | None:
    return None if value is None else str(int(value, 16))


def _low(value: str | None) -> str | None:
    return None if value is None else value.lower()


@dataclass
class NodeTruth:
    blocks: list[Row]
    transactions: list[Row]
    logs: list[Row]
    token_transfers: list[Row]
    contracts: list[Row]
    #: Raw answers, for the tests' own cross-checks.
    raw_blocks: list[dict[str, Any]]
    raw_receipts: dict[str, dict[str, Any]]
    raw_logs: list[dict[str, Any]]

    def table(self, name: str) -> list[Row]:
        return {
            "chain_blocks": self.blocks,
            "chain_transactions": self.transactions,
            "chain_logs": self.logs,
            "token_transfers": self.token_transfers,
            "contracts": self.contracts,
        }[name]


#: The columns compared per table, and the order rows are compared in.
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "chain_blocks": (
        (
            "number", "hash", "parent_hash", "nonce", "sha3_uncles", "logs_bloom", "transactions_root",
            "state_root", "receipts_root", "miner", "difficulty", "size", "extra_data", "gas_limit",
            "gas_used", "timestamp", "transaction_count", "base_fee_per_gas", "withdrawals_root",
            "blob_gas_used", "excess_blob_gas",
        ),
        ("number",),
    ),
    "chain_transactions": (
        (
            "hash", "nonce", "transaction_index", "from_address", "to_address", "value", "gas", "gas_price",
            "input", "block_timestamp", "block_number", "block_hash", "max_fee_per_gas",
            "max_priority_fee_per_gas", "transaction_type", "receipt_cumulative_gas_used", "receipt_gas_used",
            "receipt_contract_address", "receipt_status", "receipt_effective_gas_price",
        ),
        ("block_number", "transaction_index"),
    ),
    "chain_logs": (
        (
            "log_index", "transaction_hash", "transaction_index", "address", "data", "topics", "topic0",
            "topic1", "topic2", "topic3", "block_number", "block_timestamp", "block_hash",
        ),
        ("block_number", "log_index"),
    ),
    "token_transfers": (
        (
            "token_address", "from_address", "to_address", "value", "transaction_hash", "log_index",
            "block_number", "block_timestamp", "block_hash", "token_standard",
        ),
        ("block_number", "log_index"),
    ),
    "contracts": (
        ("address", "bytecode", "block_number", "block_timestamp", "block_hash", "transaction_hash",
         "creator_address"),
        ("block_number", "address"),
    ),
}


def read_truth(node: PeerNode, start: int, end: int) -> NodeTruth:
    """The five tables of blocks ``start..end`` (inclusive) as the node tells them."""
    raw_blocks = [node.rpc("eth_getBlockByNumber", hex(n), True) for n in range(start, end + 1)]
    assert all(b is not None for b in raw_blocks), f"the node lacks blocks of {start}..{end}"
    timestamps = {b["hash"]: int(b["timestamp"], 16) for b in raw_blocks}
    blocks = [
        {
            "number": _int(b["number"]),
            "hash": b["hash"],
            "parent_hash": b["parentHash"],
            "nonce": b.get("nonce"),
            "sha3_uncles": b.get("sha3Uncles"),
            "logs_bloom": b.get("logsBloom"),
            "transactions_root": b.get("transactionsRoot"),
            "state_root": b.get("stateRoot"),
            "receipts_root": b.get("receiptsRoot"),
            "miner": _low(b.get("miner")),
            "difficulty": _dec(b.get("difficulty")),
            "size": _int(b.get("size")),
            "extra_data": b.get("extraData"),
            "gas_limit": _int(b["gasLimit"]),
            "gas_used": _int(b["gasUsed"]),
            "timestamp": _int(b["timestamp"]),
            "transaction_count": len(b["transactions"]),
            "base_fee_per_gas": _int(b.get("baseFeePerGas")),
            "withdrawals_root": b.get("withdrawalsRoot"),
            "blob_gas_used": _int(b.get("blobGasUsed")),
            "excess_blob_gas": _int(b.get("excessBlobGas")),
        }
        for b in raw_blocks
    ]
    raw_receipts: dict[str, dict[str, Any]] = {}
    transactions: list[Row] = []
    contracts: list[Row] = []
    for b in raw_blocks:
        for t in b["transactions"]:
            r = node.rpc("eth_getTransactionReceipt", t["hash"])
            assert r is not None, f"no receipt for {t['hash']}"
            raw_receipts[t["hash"]] = r
            transactions.append(
                {
                    "hash": t["hash"],
                    "nonce": _int(t["nonce"]),
                    "transaction_index": _int(t["transactionIndex"]),
                    "from_address": _low(t["from"]),
                    "to_address": _low(t.get("to")),
                    "value": _dec(t["value"]),
                    "gas": _int(t["gas"]),
                    "gas_price": _int(t.get("gasPrice")),
                    "input": t["input"],
                    "block_timestamp": timestamps[b["hash"]],
                    "block_number": _int(b["number"]),
                    "block_hash": b["hash"],
                    "max_fee_per_gas": _int(t.get("maxFeePerGas")),
                    "max_priority_fee_per_gas": _int(t.get("maxPriorityFeePerGas")),
                    "transaction_type": _int(t.get("type", "0x0")),
                    "receipt_cumulative_gas_used": _int(r["cumulativeGasUsed"]),
                    "receipt_gas_used": _int(r["gasUsed"]),
                    "receipt_contract_address": _low(r.get("contractAddress")),
                    "receipt_status": _int(r.get("status")),
                    "receipt_effective_gas_price": _int(r.get("effectiveGasPrice")),
                }
            )
            if r.get("contractAddress"):
                contracts.append(
                    {
                        "address": r["contractAddress"].lower(),
                        "bytecode": node.rpc("eth_getCode", r["contractAddress"], b["number"]),
                        "block_number": _int(b["number"]),
                        "block_timestamp": timestamps[b["hash"]],
                        "block_hash": b["hash"],
                        "transaction_hash": t["hash"],
                        "creator_address": _low(t["from"]),
                    }
                )
    raw_logs = node.rpc("eth_getLogs", {"fromBlock": hex(start), "toBlock": hex(end)})
    logs: list[Row] = []
    transfers: list[Row] = []
    for lg in raw_logs:
        topics = lg["topics"]
        row = {
            "log_index": _int(lg["logIndex"]),
            "transaction_hash": lg["transactionHash"],
            "transaction_index": _int(lg["transactionIndex"]),
            "address": lg["address"].lower(),
            "data": lg["data"],
            "topics": ",".join(topics),
            "topic0": topics[0] if topics else None,
            "topic1": topics[1] if len(topics) > 1 else None,
            "topic2": topics[2] if len(topics) > 2 else None,
            "topic3": topics[3] if len(topics) > 3 else None,
            "block_number": _int(lg["blockNumber"]),
            "block_timestamp": timestamps[lg["blockHash"]],
            "block_hash": lg["blockHash"],
        }
        logs.append(row)
        if topics and topics[0] == TRANSFER_TOPIC and len(topics) == 3 and len(lg["data"]) == 66:
            transfers.append(
                {
                    "token_address": row["address"],
                    "from_address": "0x" + topics[1][26:],
                    "to_address": "0x" + topics[2][26:],
                    "value": str(int(lg["data"], 16)),
                    "transaction_hash": row["transaction_hash"],
                    "log_index": row["log_index"],
                    "block_number": row["block_number"],
                    "block_timestamp": row["block_timestamp"],
                    "block_hash": row["block_hash"],
                    "token_standard": "erc20",
                }
            )
    return NodeTruth(blocks, transactions, logs, transfers, contracts, raw_blocks, raw_receipts, raw_logs)


def stored(warehouse: Any, table: str, start: int, end: int) -> list[Row]:
    """The compared columns of ``table``'s rows for blocks ``start..end``, in the comparison order."""
    columns, order = COLUMNS[table]
    if not warehouse.has_table(table):
        return []
    number = "number" if table == "chain_blocks" else "block_number"
    frame = warehouse.read(table, ranges={number: (start, end + 1)}, columns=list(columns))
    return frame.sort(list(order)).to_dicts()


def expected(truth: NodeTruth, table: str) -> list[Row]:
    columns, order = COLUMNS[table]
    rows = [{c: row[c] for c in columns} for row in truth.table(table)]
    return sorted(rows, key=lambda r: tuple(r[c] for c in order))


def differences(got: list[Row], want: list[Row], key: str, limit: int = 8) -> list[str]:
    """Readable differences between stored and expected rows (keyed by ``key``), at most ``limit``."""
    out: list[str] = []
    if len(got) != len(want):
        out.append(f"{len(got)} rows stored, the node has {len(want)}")
    got_by = {_key(r, key): r for r in got}
    want_by = {_key(r, key): r for r in want}
    for k in sorted(set(want_by) - set(got_by))[:limit]:
        out.append(f"missing {k}")
    for k in sorted(set(got_by) - set(want_by))[:limit]:
        out.append(f"not on the node {k}")
    for k in sorted(set(got_by) & set(want_by)):
        if got_by[k] != want_by[k]:
            diff = {c: (got_by[k][c], want_by[k][c]) for c in want_by[k] if got_by[k].get(c) != want_by[k][c]}
            out.append(f"{k}: (stored, node) {diff}")
        if len(out) >= limit:
            break
    return out


def _key(row: Row, key: str) -> Any:
    return tuple(row[k] for k in key.split(","))
