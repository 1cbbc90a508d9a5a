"""Chain reads: a block, a transaction with its logs and token transfers, an address's transfers.

Answers come from the tables the chain assets publish (ethereum-etl column names), through the
gateway's cached read, keyed by the tables' versions so a re-indexed range (a reorg) is never hidden
by an old entry. Hashes and addresses are validated before anything is read: a malformed one is a
422 naming the field; a well-formed one the indexer has not seen is a 404 saying so.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field, create_model

from ops.chain.schema import BLOCKS_SCHEMA, LOGS_SCHEMA, TOKEN_TRANSFERS_SCHEMA, TRANSACTIONS_SCHEMA
from resources.tables import CHAIN_BLOCKS, CHAIN_LOGS, CHAIN_TRANSACTIONS, TOKEN_TRANSFERS
from resources.warehouse import Warehouse
from serving.cached_reads import cached_read
from serving.deps import SettingsDep, TableGuard, TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES
from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING, PAGE_SIZE_NOTE, page_size

router = APIRouter(prefix="/api/v1/chain", tags=["chain"], responses=ERROR_RESPONSES)

DEFAULT_PAGE_SIZE = 100
HASH_PATTERN = r"^0x[0-9a-fA-F]{64}$"
ADDRESS_PATTERN = r"^0x[0-9a-fA-F]{40}$"

TxHash = Annotated[str, Path(pattern=HASH_PATTERN, description="Transaction hash, 0x + 64 hex digits.")]
Address = Annotated[str, Path(pattern=ADDRESS_PATTERN, description="Address, 0x + 40 hex digits (any case).")]


def _python_type(dtype: pl.DataType) -> Any:
    return {pl.Int64: int, pl.Float64: float, pl.Boolean: bool}.get(dtype, str) | None


def _model(name: str, schema: dict[str, pl.DataType]) -> type[BaseModel]:
    """A response model with the table's columns, so the OpenAPI document follows the schema."""
    return create_model(name, **{col: (_python_type(dtype), None) for col, dtype in schema.items()})


Block = _model("Block", BLOCKS_SCHEMA)
Log = _model("Log", LOGS_SCHEMA)
TokenTransfer = _model("TokenTransfer", TOKEN_TRANSFERS_SCHEMA)
_TransactionBase = _model("TransactionBase", TRANSACTIONS_SCHEMA)


class Transaction(_TransactionBase):  # type: ignore[misc, valid-type]
    logs: list[Log] = Field(default_factory=list)  # type: ignore[valid-type]
    token_transfers: list[TokenTransfer] = Field(default_factory=list)  # type: ignore[valid-type]


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class TransferPage(BaseModel):
    address: str
    direction: Direction
    count: int
    total: int
    limit: int
    offset: int
    next_offset: int | None
    items: list[TokenTransfer]  # type: ignore[valid-type]


# -- loads (blocking; run by the gateway in a worker thread) --------------------------------------
def _one(warehouse: Warehouse, table: str, where: dict[str, Any], what: str) -> dict[str, Any]:
    frame = warehouse.read(table, where, limit=1)
    if frame.is_empty():
        raise HTTPException(status_code=404, detail=f"{what} is not indexed (yet); see the chain assets' ranges")
    return frame.to_dicts()[0]


def _block(warehouse: Warehouse, tables: TableGuard, number: int) -> dict[str, Any]:
    tables.require(CHAIN_BLOCKS.name)
    return _one(warehouse, CHAIN_BLOCKS.name, {"number": number}, f"block {number}")


def _transaction(warehouse: Warehouse, tables: TableGuard, tx_hash: str) -> dict[str, Any]:
    tables.require(CHAIN_TRANSACTIONS.name)
    row = _one(warehouse, CHAIN_TRANSACTIONS.name, {"hash": tx_hash}, f"transaction {tx_hash}")
    for key, spec in (("logs", CHAIN_LOGS), ("token_transfers", TOKEN_TRANSFERS)):
        row[key] = (
            warehouse.read(spec.name, {"transaction_hash": tx_hash}, order_by=["log_index"]).to_dicts()
            if warehouse.has_table(spec.name)
            else []
        )
    return row


def _transfers(
    warehouse: Warehouse, tables: TableGuard, address: str, direction: Direction, limit: int, offset: int
) -> dict[str, Any]:
    tables.require(TOKEN_TRANSFERS.name)
    sides = {Direction.IN: ["to_address"], Direction.OUT: ["from_address"]}.get(
        direction, ["from_address", "to_address"]
    )
    name = TOKEN_TRANSFERS.name
    # Newest first on each side, only as deep as this page reaches: a busy address costs one page.
    frames = [
        warehouse.read(name, {side: address}, order_by=["block_number", "log_index"], descending=True,
                       limit=offset + limit)
        for side in sides
    ]
    total = sum(warehouse.count(name, {side: address}) for side in sides)
    if len(sides) == 2:  # a transfer to oneself is on both sides: count and show it once
        total -= warehouse.count(name, {"from_address": address, "to_address": address})
    rows = pl.concat(frames).unique(subset=["transaction_hash", "log_index"], keep="first")
    page = rows.sort(["block_number", "log_index"], descending=True).slice(offset, limit)
    end = offset + page.height
    return {
        "address": address,
        "direction": direction.value,
        "count": page.height,
        "total": total,
        "limit": limit,
        "offset": offset,
        "next_offset": end if page.height and end < total else None,
        "items": page.to_dicts(),
    }


# -- endpoints ------------------------------------------------------------------------------------
@router.get("/blocks/{number}", response_model=Block, summary="One indexed block header")
async def get_block(
    request: Request,
    number: Annotated[int, Path(ge=0, le=MAX_QUERY_INT, description="Block number.")],
    warehouse: WarehouseDep,
    tables: TablesDep,
):
    load = partial(_block, warehouse, tables, number)
    return await cached_read(request, "chain", [CHAIN_BLOCKS.name], {"number": number}, load)


@router.get("/tx/{tx_hash}", response_model=Transaction, summary="One transaction with receipt, logs, transfers")
async def get_transaction(request: Request, tx_hash: TxHash, warehouse: WarehouseDep, tables: TablesDep):
    tx_hash = tx_hash.lower()
    tables_read = [CHAIN_TRANSACTIONS.name, CHAIN_LOGS.name, TOKEN_TRANSFERS.name]
    load = partial(_transaction, warehouse, tables, tx_hash)
    return await cached_read(request, "chain", tables_read, {"hash": tx_hash}, load)


@router.get(
    "/address/{address}/transfers",
    response_model=TransferPage,
    summary="Token transfers to and/or from an address, newest first, in pages",
)
async def get_address_transfers(
    request: Request,
    address: Address,
    warehouse: WarehouseDep,
    tables: TablesDep,
    settings: SettingsDep,
    direction: Annotated[Direction, Query(description="in, out or both.")] = Direction.BOTH,
    limit: Annotated[
        int | None,
        Query(ge=1, le=PAGE_SIZE_CEILING, description=f"Page size; {DEFAULT_PAGE_SIZE} by default, {PAGE_SIZE_NOTE}."),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT, description="Rows to skip.")] = 0,
):
    limit = page_size(limit, DEFAULT_PAGE_SIZE, settings.max_page_size)
    address = address.lower()
    params = {"address": address, "direction": direction.value, "limit": limit, "offset": offset}
    load = partial(_transfers, warehouse, tables, address, direction, limit, offset)
    return await cached_read(request, "chain", [TOKEN_TRANSFERS.name], params, load)

from serving.routers import chain_intel  # mounted last: it extends this router

router.include_router(chain_intel.router)
