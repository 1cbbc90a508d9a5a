"""Raw JSON-RPC answers -> the five chain tables (ethereum-etl column names, see ``schema.py``).

Input is what a node returns, untouched: block objects with full transactions (hex quantities),
their receipts, and the runtime code of the contracts created in the range. Output is a
``ChainFrames`` of polars frames conforming to the schemas.

Why it looks the way it does: this is the hot path the indexing benchmark measures against
ethereum-etl, so no per-row objects. Each column is pulled out of the dicts with one list
comprehension (the only per-element Python work), and hex parsing, lower-casing and the
token-transfer filter run vectorized in polars. Only quantities that may exceed int64 (wei
values, token amounts) go through Python's ``int(x, 16)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import polars as pl

from ops.chain.schema import (
    BLOCKS_SCHEMA,
    CONTRACTS_SCHEMA,
    LOGS_SCHEMA,
    TOKEN_TRANSFERS_SCHEMA,
    TRANSACTIONS_SCHEMA,
    TRANSFER_TOPIC,
)

Json = dict[str, Any]


@dataclass(frozen=True)
class ChainFrames:
    """The five tables decoded from one block range, and the blocks whose log indexes were renumbered."""

    TABLES: ClassVar[tuple[str, ...]] = ("blocks", "transactions", "logs", "token_transfers", "contracts")

    blocks: pl.DataFrame
    transactions: pl.DataFrame
    logs: pl.DataFrame
    token_transfers: pl.DataFrame
    contracts: pl.DataFrame
    #: Blocks whose receipts numbered logs per transaction (see ``renumber_log_indexes``).
    renumbered_blocks: tuple[int, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name).height for name in self.TABLES}

    @staticmethod
    def concat(parts: Sequence[ChainFrames]) -> ChainFrames:
        """Stack the frames of consecutive ranges (in the given order)."""
        if not parts:
            return empty_frames()
        return ChainFrames(
            **{name: pl.concat([getattr(p, name) for p in parts], how="vertical") for name in ChainFrames.TABLES},
            renumbered_blocks=tuple(n for p in parts for n in p.renumbered_blocks),
        )


def empty_frames() -> ChainFrames:
    return ChainFrames(
        blocks=pl.DataFrame(schema=BLOCKS_SCHEMA),
        transactions=pl.DataFrame(schema=TRANSACTIONS_SCHEMA),
        logs=pl.DataFrame(schema=LOGS_SCHEMA),
        token_transfers=pl.DataFrame(schema=TOKEN_TRANSFERS_SCHEMA),
        contracts=pl.DataFrame(schema=CONTRACTS_SCHEMA),
    )


class DecodeError(ValueError):
    """The raw answers are inconsistent (a receipt missing for a transaction, hash-only blocks...)."""


# --- vectorized helpers --------------------------------------------------------------------------


def _hex_int(name: str) -> pl.Expr:
    """A hex QUANTITY column ("0x1a") as Int64; a value beyond int64 fails loudly, naming the column."""
    return pl.col(name).str.slice(2).str.to_integer(base=16, strict=True).alias(name)


def _big(values: list[str | None]) -> list[str | None]:
    """Hex quantities that may exceed int64 as decimal strings (Python ints are unbounded)."""
    return [None if v is None else str(int(v, 16)) for v in values]


def _frame(
    columns: dict[str, list[Any]], schema: dict[str, pl.DataType], ints: Sequence[str]
) -> pl.DataFrame:
    """Text columns -> a frame with ``ints`` parsed from hex, in the schema's column order and types."""
    frame = pl.DataFrame(columns, schema={name: pl.Utf8 for name in columns}, strict=False)
    frame = frame.with_columns([_hex_int(name) for name in ints])
    return frame.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


# --- blocks --------------------------------------------------------------------------------------


def _withdrawals_json(withdrawals: list[Json] | None) -> str | None:
    if withdrawals is None:
        return None
    return json.dumps(
        [
            {
                "index": int(w["index"], 16),
                "validator_index": int(w["validatorIndex"], 16),
                "address": w["address"].lower(),
                "amount": int(w["amount"], 16),
            }
            for w in withdrawals
        ],
        separators=(",", ":"),
    )


def decode_blocks(blocks: Sequence[Json]) -> pl.DataFrame:
    if not blocks:
        return pl.DataFrame(schema=BLOCKS_SCHEMA)
    columns = {
        "number": [b["number"] for b in blocks],
        "hash": [b["hash"] for b in blocks],
        "parent_hash": [b["parentHash"] for b in blocks],
        "nonce": [b.get("nonce") for b in blocks],
        "sha3_uncles": [b.get("sha3Uncles") for b in blocks],
        "logs_bloom": [b.get("logsBloom") for b in blocks],
        "transactions_root": [b.get("transactionsRoot") for b in blocks],
        "state_root": [b.get("stateRoot") for b in blocks],
        "receipts_root": [b.get("receiptsRoot") for b in blocks],
        "miner": [b.get("miner") for b in blocks],
        "difficulty": _big([b.get("difficulty") for b in blocks]),
        "total_difficulty": _big([b.get("totalDifficulty") for b in blocks]),
        "size": [b.get("size") for b in blocks],
        "extra_data": [b.get("extraData") for b in blocks],
        "gas_limit": [b["gasLimit"] for b in blocks],
        "gas_used": [b["gasUsed"] for b in blocks],
        "timestamp": [b["timestamp"] for b in blocks],
        "transaction_count": [hex(len(b["transactions"])) for b in blocks],
        "base_fee_per_gas": [b.get("baseFeePerGas") for b in blocks],
        "withdrawals_root": [b.get("withdrawalsRoot") for b in blocks],
        "withdrawals": [_withdrawals_json(b.get("withdrawals")) for b in blocks],
        "blob_gas_used": [b.get("blobGasUsed") for b in blocks],
        "excess_blob_gas": [b.get("excessBlobGas") for b in blocks],
    }
    ints = (
        "number",
        "size",
        "gas_limit",
        "gas_used",
        "timestamp",
        "transaction_count",
        "base_fee_per_gas",
        "blob_gas_used",
        "excess_blob_gas",
    )
    return _frame(columns, BLOCKS_SCHEMA, ints).with_columns(pl.col("miner").str.to_lowercase())


# --- transactions with receipts ------------------------------------------------------------------


def _aligned_receipts(
    blocks: Sequence[Json], receipts: Mapping[str, Sequence[Json]] | Sequence[Sequence[Json]]
) -> list[Json]:
    """One receipt per transaction, in the transactions' order; a missing receipt is an error, not a gap."""
    flat: list[Json] = []
    by_hash = isinstance(receipts, Mapping)
    for i, block in enumerate(blocks):
        block_receipts = receipts.get(block["hash"], ()) if by_hash else receipts[i]  # type: ignore[union-attr,index]
        txs = block["transactions"]
        tx_hashes = [t["hash"] for t in txs]
        if [r["transactionHash"] for r in block_receipts] != tx_hashes:
            lookup = {r["transactionHash"]: r for r in block_receipts}
            missing = [h for h in tx_hashes if h not in lookup]
            if missing:
                raise DecodeError(
                    f"block {int(block['number'], 16)}: no receipt for {len(missing)} of {len(txs)} "
                    f"transactions (first {missing[0]})"
                )
            block_receipts = [lookup[h] for h in tx_hashes]
        flat.extend(block_receipts)
    return flat


def decode_transactions(blocks: Sequence[Json], receipts: list[Json]) -> pl.DataFrame:
    """Transactions of ``blocks`` joined (by position) with ``receipts`` aligned to them."""
    txs = [t for b in blocks for t in b["transactions"]]
    if not txs:
        return pl.DataFrame(schema=TRANSACTIONS_SCHEMA)
    timestamps = [b["timestamp"] for b in blocks for _ in b["transactions"]]
    blob_hashes = [t.get("blobVersionedHashes") for t in txs]
    columns = {
        "hash": [t["hash"] for t in txs],
        "nonce": [t["nonce"] for t in txs],
        "transaction_index": [t["transactionIndex"] for t in txs],
        "from_address": [t["from"] for t in txs],
        "to_address": [t.get("to") for t in txs],
        "value": _big([t["value"] for t in txs]),
        "gas": [t["gas"] for t in txs],
        "gas_price": [t.get("gasPrice") for t in txs],
        "input": [t["input"] for t in txs],
        "block_timestamp": timestamps,
        "block_number": [t["blockNumber"] for t in txs],
        "block_hash": [t["blockHash"] for t in txs],
        "max_fee_per_gas": [t.get("maxFeePerGas") for t in txs],
        "max_priority_fee_per_gas": [t.get("maxPriorityFeePerGas") for t in txs],
        "transaction_type": [t.get("type", "0x0") for t in txs],
        "max_fee_per_blob_gas": [t.get("maxFeePerBlobGas") for t in txs],
        "blob_versioned_hashes": [None if h is None else ",".join(h) for h in blob_hashes],
        "receipt_cumulative_gas_used": [r["cumulativeGasUsed"] for r in receipts],
        "receipt_gas_used": [r["gasUsed"] for r in receipts],
        "receipt_contract_address": [r.get("contractAddress") for r in receipts],
        "receipt_root": [r.get("root") for r in receipts],
        "receipt_status": [r.get("status") for r in receipts],
        "receipt_effective_gas_price": [r.get("effectiveGasPrice") for r in receipts],
        "receipt_blob_gas_price": [r.get("blobGasPrice") for r in receipts],
        "receipt_blob_gas_used": [r.get("blobGasUsed") for r in receipts],
    }
    ints = (
        "nonce",
        "transaction_index",
        "gas",
        "gas_price",
        "block_timestamp",
        "block_number",
        "max_fee_per_gas",
        "max_priority_fee_per_gas",
        "transaction_type",
        "max_fee_per_blob_gas",
        "receipt_cumulative_gas_used",
        "receipt_gas_used",
        "receipt_status",
        "receipt_effective_gas_price",
        "receipt_blob_gas_price",
        "receipt_blob_gas_used",
    )
    return _frame(columns, TRANSACTIONS_SCHEMA, ints).with_columns(
        pl.col("from_address", "to_address", "receipt_contract_address").str.to_lowercase()
    )


# --- logs and token transfers --------------------------------------------------------------------


def decode_logs(blocks: Sequence[Json], receipts: list[Json]) -> pl.DataFrame:
    """Every log of ``receipts`` (aligned with the blocks' transactions), in block order."""
    logs = [lg for r in receipts for lg in r["logs"]]
    if not logs:
        return pl.DataFrame(schema=LOGS_SCHEMA)
    tx_timestamps = (b["timestamp"] for b in blocks for _ in b["transactions"])
    timestamps = [ts for r, ts in zip(receipts, tx_timestamps, strict=False) for _ in r["logs"]]
    topics = [lg["topics"] for lg in logs]
    columns = {
        "log_index": [lg["logIndex"] for lg in logs],
        "transaction_hash": [lg["transactionHash"] for lg in logs],
        "transaction_index": [lg["transactionIndex"] for lg in logs],
        "address": [lg["address"] for lg in logs],
        "data": [lg["data"] for lg in logs],
        "topics": [",".join(t) for t in topics],
        "topic0": [t[0] if t else None for t in topics],
        "topic1": [t[1] if len(t) > 1 else None for t in topics],
        "topic2": [t[2] if len(t) > 2 else None for t in topics],
        "topic3": [t[3] if len(t) > 3 else None for t in topics],
        "block_number": [lg["blockNumber"] for lg in logs],
        "block_timestamp": timestamps,
        "block_hash": [lg["blockHash"] for lg in logs],
    }
    ints = ("log_index", "transaction_index", "block_number", "block_timestamp")
    return _frame(columns, LOGS_SCHEMA, ints).with_columns(pl.col("address").str.to_lowercase())


def renumber_log_indexes(logs: pl.DataFrame) -> tuple[pl.DataFrame, tuple[int, ...]]:
    """Logs with block-wide indexes, and the numbers of the blocks that needed them.

    A log's index is its position in its block (what geth, erigon and ``eth_getLogs`` say), and
    (block_number, log_index) is the table's key. Some nodes' receipts restart at 0 in every
    transaction, so a block with two log-emitting transactions repeats a key. Only blocks whose
    indexes repeat or go backwards are renumbered (0..n-1 in block order, which ``logs`` is in);
    a node's own increasing numbering is kept as it is.
    """
    if logs.is_empty():
        return logs, ()
    bad = (
        logs.lazy()
        .filter(pl.col("log_index").diff().over("block_number") <= 0)
        .select(pl.col("block_number").unique().sort())
        .collect()["block_number"]
    )
    if bad.is_empty():
        return logs, ()
    position = pl.int_range(pl.len(), dtype=logs.schema["log_index"]).over("block_number")
    fixed = logs.with_columns(
        log_index=pl.when(pl.col("block_number").is_in(bad.implode())).then(position).otherwise(pl.col("log_index"))
    )
    return fixed, tuple(bad.to_list())


def decode_token_transfers(logs: pl.DataFrame) -> pl.DataFrame:
    """ERC-20 and ERC-721 Transfer events out of a logs frame.

    ERC-20: topic0 = Transfer, 3 topics (from, to), the amount as the one 32-byte data word.
    ERC-721: the same topic0 with 4 topics (from, to, token id) and no data. Anything else with
    that topic0 (wrong data length, other topic counts: non-standard emitters) is skipped.
    """
    word = 66  # "0x" + 64 hex digits
    is_transfer = pl.col("topic0") == TRANSFER_TOPIC
    erc20 = (
        is_transfer
        & pl.col("topic2").is_not_null()
        & pl.col("topic3").is_null()
        & (pl.col("data").str.len_bytes() == word)
    )
    erc721 = is_transfer & pl.col("topic3").is_not_null() & (pl.col("data").str.len_bytes() <= 2)
    well_formed = (pl.col("topic1").str.len_bytes() == word) & (pl.col("topic2").str.len_bytes() == word)
    picked = (
        logs.lazy()
        .filter((erc20 | erc721) & well_formed)
        .select(
            token_address=pl.col("address"),
            from_address=pl.lit("0x") + pl.col("topic1").str.slice(26),
            to_address=pl.lit("0x") + pl.col("topic2").str.slice(26),
            last_word=pl.when(pl.col("topic3").is_null()).then(pl.col("data")).otherwise(pl.col("topic3")),
            transaction_hash=pl.col("transaction_hash"),
            log_index=pl.col("log_index"),
            block_number=pl.col("block_number"),
            block_timestamp=pl.col("block_timestamp"),
            block_hash=pl.col("block_hash"),
            token_standard=pl.when(pl.col("topic3").is_null())
            .then(pl.lit("erc20"))
            .otherwise(pl.lit("erc721")),
        )
        .collect()
    )
    value = pl.Series("value", _big(picked["last_word"].to_list()), dtype=pl.Utf8)
    picked = picked.with_columns(
        value,
        token_id=pl.when(pl.col("token_standard") == "erc721").then(value).otherwise(pl.lit(None, pl.Utf8)),
    )
    return picked.select([pl.col(name).cast(dtype) for name, dtype in TOKEN_TRANSFERS_SCHEMA.items()])


# --- contracts -----------------------------------------------------------------------------------


def decode_contracts(transactions: pl.DataFrame, codes: Mapping[str, str]) -> pl.DataFrame:
    """Contracts created by the range's transactions, with the runtime code fetched for them."""
    created = transactions.filter(pl.col("receipt_contract_address").is_not_null())
    if created.is_empty():
        return pl.DataFrame(schema=CONTRACTS_SCHEMA)
    lowered = {address.lower(): code for address, code in codes.items()}
    addresses = created["receipt_contract_address"].to_list()
    return created.select(
        address=pl.col("receipt_contract_address"),
        bytecode=pl.Series([lowered.get(a) for a in addresses], dtype=pl.Utf8),
        block_number=pl.col("block_number"),
        block_timestamp=pl.col("block_timestamp"),
        block_hash=pl.col("block_hash"),
        transaction_hash=pl.col("hash"),
        creator_address=pl.col("from_address"),
    ).unique("address", keep="first", maintain_order=True)


# --- the whole range -----------------------------------------------------------------------------


@dataclass
class RawRange:
    """Raw node answers for an inclusive block range (what the node client fetches), for ``decode_range``."""

    start: int
    end: int
    blocks: list[dict[str, Any]]
    receipts: dict[str, list[dict[str, Any]]]  # block hash -> receipts in transaction order
    codes: dict[str, str] = field(default_factory=dict)  # created contract address -> runtime code

    @property
    def transaction_count(self) -> int:
        return sum(len(b["transactions"]) for b in self.blocks)


def decode_range(
    blocks: Sequence[Json],
    receipts: Mapping[str, Sequence[Json]] | Sequence[Sequence[Json]],
    codes: Mapping[str, str] | None = None,
) -> ChainFrames:
    """Decode one range of node answers into the five tables.

    ``blocks``: eth_getBlockByNumber(n, true) results, in any order (sorted by number here).
    ``receipts``: per block, its receipts, either as {block hash: [receipt, ...]} or as a list
    aligned with ``blocks`` as given. ``codes``: {contract address: runtime code hex} for the
    contracts the range creates (missing ones get a null bytecode).
    """
    if not isinstance(receipts, Mapping):
        if len(receipts) != len(blocks):
            raise DecodeError(f"{len(blocks)} blocks but receipts for {len(receipts)}")
        receipts = {b["hash"]: r for b, r in zip(blocks, receipts, strict=True)}
    ordered = sorted(blocks, key=lambda b: int(b["number"], 16))
    if any(b["transactions"] and not isinstance(b["transactions"][0], dict) for b in ordered):
        raise DecodeError("blocks must carry full transaction objects (eth_getBlockByNumber(n, true))")
    aligned = _aligned_receipts(ordered, receipts)
    transactions = decode_transactions(ordered, aligned)
    logs, renumbered = renumber_log_indexes(decode_logs(ordered, aligned))
    return ChainFrames(
        blocks=decode_blocks(ordered),
        transactions=transactions,
        logs=logs,
        token_transfers=decode_token_transfers(logs),
        contracts=decode_contracts(transactions, codes or {}),
        renumbered_blocks=renumbered,
    )
