"""Per-request DataLoaders: one warehouse query per level of a GraphQL answer, not one per object.

`blocks { transactions { tokenTransfers } }` over 20 blocks would be 1 + 20 + (transactions) queries
resolved object by object (the N+1 problem); each loader gathers the keys a level asks for in the
same event-loop tick and reads them with one `IN` query, so the same answer takes 3. Queries run
in a worker thread through the app's Guard (retries, circuit breaker), like every REST read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from strawberry.dataloader import DataLoader

from resources.tables import CHAIN_BLOCKS, CHAIN_TRANSACTIONS, TOKEN_TRANSFERS
from resources.warehouse import Warehouse
from serving.resilience import Guard


@dataclass
class Loaders:
    """The loaders of one request; `queries` counts the warehouse reads they made."""

    warehouse: Warehouse
    guard: Guard
    queries: int = 0
    blocks: DataLoader = field(init=False)
    transactions_of_block: DataLoader = field(init=False)
    transfers_of_transaction: DataLoader = field(init=False)

    def __post_init__(self) -> None:
        self.blocks = DataLoader(self._blocks)
        self.transactions_of_block = DataLoader(self._transactions_of_block)
        self.transfers_of_transaction = DataLoader(self._transfers_of_transaction)

    async def read(self, table: str, where: dict[str, Any], order_by: Sequence[str] = ()) -> list[dict[str, Any]]:
        self.queries += 1
        return await self.guard.call("warehouse", _rows, self.warehouse, table, where, order_by)

    async def _blocks(self, numbers: list[int]) -> list[dict[str, Any] | None]:
        rows = {r["number"]: r for r in await self.read(CHAIN_BLOCKS.name, {"number": list(set(numbers))})}
        return [rows.get(n) for n in numbers]

    async def _transactions_of_block(self, numbers: list[int]) -> list[list[dict[str, Any]]]:
        rows = await self.read(CHAIN_TRANSACTIONS.name, {"block_number": list(set(numbers))},
                               order_by=["block_number", "transaction_index"])  # fmt: skip
        return _grouped(rows, "block_number", numbers)

    async def _transfers_of_transaction(self, hashes: list[str]) -> list[list[dict[str, Any]]]:
        rows = await self.read(TOKEN_TRANSFERS.name, {"transaction_hash": list(set(hashes))}, order_by=["log_index"])
        return _grouped(rows, "transaction_hash", hashes)


def _rows(warehouse: Warehouse, table: str, where: dict[str, Any], order_by: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of a table; none while it is not materialized (a GraphQL field is then empty, not an error)."""
    if not warehouse.has_table(table):
        return []
    return warehouse.read(table, where, order_by=order_by).to_dicts()


def _grouped(rows: list[dict[str, Any]], column: str, keys: Sequence[Any]) -> list[list[dict[str, Any]]]:
    groups: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row[column]].append(row)
    return [groups.get(key, []) for key in keys]
