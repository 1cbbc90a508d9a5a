"""The incremental clusters' state in the warehouse: indexed reads by address, writes of what changed.

`ops.intel.cluster_delta.ClusterState` asks for the addresses it touches; this answers from the state
tables and the chain tables (by their from/to address indexes), so a run reads the new range and the
rows of the addresses it involves, never a whole table.
"""

from __future__ import annotations

import polars as pl

from ops.intel.cluster_delta import ClusterState
from ops.intel.clusters import CLUSTER_SCHEMA, LINK_SCHEMA, TRANSFER_COLUMNS, native_transfers
from resources.tables import (
    APPROVAL_SPENDERS,
    CHAIN_TRANSACTIONS,
    CLUSTER_CURSOR,
    CLUSTER_EXCLUDED,
    CLUSTER_INCOMING,
    CLUSTER_SWEEPS,
    CLUSTER_TARGETS,
    TOKEN_TRANSFERS,
    WALLET_CLUSTERS,
    WALLET_LINKS,
)
from resources.warehouse import Warehouse

STATE_TABLES = (CLUSTER_INCOMING, CLUSTER_SWEEPS, CLUSTER_TARGETS, APPROVAL_SPENDERS, CLUSTER_EXCLUDED,
                CLUSTER_CURSOR, WALLET_CLUSTERS, WALLET_LINKS)
CHUNK = 900  # addresses per IN (...) read


def read_by(db: Warehouse, spec, column: str, values: list, columns=None) -> pl.DataFrame:
    """Rows whose `column` is one of `values`, in chunks (an indexed IN read)."""
    db.ensure_table(spec)
    parts = [db.read(spec.name, {column: values[i:i + CHUNK]}, columns=columns) for i in range(0, len(values), CHUNK)]
    parts = [p for p in parts if p.height]
    schema = {c: spec.schema[c] for c in (columns or spec.schema)}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


class WarehouseLoader:
    """`cluster_delta.Loader` over the warehouse's state tables."""

    def __init__(self, db: Warehouse) -> None:
        self.db = db

    def load(self, addresses: list[str]) -> dict[str, pl.DataFrame]:
        db = self.db
        links = pl.concat([read_by(db, WALLET_LINKS, c, addresses) for c in ("address_a", "address_b", "evidence")])
        rows = read_by(db, WALLET_CLUSTERS, "address", addresses)
        ids = sorted(set(rows["cluster_id"].to_list()))
        members = read_by(db, WALLET_CLUSTERS, "cluster_id", ids) if ids else rows
        return {
            "incoming": read_by(db, CLUSTER_INCOMING, "address", addresses),
            "sweeps": read_by(db, CLUSTER_SWEEPS, "deposit", addresses),
            "targets": read_by(db, CLUSTER_TARGETS, "target", addresses),
            "spenders": read_by(db, APPROVAL_SPENDERS, "spender", addresses),
            "links": links.select(list(LINK_SCHEMA)).unique(),
            "clusters": pl.concat([rows, members]).select(list(CLUSTER_SCHEMA)),
        }

    def deps(self, target: str) -> set[str]:
        return set(read_by(self.db, CLUSTER_SWEEPS, "target", [target])["deposit"].to_list())


def history(db: Warehouse):
    """`cluster_delta.History`: token and native transfers by from/to address (both indexed)."""
    def read(column: str, addresses: list[str]) -> pl.DataFrame:
        parts = []
        if db.has_table(TOKEN_TRANSFERS.name):
            parts.append(read_by(db, TOKEN_TRANSFERS, column, addresses).select(TRANSFER_COLUMNS))
        if db.has_table(CHAIN_TRANSACTIONS.name):
            parts.append(native_transfers(read_by(db, CHAIN_TRANSACTIONS, column, addresses)))
        parts = [p for p in parts if p.height]
        return pl.concat(parts) if parts else pl.DataFrame(
            schema={c: (pl.Int64 if c == "block_number" else pl.Utf8) for c in TRANSFER_COLUMNS})
    return read


def load_state(db: Warehouse) -> tuple[ClusterState, int]:
    """(state that loads by address, last folded block or -1)."""
    for spec in STATE_TABLES:
        db.ensure_table(spec)
    cursor = db.read(CLUSTER_CURSOR.name, {"name": "wallet_clusters"})
    excluded = set(db.read(CLUSTER_EXCLUDED.name)["address"].to_list())
    state = ClusterState(loader=WarehouseLoader(db), excluded=excluded)
    return state, (int(cursor["folded_to"][0]) if cursor.height else -1)


def save_state(db: Warehouse, state: ClusterState, folded_to: int, clusters: pl.DataFrame) -> None:
    """Write what `state` changed (and the cursor); `clusters` are its rebuilt rows with behaviour."""
    c = state.changes()
    db.upsert(CLUSTER_INCOMING, c["incoming"])
    if c["sweeps_replaced"]:
        for i in range(0, len(c["sweeps_replaced"]), CHUNK):
            db.delete(CLUSTER_SWEEPS, deposit=c["sweeps_replaced"][i:i + CHUNK])
    db.upsert(CLUSTER_SWEEPS, c["sweeps"])
    db.upsert(CLUSTER_TARGETS, c["targets"])
    for i in range(0, len(c["spenders_replaced"]), CHUNK):
        db.delete(APPROVAL_SPENDERS, spender=c["spenders_replaced"][i:i + CHUNK])
    db.upsert(APPROVAL_SPENDERS, c["spenders"])
    for a, b, heuristic in c["links_dropped"]:
        db.delete(WALLET_LINKS, address_a=a, address_b=b, heuristic=heuristic)
    db.upsert(WALLET_LINKS, c["links"])
    for i in range(0, len(c["clusters_dropped"]), CHUNK):
        db.delete(WALLET_CLUSTERS, address=c["clusters_dropped"][i:i + CHUNK])
    db.upsert(WALLET_CLUSTERS, clusters)
    db.upsert(CLUSTER_EXCLUDED, pl.DataFrame({"address": c["excluded"]}, schema={"address": pl.Utf8}))
    db.upsert(CLUSTER_CURSOR, pl.DataFrame({"name": ["wallet_clusters"], "folded_to": [folded_to]}))


def reset_state(db: Warehouse) -> None:
    """Forget the state (a full recomputation folds the whole history again)."""
    for spec in STATE_TABLES:
        db.ensure_table(spec)
        db.replace_range(spec, pl.DataFrame(schema=spec.schema), spec.key[0], None, None)
