"""The warehouse on both backends: table creation, idempotent upserts by key, reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from resources.warehouse import TableSpec, Warehouse

SPEC = TableSpec(
    "bars",
    {"symbol": pl.Utf8, "ts": pl.Datetime("us", "UTC"), "close": pl.Float64, "n": pl.Int64, "ok": pl.Boolean},
    ("symbol", "ts"),
    indexes=(("symbol",),),
)
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def frame(n: int, symbol: str = "BTC-USD", scale: float = 1.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "ts": [T0 + timedelta(hours=i) for i in range(n)],
            "close": [100.0 * scale + i for i in range(n)],
            "n": list(range(n)),
            "ok": [i % 2 == 0 for i in range(n)],
        },
        schema=SPEC.schema,
    )


def test_upsert_is_idempotent_and_replaces_by_key(warehouse: Warehouse):
    warehouse.upsert(SPEC, frame(50))
    warehouse.upsert(SPEC, frame(50))
    assert warehouse.count("bars") == 50

    warehouse.upsert(SPEC, frame(60, scale=2.0))  # 50 replaced, 10 new
    out = warehouse.read("bars", order_by=["ts"])
    assert out.height == 60
    assert out["close"].to_list() == frame(60, scale=2.0)["close"].to_list()


def test_round_trip_keeps_types_and_utc(warehouse: Warehouse):
    original = frame(5).with_columns(pl.when(pl.col("n") == 3).then(None).otherwise(pl.col("close")).alias("close"))
    warehouse.upsert(SPEC, original)
    out = warehouse.read("bars", order_by=["ts"])
    assert out.schema == original.schema
    assert out.equals(original)


def test_reads_filter_paginate_and_aggregate(warehouse: Warehouse):
    warehouse.upsert(SPEC, pl.concat([frame(30), frame(10, symbol="ETH-USD")]))
    window = warehouse.read(
        "bars", {"symbol": "BTC-USD"}, ranges={"ts": (T0 + timedelta(hours=5), T0 + timedelta(hours=15))}, order_by=["ts"]
    )
    assert window["n"].to_list() == list(range(5, 15))
    page = warehouse.read("bars", {"symbol": ["BTC-USD"]}, order_by=["ts"], limit=7, offset=21)
    assert page["n"].to_list() == list(range(21, 28))
    assert warehouse.distinct("bars", "symbol") == ["BTC-USD", "ETH-USD"]
    agg = warehouse.aggregate("bars", {"symbol": "ETH-USD"}, first=("min", "ts"), last=("max", "ts"))
    assert agg == {"first": T0, "last": T0 + timedelta(hours=9)}
    assert warehouse.count("bars", {"symbol": "ETH-USD"}) == 10


def test_duplicate_keys_in_one_frame_are_refused(warehouse: Warehouse):
    with pytest.raises(ValueError, match="repeat a key"):
        warehouse.upsert(SPEC, pl.concat([frame(3), frame(2)]))
    assert not warehouse.has_table("bars") or warehouse.count("bars") == 0


def test_missing_table_is_a_clear_error(warehouse: Warehouse):
    with pytest.raises(KeyError, match="materialize"):
        warehouse.read("nothing_here")


def test_large_upsert_in_chunks(warehouse: Warehouse):
    n = 12_345
    big = pl.DataFrame(
        {
            "symbol": ["X"] * n,
            "ts": [T0 + timedelta(minutes=i) for i in range(n)],
            "close": [float(i) for i in range(n)],
            "n": list(range(n)),
            "ok": [True] * n,
        },
        schema=SPEC.schema,
    )
    assert warehouse.upsert(SPEC, big) == n
    assert warehouse.count("bars") == n


def test_sqlite_runs_in_wal_mode(tmp_path):
    wh = Warehouse(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with wh.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    wh.dispose()


def test_every_write_moves_the_table_version(warehouse: Warehouse):
    assert warehouse.versions() == {}
    warehouse.upsert(SPEC, frame(3))
    first = warehouse.versions(["bars"])["bars"]
    warehouse.upsert(SPEC, frame(3))
    second = warehouse.versions()["bars"]
    assert second > first
    warehouse.delete(SPEC, symbol="BTC-USD")
    assert warehouse.versions()["bars"] > second
    assert warehouse.count("bars") == 0


BLOCKISH = TableSpec("blockish", {"id": pl.Utf8, "block": pl.Int64, "v": pl.Int64}, ("id",))


def blockish(rows: list[tuple[str, int, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=BLOCKISH.schema, orient="row")


def test_replace_range_drops_orphans_keeps_other_ranges_and_moves_keys(warehouse: Warehouse):
    warehouse.upsert(BLOCKISH, blockish([("a", 1, 0), ("b", 2, 0), ("c", 3, 0), ("x", 10, 0)]))
    # Re-index blocks [1, 4): "b" was orphaned by a reorg, "c" changed, "x" (block 10) moved into block 2.
    written = warehouse.replace_range(BLOCKISH, blockish([("a", 1, 0), ("c", 3, 1), ("x", 2, 1)]), "block", 1, 4)
    assert written == 3
    out = warehouse.read("blockish", order_by=["id"])
    assert out.rows() == [("a", 1, 0), ("c", 3, 1), ("x", 2, 1)]


def test_replace_range_with_no_rows_empties_the_range_and_bumps_the_version(warehouse: Warehouse):
    warehouse.upsert(BLOCKISH, blockish([("a", 1, 0), ("z", 9, 0)]))
    before = warehouse.versions(["blockish"])["blockish"]
    assert warehouse.replace_range(BLOCKISH, blockish([]), "block", 0, 5) == 0
    assert warehouse.read("blockish", columns=["id"])["id"].to_list() == ["z"]
    assert warehouse.versions(["blockish"])["blockish"] >= before


def test_replace_range_refuses_repeated_keys_and_changes_nothing(warehouse: Warehouse):
    warehouse.upsert(BLOCKISH, blockish([("a", 1, 0)]))
    with pytest.raises(ValueError, match="repeat a key"):
        warehouse.replace_range(BLOCKISH, blockish([("b", 1, 0), ("b", 1, 1)]), "block", 0, 5)
    assert warehouse.read("blockish")["id"].to_list() == ["a"]


def test_a_column_the_spec_gained_is_added_to_an_existing_table(warehouse_url: str):
    """A warehouse written before a column existed opens with it (old rows NULL), on both backends."""
    old = TableSpec("grown", {"id": pl.Utf8, "a": pl.Int64}, ("id",))
    new = TableSpec("grown", {"id": pl.Utf8, "a": pl.Int64, "owner": pl.Utf8, "at": pl.Datetime("us", "UTC")}, ("id",))
    first = Warehouse(warehouse_url)
    first.upsert(old, pl.DataFrame({"id": ["x"], "a": [1]}, schema=old.schema))
    first.dispose()
    later = Warehouse(warehouse_url)  # a new process, a newer spec
    try:
        later.upsert(new, pl.DataFrame({"id": ["y"], "a": [2], "owner": ["me"], "at": [T0]}, schema=new.schema))
        rows = later.read("grown", order_by=["id"])
        assert rows.to_dicts() == [{"id": "x", "a": 1, "owner": None, "at": None},
                                   {"id": "y", "a": 2, "owner": "me", "at": T0}]
    finally:
        later.dispose()
