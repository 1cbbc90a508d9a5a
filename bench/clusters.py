"""Benchmark: clustering one new chain range on top of 1x and 10x history, incremental against full.

Builds seeded synthetic history (exchange customers paying deposit addresses that sweep to shared hot
wallets, self-approvals, phishers collecting many approvals, some long-lived wallets coming back),
then times folding ONE new range of the same size into the persisted state over 1x and over 10x
history (`ClusterState.add_range`, history read through an address index as the warehouse does), and
the old full recomputation (`wallet_clusters` over everything, HDBSCAN included) on both; and the
asset's whole per-run work in a SQLite warehouse (load state, fold, write back). Checks the
incremental clusters equal the full ones. Last line: one JSON object; "ratio" is
time(1x) / time(10x) of the incremental path (1.0: cost independent of history), "baseline" the same
ratio of the full path (~0.1: linear in history).

Usage: python bench/clusters.py [--ranges 20] [--blocks 100] [--customers 40] [--seed S] [--no-warehouse]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import polars as pl
from rich.console import Console
from rich.table import Table

from bench.harness import best_on_copies
from ops.intel.cluster_delta import ClusterState
from ops.intel.cluster_synth import synthetic_range
from ops.intel.clusters import wallet_clusters

REPEATS = 3


def warehouse_fold(old_t, old_l, new_t, new_l, folder: Path) -> float:
    """Best seconds of one run's work in a SQLite warehouse: load the state, fold the new range (reads by
    address), write what changed. History is in `token_transfers` with its address indexes."""

    from assets.intel.cluster_store import history, load_state, save_state
    from resources.tables import TOKEN_TRANSFERS
    from resources.warehouse import Warehouse

    def chain_rows(t: pl.DataFrame, offset: int) -> pl.DataFrame:
        return t.with_columns(pl.int_range(offset, offset + t.height, dtype=pl.Int64).alias("log_index")).with_columns(
            [pl.lit(None, dtype=d).alias(c) for c, d in TOKEN_TRANSFERS.schema.items() if c not in t.columns and c != "log_index"]
        ).select(list(TOKEN_TRANSFERS.schema))

    path = folder / "base.sqlite"
    db = Warehouse(f"sqlite:///{path}")
    db.upsert(TOKEN_TRANSFERS, chain_rows(old_t, 0))
    state, _ = load_state(db)
    rebuilt = state.add_range(old_t, old_l, history(db))
    save_state(db, state, int(old_t["block_number"].max()), state.rows(rebuilt))
    db.upsert(TOKEN_TRANSFERS, chain_rows(new_t, old_t.height))
    db.dispose()
    def fold(db) -> None:
        state, _ = load_state(db)
        rebuilt = state.add_range(new_t, new_l, history(db))
        save_state(db, state, int(new_t["block_number"].max()), state.rows(rebuilt))

    return best_on_copies(path, folder, REPEATS, fold, warm=lambda db: db.read(TOKEN_TRANSFERS.name, limit=1))[0]


def indexed_history(transfers: pl.DataFrame):
    """A History answered from per-address partitions (what the warehouse's address indexes give)."""
    parts = {c: transfers.partition_by(c, as_dict=True) for c in ("from_address", "to_address")}
    empty = transfers.head(0)

    def read(column: str, addresses: list[str]) -> pl.DataFrame:
        found = [parts[column][(a,)] for a in addresses if (a,) in parts[column]]
        return pl.concat(found) if found else empty
    return read


def run(history_ranges: int, args) -> dict:
    ranges = [synthetic_range(args.seed, i * args.blocks, args.blocks, args.customers) for i in range(history_ranges)]
    old_t, old_l = pl.concat([t for t, _ in ranges]), pl.concat([lg for _, lg in ranges])
    # the same new range (same draws) on either history
    new_t, new_l = synthetic_range(args.seed, history_ranges * args.blocks, args.blocks, args.customers, salt=-1)
    everything_t, everything_l = pl.concat([old_t, new_t]), pl.concat([old_l, new_l])
    state = ClusterState()
    state.add_range(old_t, old_l, indexed_history(old_t))  # history folded in one go (equal to range by range)
    history = indexed_history(everything_t)
    incremental, full = float("inf"), float("inf")
    for _ in range(REPEATS):
        s = copy.deepcopy(state)
        start = time.perf_counter()
        s.add_range(new_t, new_l, history)
        incremental = min(incremental, time.perf_counter() - start)
    for _ in range(REPEATS):
        start = time.perf_counter()
        clusters, _links = wallet_clusters(everything_t, everything_l)
        full = min(full, time.perf_counter() - start)
    cols = ["address", "cluster_id", "cluster_size", "heuristics", "labels"]
    equal = s.rows().select(cols).sort("address").equals(clusters.select(cols).sort("address"))
    in_warehouse = None
    if args.warehouse:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            in_warehouse = warehouse_fold(old_t, old_l, new_t, new_l, Path(folder))
    return {"warehouse_s": in_warehouse, "history_transfers": old_t.height, "new_transfers": new_t.height, "clustered": clusters.height,
            "incremental_s": incremental, "full_s": full, "equal": equal}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=20, help="ranges of history at 1x (10x is ten times that)")
    parser.add_argument("--blocks", type=int, default=100)
    parser.add_argument("--customers", type=int, default=40, help="exchange customers per range")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-warehouse", dest="warehouse", action="store_false",
                        help="skip the SQLite warehouse timing (load state, fold, write back)")
    args = parser.parse_args()
    console = Console(stderr=True)
    table = Table("history", "history transfers", "new-range transfers", "clustered addresses",
                  "incremental s", "in SQLite s", "full recomputation s", "equal")
    results = {}
    for scale in (1, 10):
        with console.status(f"{scale}x history"):
            r = run(args.ranges * scale, args)
        results[scale] = r
        table.add_row(f"{scale}x", f"{r['history_transfers']:,}", f"{r['new_transfers']:,}", f"{r['clustered']:,}",
                      f"{r['incremental_s']:.4f}", "-" if r["warehouse_s"] is None else f"{r['warehouse_s']:.4f}",
                      f"{r['full_s']:.4f}", str(r["equal"]))
    Console().print(table)
    one, ten = results[1], results[10]
    print(json.dumps({
        "bench": "clusters", "seed": args.seed, "history_transfers_1x": one["history_transfers"],
        "history_transfers_10x": ten["history_transfers"], "new_transfers": ten["new_transfers"],
        "incremental_1x_s": round(one["incremental_s"], 4), "incremental_10x_s": round(ten["incremental_s"], 4),
        **({"warehouse_1x_s": round(one["warehouse_s"], 4), "warehouse_10x_s": round(ten["warehouse_s"], 4),
            "warehouse_ratio": round(one["warehouse_s"] / ten["warehouse_s"], 3)} if args.warehouse else {}),
        "full_1x_s": round(one["full_s"], 4), "full_10x_s": round(ten["full_s"], 4),
        "equal": one["equal"] and ten["equal"],
        "ratio": round(one["incremental_s"] / ten["incremental_s"], 3),
        "baseline": round(one["full_s"] / ten["full_s"], 3),
    }))


if __name__ == "__main__":
    main()
