"""Benchmark: growth of the sandwich and arbitrage detectors from 100k to 1M synthetic swaps.

Builds seeded synthetic swaps (many traders and pools, routers relaying, planted sandwiches and
2-3 hop arbitrage cycles, and a wash-trading block), times both detectors together on 10k, 100k
and 1M swaps (best of up to 3 runs within a budget), checks the planted patterns are found, and
prints as its last line one JSON object. The ratio is 10 / (time at 1M / time at 100k): 1.0 is
linear growth, more is better (goal: at least 0.8).

Usage: python bench/mev.py [--sizes 10000,100000,1000000] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from ops.intel.mev import detect_arbitrages, detect_sandwiches

BUDGET = 60.0
SWAPS_PER_BLOCK = 20


def _addr(prefix: int, i: np.ndarray) -> pl.Series:
    return pl.Series([f"0x{prefix:02x}{x:038x}" for x in i.tolist()])


def synthetic_swaps(n: int, seed: int = 1) -> tuple[pl.DataFrame, int, int]:
    """(swaps, planted sandwiches, planted arbitrages): ~1 % of swaps are planted patterns."""
    rng = np.random.default_rng(seed)
    n_pools, n_tokens, n_traders = max(50, n // 200), 200, max(1000, n // 10)
    pool = rng.integers(0, n_pools, n)
    t0, t1 = pool % n_tokens, (pool * 7 + 1) % n_tokens
    flip = rng.random(n) < 0.5
    trader = rng.integers(0, n_traders, n)
    via_router = rng.random(n) < 0.6
    block = np.arange(n) // SWAPS_PER_BLOCK
    frame = pl.DataFrame({
        "block_number": block, "transaction_index": np.arange(n) % SWAPS_PER_BLOCK,
        "transaction_hash": [f"0x{i:064x}" for i in range(n)], "log_index": np.zeros(n, dtype=np.int64),
        "pool": _addr(1, pool), "tx_from": _addr(2, trader),
        "token_in": _addr(3, np.where(flip, t0, t1)), "token_out": _addr(3, np.where(flip, t1, t0)),
        "amount_in": pl.Series(rng.integers(10**3, 10**9, n)).cast(pl.Utf8),
        "amount_out": pl.Series(rng.integers(10**3, 10**9, n)).cast(pl.Utf8),
    }).with_columns(
        pl.when(pl.Series(via_router)).then(pl.lit("0x" + "7a" * 20)).otherwise(pl.col("tx_from")).alias("sender"),
        pl.col("tx_from").alias("recipient"),
    )
    planted = _planted(n, rng)
    return pl.concat([frame, planted.select(frame.columns)]), n // 300, n // 300


def _planted(n: int, rng: np.random.Generator) -> pl.DataFrame:
    rows = []
    r = random.Random(int(rng.integers(1 << 30)))
    for k in range(n // 300):
        block, pool, bot = 10**9 + k, f"0x{0xee:02x}{k:038x}", f"0x{0xbb:02x}{k % 50:038x}"
        a, b = "0x" + "aa" * 20, "0x" + "cc" * 20
        legs = [(0, bot, a, 10**18, b, 5000), (1, f"0x{0xdd:02x}{k:038x}", a, 10**17, b, 400),
                (2, bot, b, 5000, a, 11 * 10**17)]
        for pos, who, tin, ain, tout, aout in legs:
            rows.append({"block_number": block, "transaction_index": pos, "transaction_hash": f"0xs{k}_{pos}",
                         "log_index": pos, "pool": pool, "tx_from": who, "sender": who, "recipient": who,
                         "token_in": tin, "token_out": tout, "amount_in": str(ain), "amount_out": str(aout)})
        hops = r.choice([2, 3])
        tokens = ["0x" + "aa" * 20, "0x" + "cc" * 20, "0x" + "dd" * 20][:hops] + ["0x" + "aa" * 20]
        amount = 10**18
        for h in range(hops):
            out = amount * 2 if h < hops - 1 else int(amount * 0.6)
            rows.append({"block_number": block, "transaction_index": 5, "transaction_hash": f"0xa{k}",
                         "log_index": 10 + h, "pool": f"0x{0xef:02x}{k * 3 + h:038x}", "tx_from": bot, "sender": bot,
                         "recipient": bot, "token_in": tokens[h], "token_out": tokens[h + 1],
                         "amount_in": str(amount), "amount_out": str(out)})
            amount = out
    return pl.DataFrame(rows)


def _time(swaps: pl.DataFrame) -> tuple[float, int, int]:
    best, found = float("inf"), (0, 0)
    spent = 0.0
    for _ in range(3):
        start = time.perf_counter()
        s, a = detect_sandwiches(swaps), detect_arbitrages(swaps)
        took = time.perf_counter() - start
        best, found, spent = min(best, took), (s.height, a.height), spent + took
        if spent > BUDGET:
            break
    return best, *found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    console = Console(stderr=True)
    table = Table("swaps", "seconds", "sandwiches (planted)", "arbitrages (planted)", "µs per swap")
    times: dict[int, float] = {}
    for n in sizes:
        with console.status(f"building and scanning {n:,} swaps"):
            swaps, planted_s, planted_a = synthetic_swaps(n, args.seed)
            took, s, a = _time(swaps)
        times[n] = took
        table.add_row(f"{swaps.height:,}", f"{took:.2f}", f"{s} ({planted_s})", f"{a} ({planted_a})",
                      f"{took / swaps.height * 1e6:.2f}")
        if s < planted_s or a < planted_a:
            console.print(f"[red]planted patterns missed at {n:,}")
    console.print(table)
    big, mid = max(sizes), sorted(sizes)[-2]
    growth = times[big] / times[mid]
    scale = big / mid
    print(json.dumps({
        "bench": "mev", "metric": f"linearity: {scale:g} / (time at {big:,} / time at {mid:,}); 1.0 is linear",
        "unit": "ratio", "ours": round(times[big], 3), "baseline": round(times[mid] * scale, 3),
        "baseline_name": f"linear extrapolation of the time at {mid:,} swaps", "ratio": round(scale / growth, 3),
    }))


if __name__ == "__main__":
    main()
