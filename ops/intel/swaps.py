"""DEX swaps from event logs: Uniswap V2 and V3 ``Swap`` events as token in/out with amounts.

A Swap log names amounts by pool side (token0/token1), not by token, so decoding needs each pool's
two tokens. ``pool_tokens_from_transfers`` finds them without a node: the tokens a swap moves into
and out of the pool show up as Transfer logs of the same transaction whose values equal the Swap's
amounts. Amounts are decimal strings (they exceed int64); detectors compare them as floats.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

V2_SWAP_TOPIC = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
V3_SWAP_TOPIC = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"
SWAP_TOPICS = {V2_SWAP_TOPIC: "uniswap_v2", V3_SWAP_TOPIC: "uniswap_v3"}

#: One row per decoded swap (the `dex_swaps` table, and the input of the MEV detectors).
#: Key: (transaction_hash, log_index). `trace_address` orders swaps taken from traces instead of logs.
SWAP_SCHEMA: dict[str, pl.DataType] = {
    "block_number": pl.Int64,
    "transaction_index": pl.Int64,
    "transaction_hash": pl.Utf8,
    "log_index": pl.Int64,
    "trace_address": pl.Utf8,
    "protocol": pl.Utf8,
    "pool": pl.Utf8,
    "sender": pl.Utf8,
    "recipient": pl.Utf8,
    "tx_from": pl.Utf8,
    "token_in": pl.Utf8,
    "token_out": pl.Utf8,
    "amount_in": pl.Utf8,  # decimal string, base units of token_in
    "amount_out": pl.Utf8,
}
SWAP_KEY = ("transaction_hash", "log_index")

#: Pool -> its two tokens, looked up once and cached (the `dex_pools` table). Key: pool.
POOL_SCHEMA: dict[str, pl.DataType] = {
    "pool": pl.Utf8,
    "protocol": pl.Utf8,
    "token0": pl.Utf8,
    "token1": pl.Utf8,
    "source": pl.Utf8,  # "transfers" (derived from the logs) | "rpc" (token0()/token1() calls)
}
POOL_KEY = ("pool",)

MASK_256 = (1 << 256) - 1


def _word(data: str, i: int) -> int:
    return int(data[2 + 64 * i : 2 + 64 * (i + 1)] or "0", 16)


def _signed(value: int) -> int:
    return value - (1 << 256) if value >> 255 else value


def _address(topic: str | None) -> str | None:
    return None if not topic else "0x" + topic[-40:].lower()


def side_amounts(protocol: str, data: str) -> tuple[int, int] | None:
    """Net amounts into the pool of (token0, token1); positive in, negative out. None if undecodable."""
    try:
        if protocol == "uniswap_v2":
            in0, in1, out0, out1 = (_word(data, i) for i in range(4))
            return in0 - out0, in1 - out1
        return _signed(_word(data, 0)), _signed(_word(data, 1))
    except ValueError:
        return None


def swap_logs(logs: pl.DataFrame) -> pl.DataFrame:
    """The V2/V3 Swap logs of a logs frame (ethereum-etl columns, topic0..topic2 split out)."""
    return logs.filter(pl.col("topic0").is_in(list(SWAP_TOPICS))).sort(["block_number", "log_index"])


def pool_tokens_from_transfers(swaps: pl.DataFrame, transfers: pl.DataFrame) -> dict[str, tuple[str, str]]:
    """(token0, token1) of each pool, from Transfer logs of the swaps' transactions.

    Each swap votes: a token moved to or from the pool in the same transaction with a value equal to
    the swap's token0 (token1) amount is a token0 (token1) candidate. A pool's token0 is its most
    voted token0 candidate, token1 the most voted other one. The pool's own LP token is ignored.
    """
    moves: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
    pools = set(swaps["address"].str.to_lowercase().to_list())
    for token, sender, receiver, value, tx in transfers.select(
        "token_address", "from_address", "to_address", "value", "transaction_hash"
    ).iter_rows():
        for side in (sender, receiver):
            if side in pools and token != side:
                moves[(tx, side)].append((token, int(value)))
    votes: dict[str, tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    for pool, topic0, data, tx in swaps.select("address", "topic0", "data", "transaction_hash").iter_rows():
        pool = pool.lower()
        amounts = side_amounts(SWAP_TOPICS[topic0], data)
        if amounts is None:
            continue
        for side, amount in enumerate(amounts):
            for token, value in moves.get((tx, pool), ()):
                if amount and value == abs(amount):
                    votes[pool][side][token] += 1
    out: dict[str, tuple[str, str]] = {}
    for pool, (t0, t1) in votes.items():
        if not t0 or not t1:
            continue
        token0 = t0.most_common(1)[0][0]
        others = [(n, tok) for tok, n in t1.items() if tok != token0]
        if others:
            out[pool] = (token0, max(others)[1])
    # Fee-on-transfer tokens move less than the Swap says: fall back to the pool's only two tokens,
    # ordered as both Uniswap versions order them (token0 < token1).
    seen: dict[str, set[str]] = defaultdict(set)
    for (_tx, pool), tokens in moves.items():
        seen[pool].update(token for token, _value in tokens)
    for pool, tokens in seen.items():
        if pool not in out and len(tokens) == 2:
            low, high = sorted(tokens)
            out[pool] = (low, high)
    return out


def decode_swaps(
    logs: pl.DataFrame,
    pool_tokens: Mapping[str, tuple[str, str]],
    tx_from: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """SWAP_SCHEMA rows for the Swap logs whose pool tokens are known (others are left out)."""
    rows: list[dict[str, Any]] = []
    tx_from = tx_from or {}
    for row in swap_logs(logs).iter_rows(named=True):
        pool = row["address"].lower()
        tokens = pool_tokens.get(pool)
        protocol = SWAP_TOPICS[row["topic0"]]
        amounts = side_amounts(protocol, row["data"])
        if tokens is None or amounts is None:
            continue
        net0, net1 = amounts
        if net0 > 0 > net1:
            token_in, amount_in, token_out, amount_out = tokens[0], net0, tokens[1], -net1
        elif net1 > 0 > net0:
            token_in, amount_in, token_out, amount_out = tokens[1], net1, tokens[0], -net0
        else:
            continue  # nothing swapped (or a malformed event)
        rows.append(
            {
                "block_number": row["block_number"],
                "transaction_index": row["transaction_index"],
                "transaction_hash": row["transaction_hash"],
                "log_index": row["log_index"],
                "trace_address": None,
                "protocol": protocol,
                "pool": pool,
                "sender": _address(row["topic1"]),
                "recipient": _address(row["topic2"]),
                "tx_from": tx_from.get(row["transaction_hash"]),
                "token_in": token_in,
                "token_out": token_out,
                "amount_in": str(amount_in),
                "amount_out": str(amount_out),
            }
        )
    return pl.DataFrame(rows, schema=SWAP_SCHEMA)


def pools_frame(pool_tokens: Mapping[str, tuple[str, str]], protocols: Mapping[str, str], source: str) -> pl.DataFrame:
    rows = [
        {"pool": p, "protocol": protocols.get(p), "token0": t[0], "token1": t[1], "source": source}
        for p, t in pool_tokens.items()
    ]
    return pl.DataFrame(rows, schema=POOL_SCHEMA)


def pool_protocols(logs: pl.DataFrame) -> dict[str, str]:
    swaps = swap_logs(logs)
    return {a.lower(): SWAP_TOPICS[t] for a, t in swaps.select("address", "topic0").iter_rows()}


def _trace_key(trace: str | None) -> tuple[int, ...]:
    if not trace:
        return ()
    return tuple(int(p) for p in str(trace).replace(" ", "").split(",") if p != "")


def normalize_swaps(swaps: pl.DataFrame) -> pl.DataFrame:
    """A swaps frame from anywhere in SWAP_SCHEMA: addresses lower-case, amounts as text, an order.

    Missing optional columns become nulls; a swap without a log index gets one from its trace
    address (swaps taken from traces), so the detectors can always order swaps inside a transaction.
    """
    required = ["block_number", "transaction_index", "transaction_hash", "pool", "token_in", "token_out",
                "amount_in", "amount_out"]
    missing = [c for c in required if c not in swaps.columns]
    if missing:
        raise ValueError(f"swaps are missing column(s): {', '.join(missing)}")
    if "log_index" not in swaps.columns and "trace_address" not in swaps.columns:
        raise ValueError("swaps need a log_index or a trace_address column to order them within a transaction")
    frame = swaps.with_columns(
        [pl.lit(None, dtype=dtype).alias(c) for c, dtype in SWAP_SCHEMA.items() if c not in swaps.columns]
    )
    frame = frame.with_columns(
        pl.col("amount_in").cast(pl.Utf8),
        pl.col("amount_out").cast(pl.Utf8),
        pl.col("trace_address").cast(pl.Utf8),
        *[pl.col(c).cast(pl.Utf8).str.to_lowercase() for c in ("pool", "sender", "recipient", "tx_from",
                                                              "token_in", "token_out", "transaction_hash")],
    )
    if frame["log_index"].null_count():
        order = sorted(range(frame.height), key=lambda i: (
            frame["transaction_hash"][i] or "", _trace_key(frame["trace_address"][i])))
        ranks = [0] * frame.height
        for rank, i in enumerate(order):
            ranks[i] = rank
        frame = frame.with_columns(
            pl.when(pl.col("log_index").is_null())
            .then(pl.Series(ranks, dtype=pl.Int64))
            .otherwise(pl.col("log_index"))
            .alias("log_index")
        )
    return frame.select([pl.col(c).cast(d) for c, d in SWAP_SCHEMA.items()])


def swaps_from_rows(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Swaps given as dicts (JSON) in SWAP_SCHEMA columns, normalized."""
    fixed = []
    for row in rows:
        row = dict(row)
        trace = row.get("trace_address")
        if isinstance(trace, list | tuple):  # traces name a call by its path, e.g. [0, 1]
            row["trace_address"] = ",".join(str(p) for p in trace)
        fixed.append(row)
    frame = pl.DataFrame(fixed, infer_schema_length=None)
    for column in ("amount_in", "amount_out", "trace_address"):
        if column in frame.columns:
            frame = frame.with_columns(pl.col(column).cast(pl.Utf8))
    return normalize_swaps(frame)
