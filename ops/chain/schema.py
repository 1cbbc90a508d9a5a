"""The column contracts of the five chain tables (blocks, transactions, logs, token transfers, contracts).

Column names follow ethereum-etl's export schema wherever it has one, so analysts can reuse queries
written against ethereum-etl / BigQuery exports. Two representation choices differ from its JSON:

- Quantities that can exceed int64 (``value``, ``difficulty``, ``total_difficulty``, token
  ``value``/``token_id``) are decimal strings; every other quantity is Int64.
- Lists become text: a log's ``topics`` is comma-joined like ethereum-etl's CSV (plus ``topic0`` ..
  ``topic3`` columns for querying), a block's ``withdrawals`` is compact JSON text with
  ethereum-etl's field names, ``blob_versioned_hashes`` is comma-joined.

Keys are what makes re-indexing a range an idempotent upsert.
"""

from __future__ import annotations

import polars as pl

#: One row per block. Key: number.
BLOCKS_SCHEMA: dict[str, pl.DataType] = {
    "number": pl.Int64,
    "hash": pl.Utf8,
    "parent_hash": pl.Utf8,
    "nonce": pl.Utf8,
    "sha3_uncles": pl.Utf8,
    "logs_bloom": pl.Utf8,
    "transactions_root": pl.Utf8,
    "state_root": pl.Utf8,
    "receipts_root": pl.Utf8,
    "miner": pl.Utf8,
    "difficulty": pl.Utf8,  # decimal string
    "total_difficulty": pl.Utf8,  # decimal string; null on nodes that dropped it after the merge
    "size": pl.Int64,
    "extra_data": pl.Utf8,
    "gas_limit": pl.Int64,
    "gas_used": pl.Int64,
    "timestamp": pl.Int64,
    "transaction_count": pl.Int64,
    "base_fee_per_gas": pl.Int64,  # null before London
    "withdrawals_root": pl.Utf8,  # null before Shanghai
    "withdrawals": pl.Utf8,  # JSON text: [{"index", "validator_index", "address", "amount"}], null before Shanghai
    "blob_gas_used": pl.Int64,  # null before Cancun
    "excess_blob_gas": pl.Int64,  # null before Cancun
}
BLOCKS_KEY = ("number",)

#: One row per transaction, with its receipt's fields (``receipt_*``). Key: hash.
TRANSACTIONS_SCHEMA: dict[str, pl.DataType] = {
    "hash": pl.Utf8,
    "nonce": pl.Int64,
    "transaction_index": pl.Int64,
    "from_address": pl.Utf8,
    "to_address": pl.Utf8,  # null for a contract creation
    "value": pl.Utf8,  # decimal string (wei)
    "gas": pl.Int64,
    "gas_price": pl.Int64,
    "input": pl.Utf8,
    "block_timestamp": pl.Int64,
    "block_number": pl.Int64,
    "block_hash": pl.Utf8,
    "max_fee_per_gas": pl.Int64,  # null for legacy / access-list transactions
    "max_priority_fee_per_gas": pl.Int64,
    "transaction_type": pl.Int64,
    "max_fee_per_blob_gas": pl.Int64,  # type-3 only
    "blob_versioned_hashes": pl.Utf8,  # comma-joined, type-3 only
    "receipt_cumulative_gas_used": pl.Int64,
    "receipt_gas_used": pl.Int64,
    "receipt_contract_address": pl.Utf8,
    "receipt_root": pl.Utf8,  # pre-Byzantium state root
    "receipt_status": pl.Int64,  # 1 success, 0 failure; null pre-Byzantium
    "receipt_effective_gas_price": pl.Int64,
    "receipt_blob_gas_price": pl.Int64,
    "receipt_blob_gas_used": pl.Int64,
}
TRANSACTIONS_KEY = ("hash",)

#: One row per event log. Key: (block_number, log_index): a log index is unique within a block, and
#: keying by block means re-indexing a block after a reorg overwrites the orphaned rows in place.
LOGS_SCHEMA: dict[str, pl.DataType] = {
    "log_index": pl.Int64,
    "transaction_hash": pl.Utf8,
    "transaction_index": pl.Int64,
    "address": pl.Utf8,
    "data": pl.Utf8,
    "topics": pl.Utf8,  # comma-joined, as in ethereum-etl's CSV ("" when the log has none)
    "topic0": pl.Utf8,
    "topic1": pl.Utf8,
    "topic2": pl.Utf8,
    "topic3": pl.Utf8,
    "block_number": pl.Int64,
    "block_timestamp": pl.Int64,
    "block_hash": pl.Utf8,
}
LOGS_KEY = ("block_number", "log_index")

#: One row per ERC-20 or ERC-721 Transfer event. Key: (transaction_hash, log_index).
#: ``value`` holds the Transfer's last word as ethereum-etl does: the amount for ERC-20, the token
#: id for ERC-721 (where ``token_id`` repeats it, so queries need not know that convention).
TOKEN_TRANSFERS_SCHEMA: dict[str, pl.DataType] = {
    "token_address": pl.Utf8,
    "from_address": pl.Utf8,
    "to_address": pl.Utf8,
    "value": pl.Utf8,  # decimal string
    "transaction_hash": pl.Utf8,
    "log_index": pl.Int64,
    "block_number": pl.Int64,
    "block_timestamp": pl.Int64,
    "block_hash": pl.Utf8,
    "token_standard": pl.Utf8,  # "erc20" | "erc721"
    "token_id": pl.Utf8,  # decimal string, ERC-721 only
}
TOKEN_TRANSFERS_KEY = ("transaction_hash", "log_index")

#: One row per contract created by a transaction (the receipt's contractAddress), with its runtime
#: code read at the creating block. Contracts created by other contracts need traces and are not here.
CONTRACTS_SCHEMA: dict[str, pl.DataType] = {
    "address": pl.Utf8,
    "bytecode": pl.Utf8,  # runtime code, "0x" when it self-destructed in its creating block
    "block_number": pl.Int64,
    "block_timestamp": pl.Int64,
    "block_hash": pl.Utf8,
    "transaction_hash": pl.Utf8,
    "creator_address": pl.Utf8,
}
CONTRACTS_KEY = ("address",)

#: The topic0 of ERC-20 and ERC-721 ``Transfer(address,address,uint256)``.
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

TABLE_SCHEMAS: dict[str, tuple[dict[str, pl.DataType], tuple[str, ...]]] = {
    "blocks": (BLOCKS_SCHEMA, BLOCKS_KEY),
    "transactions": (TRANSACTIONS_SCHEMA, TRANSACTIONS_KEY),
    "logs": (LOGS_SCHEMA, LOGS_KEY),
    "token_transfers": (TOKEN_TRANSFERS_SCHEMA, TOKEN_TRANSFERS_KEY),
    "contracts": (CONTRACTS_SCHEMA, CONTRACTS_KEY),
}
