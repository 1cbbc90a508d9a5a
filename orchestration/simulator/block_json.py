"""Blocks, transactions, receipts and logs of the devnet chain as geth-shaped JSON, straight from py-evm.

eth-tester's own serializer answers in Python types and numbers logs per transaction; a real node
answers hex quantities with block-wide log indexes. ``_BlockView`` serializes a mined block once and
caches it (a block is immutable by hash); the pending block is serialized on every call.
"""

from __future__ import annotations

from typing import Any

from orchestration.simulator.rpc_codec import _addr, _bloom, hex_data, hex_quantity, hex_word


class _BlockView:
    """One mined block serialized once: blocks are immutable by hash, so the JSON is cached."""

    def __init__(self, block: Any, chaindb: Any) -> None:
        self.block = block
        self._chaindb = chaindb
        self._txs: list[dict[str, Any]] | None = None
        self._receipts: list[dict[str, Any]] | None = None
        self._json: dict[bool, dict[str, Any]] = {}

    def transactions(self) -> list[dict[str, Any]]:
        if self._txs is None:
            self._txs = [_tx_json(self.block, tx, i) for i, tx in enumerate(self.block.transactions)]
        return self._txs

    def block_json(self, full: bool) -> dict[str, Any]:
        if full not in self._json:
            body = self.transactions() if full else [hex_data(tx.hash) for tx in self.block.transactions]
            self._json[full] = _header_json(self.block, body)
        return self._json[full]

    def receipts(self) -> list[dict[str, Any]]:
        if self._receipts is None:
            self._receipts = _receipts_json(self.block, self._chaindb)
        return self._receipts


def _header_json(block: Any, transactions: list[Any]) -> dict[str, Any]:
    import rlp

    h = block.header
    out: dict[str, Any] = {
        "number": hex_quantity(h.block_number),
        "hash": hex_data(h.hash),
        "parentHash": hex_data(h.parent_hash),
        "nonce": hex_data(h.nonce),
        "sha3Uncles": hex_data(h.uncles_hash),
        "logsBloom": _bloom(h.bloom),
        "transactionsRoot": hex_data(h.transaction_root),
        "stateRoot": hex_data(h.state_root),
        "receiptsRoot": hex_data(h.receipt_root),
        "miner": _addr(h.coinbase) or "0x" + "00" * 20,
        "difficulty": hex_quantity(h.difficulty),
        "totalDifficulty": hex_quantity(h.difficulty),
        "extraData": hex_data(h.extra_data),
        "size": hex_quantity(len(rlp.encode(block))),
        "gasLimit": hex_quantity(h.gas_limit),
        "gasUsed": hex_quantity(h.gas_used),
        "timestamp": hex_quantity(h.timestamp),
        "mixHash": hex_data(h.mix_hash),
        "transactions": transactions,
        "uncles": [],
    }
    for field, name in (
        ("base_fee_per_gas", "baseFeePerGas"),
        ("withdrawals_root", "withdrawalsRoot"),
        ("blob_gas_used", "blobGasUsed"),
        ("excess_blob_gas", "excessBlobGas"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        value = getattr(h, field, None)
        if value is not None:
            out[name] = hex_quantity(value) if isinstance(value, int) else hex_data(value)
    if "withdrawalsRoot" in out:
        out["withdrawals"] = []
    return out


def _pending_block_json(block: Any, full: bool) -> dict[str, Any]:
    body = [_tx_json(block, tx, i, pending=True) for i, tx in enumerate(block.transactions)] if full else [
        hex_data(tx.hash) for tx in block.transactions
    ]
    out = _header_json(block, body)
    out.update(hash=None, nonce=None, miner=None)
    return out


def _tx_type(tx: Any) -> int:
    return getattr(tx, "type_id", None) or 0


def _effective_gas_price(tx: Any, base_fee: int | None) -> int:
    if _tx_type(tx) >= 2:
        return min(tx.max_fee_per_gas, (base_fee or 0) + tx.max_priority_fee_per_gas)
    return tx.gas_price


def _tx_json(block: Any, tx: Any, index: int, pending: bool = False) -> dict[str, Any]:
    kind = _tx_type(tx)
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    out: dict[str, Any] = {
        "blockHash": None if pending else hex_data(block.hash),
        "blockNumber": None if pending else hex_quantity(block.number),
        "from": _addr(tx.sender),
        "gas": hex_quantity(tx.gas),
        "gasPrice": hex_quantity(_effective_gas_price(tx, base_fee) if not pending or kind < 2 else tx.max_fee_per_gas),
        "hash": hex_data(tx.hash),
        "input": hex_data(tx.data),
        "nonce": hex_quantity(tx.nonce),
        "to": _addr(tx.to),
        "transactionIndex": None if pending else hex_quantity(index),
        "value": hex_quantity(tx.value),
        "type": hex_quantity(kind),
    }
    if kind >= 2:
        out["maxFeePerGas"] = hex_quantity(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = hex_quantity(tx.max_priority_fee_per_gas)
    if kind >= 1:
        out["chainId"] = hex_quantity(tx.chain_id)
        out["accessList"] = [
            {"address": _addr(address), "storageKeys": [hex_word(key) for key in keys]}
            for address, keys in (tx.access_list or ())
        ]
        out["v"] = hex_quantity(tx.y_parity)
        out["yParity"] = hex_quantity(tx.y_parity)
    else:
        out["v"] = hex_quantity(tx.v)
        if tx.v >= 35:
            out["chainId"] = hex_quantity((tx.v - 35) // 2)
    out["r"] = hex_quantity(tx.r)
    out["s"] = hex_quantity(tx.s)
    return out


def _receipts_json(block: Any, chaindb: Any) -> list[dict[str, Any]]:
    from eth._utils.address import generate_contract_address

    receipts = block.get_receipts(chaindb)
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    block_hash, block_number = hex_data(block.hash), hex_quantity(block.number)
    out: list[dict[str, Any]] = []
    log_index = 0
    previous_cumulative = 0
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        tx_hash = hex_data(tx.hash)
        logs = []
        for log in receipt.logs:
            logs.append(
                {
                    "address": _addr(log.address),
                    "topics": [hex_word(topic) for topic in log.topics],
                    "data": hex_data(log.data),
                    "blockNumber": block_number,
                    "transactionHash": tx_hash,
                    "transactionIndex": hex_quantity(index),
                    "blockHash": block_hash,
                    "logIndex": hex_quantity(log_index),
                    "removed": False,
                }
            )
            log_index += 1
        created = _addr(generate_contract_address(tx.sender, tx.nonce)) if not tx.to else None
        out.append(
            {
                "blockHash": block_hash,
                "blockNumber": block_number,
                "contractAddress": created,
                "cumulativeGasUsed": hex_quantity(receipt.gas_used),
                "effectiveGasPrice": hex_quantity(_effective_gas_price(tx, base_fee)),
                "from": _addr(tx.sender),
                "gasUsed": hex_quantity(receipt.gas_used - previous_cumulative),
                "logs": logs,
                "logsBloom": _bloom(receipt.bloom),
                "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
                "to": _addr(tx.to),
                "transactionHash": tx_hash,
                "transactionIndex": hex_quantity(index),
                "type": hex_quantity(_tx_type(tx)),
            }
        )
        previous_cumulative = receipt.gas_used
    return out
