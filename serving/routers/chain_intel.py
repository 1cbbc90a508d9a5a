"""Chain intelligence reads: a contract's analysis, MEV in a block span, what is known about an address.

Everything is read from the tables the `chain_intel` assets publish, through the gateway's cached
read keyed by those tables' versions. Addresses are validated before anything is read (422 naming
the field); an address nothing is known about is a 404 saying so.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import partial
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, create_model

from ops.intel.clusters import cluster_summaries
from ops.intel.mev import ARBITRAGE_SCHEMA, SANDWICH_SCHEMA
from resources.tables import (
    CHAIN_TRANSACTIONS,
    CONTRACT_ANALYSIS,
    MEV_ARBITRAGES,
    MEV_SANDWICHES,
    WALLET_CLUSTERS,
    WALLET_LINKS,
)
from resources.warehouse import Warehouse
from serving.cached_reads import cached_read
from serving.deps import SettingsDep, TableGuard, TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES
from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING, PAGE_SIZE_NOTE, page_size

# Mounted inside the chain router (serving/routers/chain.py), which carries the /api/v1/chain prefix.
router = APIRouter(tags=["chain intelligence"], responses=ERROR_RESPONSES)

ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"
Address = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="Address, 0x + 40 hex digits (any case).")]
#: Widest block span one /mev answer covers; a longer span is answered from its start, in parts.
MAX_MEV_SPAN = 100_000
MAX_CLUSTER_MEMBERS = 100
#: Clusters per /clusters page when the client names none.
DEFAULT_CLUSTER_PAGE = 50


class MevKind(StrEnum):
    SANDWICH = "sandwich"
    ARBITRAGE = "arbitrage"
    ALL = "all"


def _row_model(name: str, schema: dict[str, pl.DataType], lists: dict[str, type]) -> type[BaseModel]:
    """A row of an MEV table as answered: its columns, the comma-joined ones as lists."""
    python = {pl.Int64: int, pl.Float64: float, pl.Boolean: bool}
    fields: dict[str, Any] = {
        col: ((list[lists[col]] if col in lists else python.get(dtype, str)) | None, None)  # type: ignore[valid-type]
        for col, dtype in schema.items()
    }
    return create_model(name, **fields)


Sandwich = _row_model("Sandwich", SANDWICH_SCHEMA, {"victim_transaction_hashes": str})
Arbitrage = _row_model("Arbitrage", ARBITRAGE_SCHEMA, {"pools": str, "tokens": str, "log_indexes": int})


class MevSpan(BaseModel):
    """MEV found in [from_block, to_block], oldest block first.

    A span longer than MAX_MEV_SPAN blocks is answered in parts: this answer covers its first
    MAX_MEV_SPAN blocks (`to_block` is the last block covered) and `next_from_block` is where the
    rest begins; ask again from there with the same to_block. A reversed span (to_block below
    from_block) holds no block: empty lists, `to_block` as asked.
    """

    from_block: int = Field(description="First block covered (as asked).")
    to_block: int = Field(
        description=f"Last block covered: as asked, or from_block + {MAX_MEV_SPAN - 1} when the span asked "
        "was longer; below from_block when the span asked was reversed (empty)."
    )
    next_from_block: int | None = Field(
        description="Where the rest of a longer span begins (ask again from there with the same to_block); "
        "null when the span asked was answered whole."
    )
    kind: MevKind
    sandwiches: list[Sandwich] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Sandwiches in the span (kind sandwich or all; absent otherwise)."
    )
    arbitrages: list[Arbitrage] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Arbitrages in the span (kind arbitrage or all; absent otherwise)."
    )


def _contract(warehouse: Warehouse, tables: TableGuard, address: str) -> dict[str, Any]:
    tables.require(CONTRACT_ANALYSIS.name)
    frame = warehouse.read(CONTRACT_ANALYSIS.name, {"address": address}, limit=1)
    if frame.is_empty():
        raise HTTPException(status_code=404, detail=f"contract {address} has not been analysed (not indexed, or not a contract)")
    row = _decoded(frame.to_dicts()[0])
    if row["implementation"]:
        impl = warehouse.read(CONTRACT_ANALYSIS.name, {"address": row["implementation"]}, limit=1)
        row["implementation_analysis"] = _decoded(impl.to_dicts()[0]) if impl.height else None
    return row


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    row["selectors"] = json.loads(row["selectors"] or "[]")
    row["interfaces"] = [i for i in (row["interfaces"] or "").split(",") if i]
    row["risk_reasons"] = [r for r in (row["risk_reasons"] or "").split(",") if r]
    return row


def mev_span(from_block: int, to_block: int) -> tuple[int, int | None]:
    """(last block one answer covers, where the rest begins or None) for the span asked."""
    if to_block - from_block + 1 > MAX_MEV_SPAN:
        last = from_block + MAX_MEV_SPAN - 1
        return last, last + 1
    return to_block, None


def _mev(
    warehouse: Warehouse, tables: TableGuard, start: int, end: int, next_from: int | None, kind: MevKind
) -> dict[str, Any]:
    out: dict[str, Any] = {"from_block": start, "to_block": end, "next_from_block": next_from, "kind": kind.value}
    wanted = {MevKind.SANDWICH: [MEV_SANDWICHES], MevKind.ARBITRAGE: [MEV_ARBITRAGES]}.get(
        kind, [MEV_SANDWICHES, MEV_ARBITRAGES]
    )
    for spec in wanted:
        tables.require(spec.name)
        key = "sandwiches" if spec is MEV_SANDWICHES else "arbitrages"
        if end < start:  # a reversed span holds no block
            out[key] = []
            continue
        frame = warehouse.read(spec.name, ranges={"block_number": (start, end + 1)}, order_by=["block_number"])
        rows = frame.to_dicts()
        if spec is MEV_SANDWICHES:
            for row in rows:
                row["victim_transaction_hashes"] = [h for h in row["victim_transaction_hashes"].split(",") if h]
        else:
            for row in rows:
                for column in ("pools", "tokens"):
                    row[column] = row[column].split(",")
                row["log_indexes"] = [int(i) for i in row["log_indexes"].split(",")]
        out[key] = rows
    return out


def _address(warehouse: Warehouse, address: str) -> dict[str, Any]:
    found = False
    out: dict[str, Any] = {
        "address": address,
        "cluster": None,
        "labels": [],
        "mev": {"sandwich_attacks": 0, "sandwiched": 0, "arbitrages": 0, "roles": []},
        "contract": None,
        "links": {"transfers": f"/api/v1/chain/address/{address}/transfers"},
    }
    if warehouse.has_table(WALLET_CLUSTERS.name):
        mine = warehouse.read(WALLET_CLUSTERS.name, {"address": address}, limit=1)
        if mine.height:
            found = True
            row = mine.to_dicts()[0]
            members = warehouse.read(WALLET_CLUSTERS.name, {"cluster_id": row["cluster_id"]}, columns=["address"],
                                     order_by=["address"], limit=MAX_CLUSTER_MEMBERS)
            links = pl.DataFrame()
            if warehouse.has_table(WALLET_LINKS.name):
                links = pl.concat([warehouse.read(WALLET_LINKS.name, {side: address}) for side in ("address_a", "address_b")])
            out["cluster"] = {
                "cluster_id": row["cluster_id"],
                "size": row["cluster_size"],
                "members": members["address"].to_list(),
                "heuristics": [h for h in (row["heuristics"] or "").split(",") if h],
                "behaviour_cluster": row["behaviour_cluster"],
                "outlier_score": row["outlier_score"],
                "evidence": links.to_dicts() if links.height else [],
            }
            out["labels"] += [label for label in (row["labels"] or "").split(",") if label]
    mev = out["mev"]
    if warehouse.has_table(MEV_SANDWICHES.name):
        mev["sandwich_attacks"] = warehouse.count(MEV_SANDWICHES.name, {"attacker": address})
        if warehouse.has_table(CHAIN_TRANSACTIONS.name):
            sent = set(warehouse.read(CHAIN_TRANSACTIONS.name, {"from_address": address}, columns=["hash"])["hash"].to_list())
            if sent:
                victims = warehouse.read(MEV_SANDWICHES.name, columns=["victim_transaction_hashes"])
                mev["sandwiched"] = sum(
                    bool(sent & set(v.split(","))) for v in victims["victim_transaction_hashes"].to_list()
                )
                found = True
    if warehouse.has_table(MEV_ARBITRAGES.name):
        mev["arbitrages"] = warehouse.count(MEV_ARBITRAGES.name, {"actor": address})
    mev["roles"] = [role for role, n in (("sandwich_attacker", mev["sandwich_attacks"]), ("sandwich_victim",
                    mev["sandwiched"]), ("arbitrageur", mev["arbitrages"])) if n]
    if warehouse.has_table(CONTRACT_ANALYSIS.name):
        contract = warehouse.read(CONTRACT_ANALYSIS.name, {"address": address}, limit=1)
        if contract.height:
            row = _decoded(contract.to_dicts()[0])
            out["contract"] = {k: row[k] for k in ("proxy_kind", "implementation", "interfaces", "risky", "risk_reasons")}
            out["labels"].append("contract")
            if row["proxy_kind"]:
                out["labels"].append("proxy")
            if row["risky"]:
                out["labels"].append("risky_contract")
    out["labels"] += mev["roles"]
    if not (found or any(mev[k] for k in ("sandwich_attacks", "arbitrages")) or out["contract"]):
        raise HTTPException(status_code=404, detail=f"nothing is known about address {address} in the indexed chain data")
    return out


@router.get("/contract/{address}", summary="Analysis of a contract: proxy, selectors, flags, interfaces, compiler")
async def get_contract(request: Request, address: Address, warehouse: WarehouseDep, tables: TablesDep):
    address = address.lower()
    load = partial(_contract, warehouse, tables, address)
    return await cached_read(request, "chain", [CONTRACT_ANALYSIS.name], {"address": address}, load)


@router.get(
    "/mev",
    response_model=MevSpan,
    summary="Sandwiches and arbitrages found in a block span",
    description=f"MEV found in blocks from_block..to_block (both inclusive), oldest block first. One answer "
    f"covers at most {MAX_MEV_SPAN:,} blocks: for a longer span it covers the first {MAX_MEV_SPAN:,} "
    "(`to_block` in the answer is the last block covered) and `next_from_block` says where to continue "
    "(null when the span was answered whole). A reversed span (to_block below from_block) is empty: "
    "200 with empty lists.",
)
async def get_mev(
    request: Request,
    warehouse: WarehouseDep,
    tables: TablesDep,
    from_block: Annotated[int, Query(ge=0, le=MAX_QUERY_INT, description="First block (inclusive).")],
    to_block: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_QUERY_INT,
            description=f"Last block (inclusive); the answer covers at most {MAX_MEV_SPAN:,} blocks from "
            "from_block, and none when to_block is below from_block.",
        ),
    ],
    kind: Annotated[MevKind, Query(description="sandwich, arbitrage or all.")] = MevKind.ALL,
):
    last, next_from = mev_span(from_block, to_block)
    params = {"from_block": from_block, "to_block": last, "next_from_block": next_from, "kind": kind.value}
    load = partial(_mev, warehouse, tables, from_block, last, next_from, kind)
    return await cached_read(request, "chain", [MEV_SANDWICHES.name, MEV_ARBITRAGES.name], params, load)


@router.get("/address/{address}", summary="What is known about an address: cluster, labels, MEV role, links")
async def get_address(request: Request, address: Address, warehouse: WarehouseDep):
    address = address.lower()
    tables_read = [WALLET_CLUSTERS.name, WALLET_LINKS.name, MEV_SANDWICHES.name, MEV_ARBITRAGES.name,
                   CONTRACT_ANALYSIS.name, CHAIN_TRANSACTIONS.name]
    load = partial(_address, warehouse, address)
    return await cached_read(request, "chain", tables_read, {"address": address}, load)


def _clusters(warehouse: Warehouse, tables: TableGuard, min_size: int, limit: int, offset: int) -> dict[str, Any]:
    tables.require(WALLET_CLUSTERS.name)
    rows = warehouse.read(WALLET_CLUSTERS.name, columns=["address", "cluster_id", "heuristics", "labels"])
    summaries = cluster_summaries(rows).filter(pl.col("size") >= min_size)
    page = summaries.slice(offset, limit)
    end = offset + page.height
    return {
        "clusters": page.to_dicts(),
        "total": summaries.height,
        "limit": limit,
        "offset": offset,
        "next_offset": end if page.height and end < summaries.height else None,
    }


@router.get("/clusters", summary="Wallet clusters, largest first: size, heuristics, labels, a sample of members")
async def get_clusters(
    request: Request,
    warehouse: WarehouseDep,
    tables: TablesDep,
    settings: SettingsDep,
    min_size: Annotated[int, Query(ge=1, le=MAX_QUERY_INT, description="Smallest cluster listed.")] = 2,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=PAGE_SIZE_CEILING,
            description=f"Clusters per page; {DEFAULT_CLUSTER_PAGE} by default, {PAGE_SIZE_NOTE}.",
        ),
    ] = DEFAULT_CLUSTER_PAGE,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT, description="Clusters to skip.")] = 0,
):
    limit = page_size(limit, DEFAULT_CLUSTER_PAGE, settings.max_page_size)
    params = {"min_size": min_size, "limit": limit, "offset": offset}
    load = partial(_clusters, warehouse, tables, min_size, limit, offset)
    return await cached_read(request, "chain", [WALLET_CLUSTERS.name], params, load)
