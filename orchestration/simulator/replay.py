"""A JSON-RPC backend that answers from recorded node responses (blocks, receipts, code).

Serve it with ``JsonRpcServer(ReplayBackend...)`` and any client sees an archive node holding just
those blocks. Two sources:

- ``from_raw(blocks, receipts, codes)``: node-shaped answers as recorded or generated (the bench);
- ``from_etl_export(folder)``: an ethereum-etl export (``expected_blocks.json``,
  ``expected_transactions.json``, ``expected_logs.json``: JSON lines) turned back into node-shaped
  answers with hex quantities. The export lacks a few node fields (transaction signatures, receipt
  logs blooms, mixHash, contract code); those are absent from the answers, not invented.

Answers are encoded once up front (``RawJson``) so the server costs little per call and a
benchmark measures the client. A block's full answer is spliced at request time from its header
and its transactions' encodings (a bytes join), so each transaction is stored once.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestration.simulator.rpc_server import INVALID_PARAMS, RawJson, RpcError, method_not_found

Json = dict[str, Any]

NULL = RawJson(b"null")
EMPTY_CODE = RawJson(b'"0x"')
ZERO_WORD = "0x" + "0" * 64


def _dump(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def hex_quantity(value: int | None) -> str | None:
    """An int as a JSON-RPC QUANTITY."""
    return None if value is None else hex(value)


class _Block:
    """One block's encoded pieces: header (an object missing its closing brace), txs, receipts."""

    __slots__ = ("hash", "hashes_json", "head", "logs", "number", "receipts", "tx_hashes", "txs")

    def __init__(self, block: Json, receipts: Sequence[Json], *, per_transaction_log_index: bool = False) -> None:
        self.number = int(block["number"], 16)
        self.hash = block["hash"].lower()
        header = {k: v for k, v in block.items() if k != "transactions"}
        self.head = _dump(header)[:-1]  # re-closed with the transactions at request time
        txs = block.get("transactions", [])
        if txs and not isinstance(txs[0], dict):
            raise ValueError(f"block {self.number}: recorded blocks need full transaction objects")
        self.tx_hashes = [t["hash"].lower() for t in txs]
        self.txs = [_dump(t) for t in txs]
        by_hash = {r["transactionHash"].lower(): r for r in receipts}
        missing = [h for h in self.tx_hashes if h not in by_hash]
        if missing:
            raise ValueError(f"block {self.number}: no recorded receipt for {missing[0]}")
        answered = by_hash
        if per_transaction_log_index:  # as some nodes' receipts do: 0.. in every transaction
            answered = {
                h: {**r, "logs": [{**log, "logIndex": hex(i)} for i, log in enumerate(r.get("logs", []))]}
                for h, r in by_hash.items()
            }
        self.receipts = [_dump(answered[h]) for h in self.tx_hashes]
        self.hashes_json = _dump(self.tx_hashes)
        #: (address, topics, encoded log) per log, so eth_getLogs filters without decoding receipts
        self.logs = [
            (log["address"].lower(), [t.lower() for t in log["topics"]], _dump(log))
            for h in self.tx_hashes
            for log in by_hash[h].get("logs", [])
        ]

    def full(self, with_transactions: bool) -> RawJson:
        body = b"[" + b",".join(self.txs) + b"]" if with_transactions else self.hashes_json
        separator = b"," if len(self.head) > 1 else b""
        return RawJson(self.head + separator + b'"transactions":' + body + b"}")

    def receipts_json(self) -> RawJson:
        return RawJson(b"[" + b",".join(self.receipts) + b"]")


class ReplayBackend:
    """Answers eth_* reads from recorded blocks; ``call(method, params)`` for ``JsonRpcServer``.

    ``block_receipts=False`` answers eth_getBlockReceipts with -32601 (method not found), as
    nodes without it do, so clients' per-transaction fallback can be tested; ``unknown_method``
    (code, message) is the error other nodes give for a method they lack instead.
    ``per_transaction_log_index`` numbers receipts' logs from 0 in each transaction (eth_getLogs
    keeps the block-wide index), as some nodes do.
    ``calls`` counts the JSON-RPC calls answered, by method.
    """

    def __init__(
        self,
        chain_id: int = 1,
        *,
        block_receipts: bool = True,
        unknown_method: tuple[int, str] | None = None,
        per_transaction_log_index: bool = False,
    ) -> None:
        self.chain_id = chain_id
        self.block_receipts = block_receipts
        self.unknown_method = unknown_method
        self.per_transaction_log_index = per_transaction_log_index
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._by_number: dict[int, _Block] = {}
        self._by_hash: dict[str, _Block] = {}
        self._tx_at: dict[str, tuple[_Block, int]] = {}
        self._codes: dict[str, RawJson] = {}
        self._head = -1

    # --- loading --------------------------------------------------------------------------------

    def add_block(self, block: Json, receipts: Sequence[Json]) -> None:
        entry = _Block(block, receipts, per_transaction_log_index=self.per_transaction_log_index)
        self._by_number[entry.number] = entry
        self._by_hash[entry.hash] = entry
        for index, tx_hash in enumerate(entry.tx_hashes):
            self._tx_at[tx_hash] = (entry, index)
        self._head = max(self._head, entry.number)

    def add_code(self, address: str, code: str) -> None:
        self._codes[address.lower()] = RawJson(_dump(code))

    @classmethod
    def from_raw(
        cls,
        blocks: Iterable[Json],
        receipts: Mapping[str, Sequence[Json]] | Sequence[Sequence[Json]],
        codes: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ReplayBackend:
        """Node answers as recorded: eth_getBlockByNumber(n, true) results, their receipts ({block hash:
        [receipt]} or a list aligned with ``blocks``) and {address: runtime code}."""
        backend = cls(**options)
        for i, block in enumerate(blocks):
            block_receipts = receipts.get(block["hash"], []) if isinstance(receipts, Mapping) else receipts[i]
            backend.add_block(block, block_receipts)
        for address, code in (codes or {}).items():
            backend.add_code(address, code)
        return backend

    @classmethod
    def from_etl_export(cls, folder: str | Path, **options: Any) -> ReplayBackend:
        """Rebuild node answers (hex quantities, camelCase fields) from an ethereum-etl JSON-lines export."""
        blocks, receipts = etl_export_to_raw(folder)
        return cls.from_raw(blocks, receipts, **options)

    # --- answering ------------------------------------------------------------------------------

    @property
    def head(self) -> int:
        return self._head

    def call(self, method: str, params: list[Any]) -> Any:
        with self._lock:
            self.calls[method] += 1
        handler = _HANDLERS.get(method)
        if handler is None or (method == "eth_getBlockReceipts" and not self.block_receipts):
            raise RpcError(*self.unknown_method) if self.unknown_method else method_not_found(method)
        try:
            return handler(self, params)
        except (IndexError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise RpcError(INVALID_PARAMS, f"invalid params for {method}: {error}") from error

    def _block_number(self, tag: Any) -> int:
        if tag in ("latest", "pending", "safe", "finalized", None):
            return self._head
        if tag == "earliest":
            return min(self._by_number, default=0)
        return int(tag, 16)

    def _block(self, ref: Any) -> _Block | None:
        if isinstance(ref, dict):  # EIP-1898 {"blockHash": ...} / {"blockNumber": ...}
            ref = ref.get("blockHash") or ref.get("blockNumber")
        if isinstance(ref, str) and len(ref) == 66:
            return self._by_hash.get(ref.lower())
        return self._by_number.get(self._block_number(ref))

    def _chain_id(self, params: list[Any]) -> str:
        return hex(self.chain_id)

    def _client_version(self, params: list[Any]) -> str:
        return "sextant-replay"

    def _net_version(self, params: list[Any]) -> str:
        return str(self.chain_id)

    def _block_number_call(self, params: list[Any]) -> str:
        return hex(max(self._head, 0))

    def _get_block_by_number(self, params: list[Any]) -> RawJson:
        entry = self._by_number.get(self._block_number(params[0]))
        return NULL if entry is None else entry.full(bool(params[1]) if len(params) > 1 else False)

    def _get_block_by_hash(self, params: list[Any]) -> RawJson:
        entry = self._by_hash.get(params[0].lower())
        return NULL if entry is None else entry.full(bool(params[1]) if len(params) > 1 else False)

    def _get_block_receipts(self, params: list[Any]) -> RawJson:
        entry = self._block(params[0])
        return NULL if entry is None else entry.receipts_json()

    def _get_transaction_receipt(self, params: list[Any]) -> RawJson:
        found = self._tx_at.get(params[0].lower())
        return NULL if found is None else RawJson(found[0].receipts[found[1]])

    def _get_transaction_by_hash(self, params: list[Any]) -> RawJson:
        found = self._tx_at.get(params[0].lower())
        return NULL if found is None else RawJson(found[0].txs[found[1]])

    def _get_code(self, params: list[Any]) -> RawJson:
        return self._codes.get(params[0].lower(), EMPTY_CODE)

    def _get_storage_at(self, params: list[Any]) -> str:
        return ZERO_WORD  # recordings carry no state

    def _get_logs(self, params: list[Any]) -> RawJson:
        query = params[0] if params else {}
        if query.get("blockHash"):
            entry = self._by_hash.get(query["blockHash"].lower())
            entries = [] if entry is None else [entry]
        else:
            start = self._block_number(query.get("fromBlock", "latest"))
            end = self._block_number(query.get("toBlock", "latest"))
            entries = [self._by_number[n] for n in range(start, end + 1) if n in self._by_number]
        addresses = query.get("address")
        if isinstance(addresses, str):
            addresses = [addresses]
        wanted = {a.lower() for a in addresses} if addresses else None
        topic_filter = [
            None if t is None else {x.lower() for x in ([t] if isinstance(t, str) else t)}
            for t in query.get("topics") or []
        ]
        found = [
            encoded
            for entry in entries
            for address, topics, encoded in entry.logs
            if (wanted is None or address in wanted) and _topics_match(topics, topic_filter)
        ]
        return RawJson(b"[" + b",".join(found) + b"]")


def _topics_match(topics: list[str], topic_filter: list[set[str] | None]) -> bool:
    """Positional topic filter: None matches anything, a set matches any of its members."""
    if len(topic_filter) > len(topics) and any(f is not None for f in topic_filter[len(topics) :]):
        return False
    return all(f is None or topics[i].lower() in f for i, f in enumerate(topic_filter) if i < len(topics))


_HANDLERS = {
    "eth_chainId": ReplayBackend._chain_id,
    "net_version": ReplayBackend._net_version,
    "web3_clientVersion": ReplayBackend._client_version,
    "eth_blockNumber": ReplayBackend._block_number_call,
    "eth_getBlockByNumber": ReplayBackend._get_block_by_number,
    "eth_getBlockByHash": ReplayBackend._get_block_by_hash,
    "eth_getBlockReceipts": ReplayBackend._get_block_receipts,
    "eth_getTransactionReceipt": ReplayBackend._get_transaction_receipt,
    "eth_getTransactionByHash": ReplayBackend._get_transaction_by_hash,
    "eth_getCode": ReplayBackend._get_code,
    "eth_getStorageAt": ReplayBackend._get_storage_at,
    "eth_getLogs": ReplayBackend._get_logs,
}


# --- ethereum-etl export -> node answers ---------------------------------------------------------


def _read_lines(path: Path) -> list[Json]:
    with path.open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def etl_export_to_raw(folder: str | Path) -> tuple[list[Json], dict[str, list[Json]]]:
    """(blocks with full transactions, {block hash: receipts}) rebuilt from an ethereum-etl export."""
    folder = Path(folder)
    blocks = _read_lines(folder / "expected_blocks.json")
    transactions = _read_lines(folder / "expected_transactions.json")
    logs = _read_lines(folder / "expected_logs.json")

    logs_by_tx: dict[str, list[Json]] = {}
    for log in sorted(logs, key=lambda lg: (lg["block_number"], lg["log_index"])):
        logs_by_tx.setdefault(log["transaction_hash"], []).append(
            {
                "address": log["address"],
                "topics": log["topics"],
                "data": log["data"],
                "blockNumber": hex_quantity(log["block_number"]),
                "transactionHash": log["transaction_hash"],
                "transactionIndex": hex_quantity(log["transaction_index"]),
                "blockHash": log["block_hash"],
                "logIndex": hex_quantity(log["log_index"]),
                "removed": False,
            }
        )

    txs_by_block: dict[str, list[Json]] = {}
    receipts: dict[str, list[Json]] = {}
    for tx in sorted(transactions, key=lambda t: (t["block_number"], t["transaction_index"])):
        node_tx = {
            "blockHash": tx["block_hash"],
            "blockNumber": hex_quantity(tx["block_number"]),
            "from": tx["from_address"],
            "gas": hex_quantity(tx["gas"]),
            "gasPrice": hex_quantity(tx["gas_price"]),
            "hash": tx["hash"],
            "input": tx["input"],
            "nonce": hex_quantity(tx["nonce"]),
            "to": tx["to_address"],
            "transactionIndex": hex_quantity(tx["transaction_index"]),
            "value": hex_quantity(tx["value"]),
            "type": hex_quantity(tx["transaction_type"]),
        }
        if tx.get("max_fee_per_gas") is not None:
            node_tx["maxFeePerGas"] = hex_quantity(tx["max_fee_per_gas"])
            node_tx["maxPriorityFeePerGas"] = hex_quantity(tx["max_priority_fee_per_gas"])
        txs_by_block.setdefault(tx["block_hash"], []).append(node_tx)
        receipt = {
            "blockHash": tx["block_hash"],
            "blockNumber": hex_quantity(tx["block_number"]),
            "contractAddress": tx["receipt_contract_address"],
            "cumulativeGasUsed": hex_quantity(tx["receipt_cumulative_gas_used"]),
            "effectiveGasPrice": hex_quantity(tx["receipt_effective_gas_price"]),
            "from": tx["from_address"],
            "gasUsed": hex_quantity(tx["receipt_gas_used"]),
            "logs": logs_by_tx.get(tx["hash"], []),
            "status": hex_quantity(tx["receipt_status"]),
            "to": tx["to_address"],
            "transactionHash": tx["hash"],
            "transactionIndex": hex_quantity(tx["transaction_index"]),
            "type": hex_quantity(tx["transaction_type"]),
        }
        if tx.get("receipt_root") is not None:
            receipt["root"] = tx["receipt_root"]
        receipts.setdefault(tx["block_hash"], []).append(receipt)

    node_blocks = []
    for block in sorted(blocks, key=lambda b: b["number"]):
        node_block = {
            "number": hex_quantity(block["number"]),
            "hash": block["hash"],
            "parentHash": block["parent_hash"],
            "nonce": block["nonce"],
            "sha3Uncles": block["sha3_uncles"],
            "logsBloom": block["logs_bloom"],
            "transactionsRoot": block["transactions_root"],
            "stateRoot": block["state_root"],
            "receiptsRoot": block["receipts_root"],
            "miner": block["miner"],
            "difficulty": hex_quantity(block["difficulty"]),
            "totalDifficulty": hex_quantity(block.get("total_difficulty")),
            "size": hex_quantity(block["size"]),
            "extraData": block["extra_data"],
            "gasLimit": hex_quantity(block["gas_limit"]),
            "gasUsed": hex_quantity(block["gas_used"]),
            "timestamp": hex_quantity(block["timestamp"]),
            "uncles": [],
            "transactions": txs_by_block.get(block["hash"], []),
        }
        if block.get("base_fee_per_gas") is not None:
            node_block["baseFeePerGas"] = hex_quantity(block["base_fee_per_gas"])
        if block.get("withdrawals_root") is not None:
            node_block["withdrawalsRoot"] = block["withdrawals_root"]
            node_block["withdrawals"] = [
                {
                    "index": hex_quantity(w["index"]),
                    "validatorIndex": hex_quantity(w["validator_index"]),
                    "address": w["address"],
                    "amount": hex_quantity(w["amount"]),
                }
                for w in block.get("withdrawals") or []
            ]
        node_blocks.append(node_block)
    return node_blocks, receipts
