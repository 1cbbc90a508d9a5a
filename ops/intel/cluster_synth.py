"""Seeded synthetic chain history for the cluster heuristics: exchange customers, self-approvals, phishing.

Used by the incremental-clustering test and `bench/clusters.py`, where the devnet is too small to show
how cost grows with history. Each block range holds the same mix, so history of any length can be
grown and a new range of fixed size put on top.
"""

from __future__ import annotations

import random

import polars as pl

from ops.intel.clusters import APPROVAL_TOPIC, TRANSFER_COLUMNS

TOKENS = ["eth", "0x" + "7a" * 20, "0x" + "7b" * 20]


def _address(kind: int, n: int) -> str:
    return "0x" + f"{kind:02x}" + f"{n:038x}"


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def synthetic_range(seed: int, start: int, blocks: int, customers: int = 40, hot_wallets: int = 3,
                    salt: int | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(transfers in TRANSFER_COLUMNS, Approval logs) of `blocks` blocks from `start`.

    Addresses are unique per range except the exchange's hot wallets, the phishers (shared by all
    ranges) and wallets of the range before coming back, so a range also revisits (and re-clusters)
    old components without making one giant component. `salt` (default: `start`) seeds the draws:
    the same salt gives the same mix at any `start`."""
    rng = random.Random(seed * 1_000_003 + (start if salt is None else salt))
    hot = [_address(0xee, i) for i in range(hot_wallets)]
    previous = start // blocks - 1
    scammers = [_address(0x5c, i) for i in range(3)]
    transfers: list[dict] = []
    logs: list[dict] = []
    n = 0

    def move(token: str, a: str, b: str, value: int, block: int) -> None:
        nonlocal n
        n += 1
        transfers.append({"token_address": token, "from_address": a, "to_address": b, "value": str(value),
                          "transaction_hash": f"0x{start:032x}{n:032x}", "block_number": block})

    def approve(owner: str, spender: str, block: int) -> None:
        nonlocal n
        n += 1
        logs.append({"topic0": APPROVAL_TOPIC, "topic1": _topic(owner), "topic2": _topic(spender), "topic3": None,
                     "transaction_hash": f"0x{start:032x}{n:032x}", "address": TOKENS[1], "block_number": block})

    for c in range(customers):
        block = start + rng.randrange(blocks)
        wallets = [_address(0x0c, (start * 64 + c) * 4 + k) for k in range(rng.randint(1, 3))]
        if previous >= 0 and rng.random() < 0.2:  # a wallet of the range before comes back
            wallets.append(_address(0x0c, ((previous * blocks) * 64 + rng.randrange(customers)) * 4))
        deposit = _address(0xde, start * 64 + c)
        token = rng.choice(TOKENS)
        total = 0
        for w in wallets:
            value = rng.randint(10**3, 10**6)
            total += value
            move(token, w, deposit, value, block)
        move(token, deposit, rng.choice(hot), total, min(block + rng.randint(1, 5), start + blocks - 1))
        if len(wallets) > 1 and rng.random() < 0.3:
            approve(wallets[0], wallets[1], block)
        if rng.random() < 0.15:
            approve(wallets[0], rng.choice(scammers), block)  # phishing: many owners, links nobody
        for _ in range(rng.randint(0, 2)):  # noise between customers
            move(rng.choice(TOKENS), rng.choice(wallets), _address(0x0f, rng.randrange(10**6)),
                 rng.randint(1, 10**5), block)
    frame = pl.DataFrame(transfers, schema={c: (pl.Int64 if c == "block_number" else pl.Utf8) for c in TRANSFER_COLUMNS})
    approvals = pl.DataFrame(logs, schema={"topic0": pl.Utf8, "topic1": pl.Utf8, "topic2": pl.Utf8, "topic3": pl.Utf8,
                                            "transaction_hash": pl.Utf8, "address": pl.Utf8, "block_number": pl.Int64})
    return frame.sort("block_number"), approvals


def synthetic_history(seed: int, ranges: int, blocks: int = 100, customers: int = 40) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """`ranges` consecutive ranges of `blocks` blocks each."""
    return [synthetic_range(seed, i * blocks, blocks, customers) for i in range(ranges)]
