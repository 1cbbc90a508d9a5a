"""Benchmark: address features of one new chain range on top of 1x and 10x history, incremental against full.

Builds seeded synthetic history (transactions and token transfers among accounts and contracts that come
and go, contracts paid before their creation; `ops.fraud.feature_synth`), then times ONE new range of
the same draws over 1x and over 10x history: the incremental path as pure work (the touched addresses
found in the range, their rows looked up per address as the indexes give them, the same feature function
over those rows) and as the asset's whole per-run work in a SQLite warehouse (read the range by block,
the touched addresses' history by address, compute, write what changed: `feature_store.fold`); and the
old full path (`address_features` over every row) on both. Checks the incremental table equals the full
one. Last line: one JSON object; "ratio" is time(1x) / time(10x) of the incremental path in SQLite (1.0:
cost independent of history), "pure_ratio" the same without the warehouse, "baseline" the full path's
ratio (~0.1: linear in history).

Usage: python bench/address_features.py [--ranges 10] [--blocks 100] [--per-block 10] [--accounts 2000]
       [--seed S] [--no-warehouse]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import polars as pl
from rich.console import Console
from rich.table import Table

from bench.harness import best_on_copies
from ops.fraud import feature_delta as delta
from ops.fraud.feature_synth import concat, synthetic_range
from ops.fraud.features import address_features

REPEATS = 3


def _partitions(frame: pl.DataFrame, column: str) -> dict:
    return frame.partition_by(column, as_dict=True) if frame.height else {}


def pure_incremental(history: dict, new: dict) -> tuple[float, pl.DataFrame]:
    """Best seconds of the pure incremental work, rows looked up per address (what the indexes answer)."""
    every = concat([history, new])
    txs, tts, cs = every["chain_transactions"], every["token_transfers"], every["contracts"]
    index = {("tx", c): _partitions(txs, c) for c in ("from_address", "to_address")}
    index |= {("tt", c): _partitions(tts, c) for c in ("from_address", "to_address")}
    contract_index = _partitions(cs, "address")

    def rows(kind, frame, addresses, roles=("from_address", "to_address")):
        found = [index[(kind, r)][(a,)] for r in roles for a in addresses if (a,) in index[(kind, r)]]
        return pl.concat(found).unique() if found else frame.head(0)

    best, out = float("inf"), None
    for _ in range(REPEATS):
        start = time.perf_counter()
        touched = delta.range_addresses(new["chain_transactions"], new["token_transfers"])
        created = delta.new_contracts(new["chain_transactions"], new["contracts"])
        touched |= delta.senders(rows("tx", txs, created, ("to_address",)), rows("tt", tts, created, ("to_address",)))
        t_rows, tt_rows = rows("tx", txs, touched), rows("tt", tts, touched)
        known = [contract_index[(a,)] for a in delta.recipients(t_rows, tt_rows) if (a,) in contract_index]
        out = delta.recompute(touched, t_rows, tt_rows, pl.concat(known) if known else cs.head(0))
        best = min(best, time.perf_counter() - start)
    return best, out


def warehouse_fold(history: dict, new: dict, folder: Path) -> tuple[float, pl.DataFrame]:
    """Best seconds of one run's work in a SQLite warehouse (`feature_store.fold`), and the table after it."""
    from assets.fraud import feature_store
    from resources.tables import ADDRESS_FEATURES, CHAIN_TRANSACTIONS, CONTRACTS, TOKEN_TRANSFERS
    from resources.warehouse import Warehouse

    def conform(frame: pl.DataFrame, spec) -> pl.DataFrame:
        return frame.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in spec.schema.items()
                                   if c not in frame.columns]).select(list(spec.schema))

    path = folder / "base.sqlite"
    db = Warehouse(f"sqlite:///{path}")
    for frames in (history, new):
        for spec in (CHAIN_TRANSACTIONS, TOKEN_TRANSFERS, CONTRACTS):
            db.upsert(spec, conform(frames[spec.name], spec))
    h = history
    db.upsert(ADDRESS_FEATURES, address_features(h["chain_transactions"], h["token_transfers"], h["contracts"]))
    first = int(new["chain_transactions"]["block_number"].min())
    last = int(new["chain_transactions"]["block_number"].max())
    feature_store.save_cursor(db, first - 1)
    db.dispose()
    return best_on_copies(path, folder, REPEATS, lambda db: feature_store.fold(db, first, last, None),
                          warm=lambda db: db.read(ADDRESS_FEATURES.name, limit=1),
                          read=lambda db: db.read(ADDRESS_FEATURES.name))  # fmt: skip


def same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.select(delta.COMPARED).sort("address").equals(b.select(delta.COMPARED).sort("address"))


def run(history_ranges: int, args) -> dict:
    blocks = history_ranges * args.blocks
    shape = {"accounts": args.accounts, "contracts": args.contracts, "per_block": args.per_block, "seed": args.seed}
    history = synthetic_range(0, blocks, **shape)
    new = synthetic_range(blocks, args.blocks, **shape, salt=-1)  # the same draws at either start
    every = concat([history, new])
    full_s = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        full = address_features(every["chain_transactions"], every["token_transfers"], every["contracts"])
        full_s = min(full_s, time.perf_counter() - start)
    pure_s, rows = pure_incremental(history, new)
    equal = same(rows, full.filter(pl.col("address").is_in(rows["address"].implode())))
    warehouse_s = None
    if args.warehouse:
        with tempfile.TemporaryDirectory() as folder:
            warehouse_s, table = warehouse_fold(history, new, Path(folder))
        equal = equal and same(table, full)
    return {"history_rows": history["chain_transactions"].height + history["token_transfers"].height,
            "new_rows": new["chain_transactions"].height + new["token_transfers"].height,
            "addresses": full.height, "recomputed": rows.height, "pure_s": pure_s, "warehouse_s": warehouse_s,
            "full_s": full_s, "equal": equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=10, help="ranges of history at 1x (10x is ten times that)")
    parser.add_argument("--blocks", type=int, default=100, help="blocks per range")
    parser.add_argument("--per-block", type=int, default=10, help="transactions per block")
    parser.add_argument("--accounts", type=int, default=2000, help="accounts active at a time")
    parser.add_argument("--contracts", type=int, default=50, help="contracts paid at a time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-warehouse", dest="warehouse", action="store_false",
                        help="skip the SQLite warehouse timing (read by range and by address, compute, write)")
    args = parser.parse_args()
    console = Console(stderr=True)
    table = Table("history", "history rows", "new-range rows", "addresses", "recomputed", "incremental s",
                  "in SQLite s", "full s", "equal")
    results = {}
    for scale in (1, 10):
        with console.status(f"{scale}x history"):
            r = run(args.ranges * scale, args)
        results[scale] = r
        table.add_row(f"{scale}x", f"{r['history_rows']:,}", f"{r['new_rows']:,}", f"{r['addresses']:,}",
                      f"{r['recomputed']:,}", f"{r['pure_s']:.4f}",
                      "-" if r["warehouse_s"] is None else f"{r['warehouse_s']:.4f}", f"{r['full_s']:.4f}",
                      str(r["equal"]))
    Console(width=150).print(table)
    one, ten = results[1], results[10]
    key = "warehouse_s" if args.warehouse else "pure_s"
    print(json.dumps({
        "ratio": round(one[key] / ten[key], 3),
        "pure_ratio": round(one["pure_s"] / ten["pure_s"], 3),
        "baseline": round(one["full_s"] / ten["full_s"], 3),
        "equal": bool(one["equal"] and ten["equal"]),
        "incremental_1x_s": round(one[key], 4), "incremental_10x_s": round(ten[key], 4),
        "full_1x_s": round(one["full_s"], 4), "full_10x_s": round(ten["full_s"], 4),
    }))


if __name__ == "__main__":
    main()
