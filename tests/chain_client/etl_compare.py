"""Our frames against ethereum-etl's export, column by column.

The only differences allowed are the documented representation choices of ``ops.chain.schema``:
- quantities that may exceed int64 are decimal strings (ours) where ethereum-etl's JSON has ints;
- a log's ``topics`` list is comma-joined text; a block's ``withdrawals`` list is JSON text;
- ethereum-etl's bookkeeping fields (``type``, ``item_id``, ``item_timestamp``) and its L2-only
  ``receipt_l1_*`` fields (all null on mainnet) are not columns of ours.
Every other ethereum-etl field must be a column of ours with an equal value in every row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from ops.chain.decode import ChainFrames
from ops.chain.schema import TABLE_SCHEMAS

NOT_OURS = {"type", "item_id", "item_timestamp"}
L2_ONLY = {"receipt_l1_fee", "receipt_l1_gas_used", "receipt_l1_gas_price", "receipt_l1_fee_scalar"}


def _decimal(value: Any) -> Any:
    return None if value is None else str(value)


#: table -> column -> how ethereum-etl's JSON value is written in ours.
REPRESENTATION: dict[str, dict[str, Callable[[Any], Any]]] = {
    "blocks": {"difficulty": _decimal, "total_difficulty": _decimal},
    "transactions": {"value": _decimal},
    "logs": {"topics": ",".join},
    "token_transfers": {"value": _decimal},
}
#: table -> column -> how ours is read back before comparing (structured text).
READ_BACK: dict[str, dict[str, Callable[[Any], Any]]] = {"blocks": {"withdrawals": json.loads}}


def mismatches(frames: ChainFrames, expected: dict[str, list[dict]]) -> list[str]:
    """Every difference between ``frames`` and ethereum-etl's rows (empty when they agree)."""
    problems: list[str] = []
    for table, rows in expected.items():
        ours: pl.DataFrame = getattr(frames, table)
        _, key = TABLE_SCHEMAS[table]
        if ours.height != len(rows):
            problems.append(f"{table}: {ours.height} rows, ethereum-etl has {len(rows)}")
        by_key = {tuple(row[k] for k in key): row for row in ours.iter_rows(named=True)}
        columns = set(rows[0]) - NOT_OURS - L2_ONLY
        missing = columns - set(ours.columns)
        if missing:
            problems.append(f"{table}: no column for ethereum-etl's {sorted(missing)}")
        for etl_row in rows:
            row = by_key.get(tuple(etl_row[k] for k in key))
            if row is None:
                problems.append(f"{table}: no row for key {[etl_row[k] for k in key]}")
                continue
            for column in sorted(columns - missing):
                want = REPRESENTATION.get(table, {}).get(column, lambda v: v)(etl_row[column])
                got = row[column]
                if got is not None and column in READ_BACK.get(table, {}):
                    got = READ_BACK[table][column](got)
                if got != want:
                    problems.append(
                        f"{table}.{column} at {[etl_row[k] for k in key]}: ours {got!r}, etl {want!r}"
                    )
        for etl_row in rows:
            for column in L2_ONLY & set(etl_row):
                if etl_row[column] is not None:
                    problems.append(
                        f"{table}.{column} is set in ethereum-etl's export but not a column of ours"
                    )
    return problems
