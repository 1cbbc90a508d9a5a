"""Seeded synthetic chain ranges for the incremental address-features tests and bench.

Transactions and token transfers among accounts and contracts that come and go (each block draws from a
window of `accounts` accounts and `contracts` contracts that moves with the block number, so a longer
history has more addresses, not busier ones), some contracts paid before the block that creates them
(their senders' contract features change when it comes), failed and self-directed transactions,
fractional ether values (float sums must not depend on the reading order).
"""

from __future__ import annotations

import random

import polars as pl

TX_SCHEMA = {"hash": pl.Utf8, "from_address": pl.Utf8, "to_address": pl.Utf8, "value": pl.Utf8,
             "block_timestamp": pl.Int64, "block_number": pl.Int64, "receipt_contract_address": pl.Utf8,
             "receipt_status": pl.Int64}
TRANSFER_SCHEMA = {"token_address": pl.Utf8, "from_address": pl.Utf8, "to_address": pl.Utf8, "value": pl.Utf8,
                   "transaction_hash": pl.Utf8, "log_index": pl.Int64, "block_number": pl.Int64,
                   "block_timestamp": pl.Int64}
CONTRACT_SCHEMA = {"address": pl.Utf8, "creator_address": pl.Utf8, "block_number": pl.Int64}


def account(i: int) -> str:
    return f"0x{i:040x}"


def contract(i: int) -> str:
    return "0xc" + f"{i:039x}"


def synthetic_range(start: int, blocks: int, *, accounts: int = 2000, contracts: int = 200, per_block: int = 10,
                    seed: int = 0, salt: int | None = None) -> dict[str, pl.DataFrame]:
    """Blocks start..start+blocks-1: `per_block` transactions and about half as many token transfers each.
    Contract i is created at block 10 * i + 5; it is paid from 10 * (i - 2) on (before it exists) until
    `contracts` creations later. Account i is active while block * per_block / 4 is within `accounts` of i.
    `salt`: draw as from that number instead of `start` (the same range, shifted, at any start)."""
    rng = random.Random(seed * 1_000_003 + (start if salt is None else salt))
    txs, tts, cs = [], [], []
    tokens = [contract(i) for i in range(5)]
    for block in range(start, start + blocks):
        ts = 1_600_000_000 + 12 * block
        base, newest = block * per_block // 4, block // 10 + 2  # the windows of accounts and contracts

        def someone(base: int = base) -> str:
            return account(base + rng.randrange(accounts))

        def some_contract(newest: int = newest) -> str:
            return contract(max(0, newest - rng.randrange(contracts)))
        for k in range(per_block):
            h = f"0x{block:032x}{k:032x}"
            frm = someone()
            r = rng.random()
            created = None
            if k == 0 and block % 10 == 5:
                to, created = None, contract(block // 10)
                cs.append({"address": created, "creator_address": frm, "block_number": block})
            elif r < 0.25:
                to = some_contract()
            elif r < 0.27:
                to = frm  # a self-transaction
            else:
                to = someone()
            value = str(rng.randrange(0, 5 * 10**18) // rng.choice((1, 7, 1000)))
            txs.append({"hash": h, "from_address": frm, "to_address": to, "value": value, "block_timestamp": ts,
                        "block_number": block, "receipt_contract_address": created,
                        "receipt_status": 0 if rng.random() < 0.05 else 1})
            if rng.random() < 0.5:
                to_t = some_contract() if rng.random() < 0.2 else someone()
                tts.append({"token_address": rng.choice(tokens), "from_address": frm, "to_address": to_t,
                            "value": str(rng.randrange(1, 10**21)), "transaction_hash": h, "log_index": k,
                            "block_number": block, "block_timestamp": ts})
    return {"chain_transactions": pl.DataFrame(txs, schema=TX_SCHEMA),
            "token_transfers": pl.DataFrame(tts, schema=TRANSFER_SCHEMA),
            "contracts": pl.DataFrame(cs, schema=CONTRACT_SCHEMA)}


def concat(parts: list[dict[str, pl.DataFrame]]) -> dict[str, pl.DataFrame]:
    return {name: pl.concat([p[name] for p in parts]) for name in parts[0]}
