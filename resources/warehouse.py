"""The warehouse: the tables assets publish and serving reads.

One small interface over SQLAlchemy 2, so the same code runs on the embedded SQLite file (WAL mode,
busy timeout, short write transactions: SQLite's single writer is the limit) and on PostgreSQL.
Frames go in and come out as polars; timestamps are stored as naive UTC and come back UTC-aware,
which is the one convention both backends can keep.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("resources.warehouse")

WRITE_CHUNK_ROWS = 5_000
#: Bookkeeping table: one row per data table with the time of its last write. Readers that cache
#: (the API) put this version in their keys, so a new materialization is never hidden by an old entry.
VERSIONS_TABLE = "table_versions"


@dataclass(frozen=True)
class TableSpec:
    """A warehouse table: its polars column contract, its primary key and extra indexes."""

    name: str
    schema: Mapping[str, pl.DataType]
    key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = field(default_factory=tuple)


_VERSIONS_SPEC = TableSpec(
    VERSIONS_TABLE,
    {"table_name": pl.Utf8, "version": pl.Utf8, "updated_at": pl.Datetime("us", "UTC")},
    ("table_name",),
)


def _sql_type(dtype: pl.DataType) -> sa.types.TypeEngine:
    if dtype == pl.Utf8:
        return sa.String()
    if dtype in (pl.Int64, pl.Int32, pl.UInt32, pl.UInt64):
        return sa.BigInteger()
    if dtype in (pl.Float64, pl.Float32):
        return sa.Double()
    if dtype == pl.Boolean:
        return sa.Boolean()
    if isinstance(dtype, pl.Datetime):
        return sa.DateTime(timezone=False)
    if dtype == pl.Date:
        return sa.Date()
    raise TypeError(f"no warehouse column type for polars dtype {dtype!r}")


def _polars_type(sql_type: sa.types.TypeEngine) -> pl.DataType:
    if isinstance(sql_type, sa.Boolean):
        return pl.Boolean
    if isinstance(sql_type, sa.Integer):
        return pl.Int64
    if isinstance(sql_type, (sa.Float, sa.Numeric)):
        return pl.Float64
    if isinstance(sql_type, sa.DateTime):
        return pl.Datetime("us", "UTC")
    if isinstance(sql_type, sa.Date):
        return pl.Date
    return pl.Utf8


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers (the API) run beside the one writer (a Dagster run); the timeout waits for it."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_warehouse_engine(url: str) -> Engine:
    """An engine for `url`, with the SQLite settings that make a file usable by several processes."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A host that drops packets must fail fast (readiness checks), not hang for the OS timeout.
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})


class Warehouse:
    """Tables of polars frames with idempotent upserts by key."""

    def __init__(self, url: str, engine: Engine | None = None):
        self.url = url
        self.engine = engine or create_warehouse_engine(url)
        self._metadata = sa.MetaData()
        # Reflection registers a table before its columns are loaded: concurrent first reads
        # (the API's threadpool) must not see it half-built.
        self._tables_lock = threading.Lock()
        # A SQLite file: the identity (device, inode) of the file the pool opened, checked by `ping`.
        self.sqlite_path = _sqlite_file(self.engine)
        self._opened_file: tuple[int, int] | None = None
        self._opened_wal: tuple[int, int] | None = None  # and of its write-ahead log, once seen
        self._file_lock = threading.Lock()
        if self.sqlite_path is not None:
            sa.event.listen(self.engine, "connect", self._note_opened_file)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # -- tables ---------------------------------------------------------------------------------
    def ensure_table(self, spec: TableSpec) -> sa.Table:
        """Create the table when missing (idempotent) and return it."""
        with self._tables_lock:
            return self._ensure_table(spec)

    def _ensure_table(self, spec: TableSpec) -> sa.Table:
        if spec.name in self._metadata.tables:
            return self._metadata.tables[spec.name]
        columns = [
            sa.Column(name, _sql_type(dtype), primary_key=name in spec.key, nullable=name not in spec.key)
            for name, dtype in spec.schema.items()
        ]
        table = sa.Table(spec.name, self._metadata, *columns)
        for cols in spec.indexes:
            sa.Index(f"ix_{spec.name}_{'_'.join(cols)}", *(table.c[c] for c in cols))
        table.create(self.engine, checkfirst=True)
        self._add_missing_columns(table)
        return table

    def _add_missing_columns(self, table: sa.Table) -> None:
        """A column the spec gained since the table was made is added (nullable, so old rows keep NULL):
        a warehouse written by an earlier version opens without a migration step."""
        present = {c["name"] for c in sa.inspect(self.engine).get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in present and not c.primary_key]
        if not missing:
            return
        preparer = self.engine.dialect.identifier_preparer
        with self.engine.begin() as conn:
            for column in missing:
                kind = column.type.compile(dialect=self.engine.dialect)
                conn.execute(sa.text(
                    f"ALTER TABLE {preparer.quote(table.name)} ADD COLUMN {preparer.quote(column.name)} {kind}"
                ))

    def table(self, name: str) -> sa.Table:
        """A table this process created, or one it finds in the database (serving reads those)."""
        with self._tables_lock:
            if name not in self._metadata.tables:
                if not self.has_table(name):
                    raise KeyError(f"warehouse table {name!r} does not exist yet; materialize its asset first")
                sa.Table(name, self._metadata, autoload_with=self.engine)
            return self._metadata.tables[name]

    def has_table(self, name: str) -> bool:
        return sa.inspect(self.engine).has_table(name)

    # -- writes ---------------------------------------------------------------------------------
    def upsert(self, spec: TableSpec, frame: pl.DataFrame) -> int:
        """Insert rows, replacing those whose key already exists. Re-running writes the same rows.

        Rows whose key repeats inside `frame` are an error of the caller: they would make the
        result depend on order, so they are refused rather than silently collapsed.
        """
        table = self.ensure_table(spec)
        if frame.is_empty():
            return 0
        frame = _unique_by_key(spec, frame)
        statement = self._upsert_statement(spec, table)
        written = 0
        for chunk in frame.iter_slices(WRITE_CHUNK_ROWS):
            rows = [_to_sql_row(row) for row in chunk.iter_rows(named=True)]
            with self.engine.begin() as conn:  # one short transaction per chunk: SQLite has one writer
                conn.execute(statement, rows)
            written += len(rows)
        self._bump_version(spec.name)
        return written

    def replace_range(self, spec: TableSpec, frame: pl.DataFrame, column: str, start: Any, end: Any) -> int:
        """Make the rows with start <= `column` < end exactly `frame`, in one transaction.

        Re-indexing a block range after a reorg must drop the orphaned rows, not only upsert the new
        ones; readers never see the range half-replaced. Rows of `frame` that exist elsewhere (a
        transaction re-mined into a later block) are updated in place by key.
        """
        table = self.ensure_table(spec)
        frame = _unique_by_key(spec, frame)
        statement = self._upsert_statement(spec, table)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(table).where(*_ranges(table, {column: (start, end)})))
            for chunk in frame.iter_slices(WRITE_CHUNK_ROWS) if frame.height else ():
                conn.execute(statement, [_to_sql_row(row) for row in chunk.iter_rows(named=True)])
        self._bump_version(spec.name)
        return frame.height

    def delete(self, spec: TableSpec, **equals: Any) -> int:
        """Delete the rows matching every `column=value` (a list value means IN)."""
        table = self.ensure_table(spec)
        with self.engine.begin() as conn:
            deleted = conn.execute(sa.delete(table).where(*_conditions(table, equals))).rowcount
        self._bump_version(spec.name)
        return deleted

    def _upsert_statement(self, spec: TableSpec, table: sa.Table):
        """INSERT ... ON CONFLICT (key) DO UPDATE: the one write both upsert and replace_range use."""
        insert = self._insert(table)
        updates = {c: insert.excluded[c] for c in spec.schema if c not in spec.key}
        if not updates:
            return insert.on_conflict_do_nothing(index_elements=list(spec.key))
        return insert.on_conflict_do_update(index_elements=list(spec.key), set_=updates)

    def _bump_version(self, name: str) -> None:
        versions = self.ensure_table(_VERSIONS_SPEC)
        insert = self._insert(versions)
        now = datetime.now(UTC).replace(tzinfo=None)
        row = {"table_name": name, "version": f"{now:%Y%m%dT%H%M%S%f}", "updated_at": now}
        statement = insert.on_conflict_do_update(
            index_elements=["table_name"], set_={"version": insert.excluded.version, "updated_at": now}
        )
        with self.engine.begin() as conn:
            conn.execute(statement, [row])

    def versions(self, names: Sequence[str] | None = None) -> dict[str, str]:
        """The version (time of last write) of each data table; tables never written are absent."""
        if not self.has_table(VERSIONS_TABLE):
            return {}
        where = {"table_name": list(names)} if names is not None else {}
        frame = self.read(VERSIONS_TABLE, where, columns=["table_name", "version"])
        return dict(frame.iter_rows())

    def _insert(self, table: sa.Table):
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            raise NotImplementedError(f"upsert is not implemented for {self.dialect}")
        return insert(table)

    # -- reads ----------------------------------------------------------------------------------
    def read(
        self,
        name: str,
        where: Mapping[str, Any] | None = None,
        *,
        ranges: Mapping[str, tuple[Any, Any]] | None = None,
        order_by: Sequence[str] = (),
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows matching `where` (equality / IN) and `ranges` (start inclusive, end exclusive, None open)."""
        table = self.table(name)
        selected = [table.c[c] for c in columns] if columns else list(table.c)
        query = sa.select(*selected).where(*_conditions(table, where or {}), *_ranges(table, ranges or {}))
        if order_by:
            query = query.order_by(*(table.c[c].desc() if descending else table.c[c] for c in order_by))
        if limit is not None:
            query = query.limit(limit)
        if offset:
            query = query.offset(offset)
        schema = {col.name: _polars_type(col.type) for col in selected}
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, schema)

    def count(self, name: str, where: Mapping[str, Any] | None = None, *, ranges=None) -> int:
        table = self.table(name)
        query = sa.select(sa.func.count()).select_from(table)
        query = query.where(*_conditions(table, where or {}), *_ranges(table, ranges or {}))
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def distinct(self, name: str, column: str, where: Mapping[str, Any] | None = None) -> list[Any]:
        table = self.table(name)
        query = sa.select(table.c[column]).distinct().where(*_conditions(table, where or {}))
        with self.engine.connect() as conn:
            return sorted(row[0] for row in conn.execute(query))

    def aggregate(self, name: str, where: Mapping[str, Any] | None = None, **functions: tuple[str, str]) -> dict:
        """One row of aggregates, e.g. `aggregate("ohlcv", first=("min", "ts"))`."""
        table = self.table(name)
        exprs = [getattr(sa.func, fn)(table.c[col]).label(label) for label, (fn, col) in functions.items()]
        query = sa.select(*exprs).where(*_conditions(table, where or {}))
        with self.engine.connect() as conn:
            row = conn.execute(query).one()
        return {label: _from_sql(value) for label, value in row._mapping.items()}

    def ping(self) -> None:
        """Raise when the database does not answer (readiness checks call this).

        On a SQLite file it also checks that the file at the path is still the one the pool opened
        (pooled connections keep reading a file that was moved or deleted): gone -> raise
        `WarehouseFileMissing` without connecting (a new connection would create an empty file
        there), back (same device and inode) -> fine again, a different file -> the pool is disposed
        so the connections from now on open the file that is there now. SQLite leaves the old
        file's write-ahead log at the path when that file was replaced, and a new connection would
        read it into the new file: that log (and its shared-memory index) are renamed aside first
        (`<path>-wal.replaced-<epoch>`), never deleted (the old file's last commits may be in it).
        """
        self._check_file()
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    def _check_file(self) -> None:
        path = self.sqlite_path
        if path is None:
            return
        with self._file_lock:
            opened = self._opened_file
            if opened is None:
                return  # nothing opened yet: connecting opens (or creates) the file there now
            try:
                now = _file_identity(path)
            except FileNotFoundError:
                raise WarehouseFileMissing(path) from None
            if now == opened:
                if self._opened_wal is None:
                    self._opened_wal = _identity_or_none(path + "-wal")
                return
            old_wal = self._opened_wal
            self._opened_file = self._opened_wal = None  # the next connection notes the file it opens
        log.warning("warehouse file %s was replaced by another file: reopening the connections", path)
        self.engine.dispose()
        if old_wal is not None and _identity_or_none(path + "-wal") == old_wal:
            stamp = int(time.time())
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path + suffix, f"{path}{suffix}.replaced-{stamp}")
            log.warning("the replaced warehouse file's write-ahead log was kept as %s-wal.replaced-%d", path, stamp)

    def _note_opened_file(self, _dbapi_connection: Any, _record: Any) -> None:
        """On every new connection: remember the first file opened since the pool was (re)made."""
        try:
            identity = _file_identity(self.sqlite_path)
        except OSError:
            return
        with self._file_lock:
            if self._opened_file is None:
                self._opened_file = identity
            if self._opened_file == identity and self._opened_wal is None:
                self._opened_wal = _identity_or_none(self.sqlite_path + "-wal")

    def dispose(self) -> None:
        self.engine.dispose()
        with self._file_lock:
            self._opened_file = self._opened_wal = None


class WarehouseFileMissing(ConnectionError):
    """The SQLite file the warehouse opened is no longer at its path (moved or deleted)."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(f"warehouse file {path} is gone (moved or deleted since it was opened)")


def _sqlite_file(engine: Engine) -> str | None:
    """The absolute path of the file a SQLite engine opens; None for other databases and memory."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.abspath(database)


def _file_identity(path: str) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


def _identity_or_none(path: str) -> tuple[int, int] | None:
    try:
        return _file_identity(path)
    except OSError:
        return None


def _unique_by_key(spec: TableSpec, frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` in the table's column order; rows repeating a key are the caller's error (order would decide)."""
    frame = frame.select(list(spec.schema))
    dupes = frame.select(spec.key).is_duplicated().sum()
    if dupes:
        raise ValueError(f"{dupes} rows of the frame for {spec.name!r} repeat a key {spec.key}")
    return frame


def _conditions(table: sa.Table, equals: Mapping[str, Any]) -> list:
    out = []
    for column, value in equals.items():
        if isinstance(value, (list, tuple, set, frozenset)):
            out.append(table.c[column].in_([_to_sql(v) for v in value]))
        elif value is None:
            out.append(table.c[column].is_(None))
        else:
            out.append(table.c[column] == _to_sql(value))
    return out


def _ranges(table: sa.Table, ranges: Mapping[str, tuple[Any, Any]]) -> list:
    out = []
    for column, (start, end) in ranges.items():
        if start is not None:
            out.append(table.c[column] >= _to_sql(start))
        if end is not None:
            out.append(table.c[column] < _to_sql(end))
    return out


def _to_sql(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _from_sql(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _to_sql_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else _to_sql(v)) for k, v in row.items()}


def _frame(rows: Iterable[Sequence[Any]], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    naive = {k: (pl.Datetime("us") if isinstance(v, pl.Datetime) else v) for k, v in schema.items()}
    frame = pl.DataFrame([tuple(r) for r in rows], schema=naive, orient="row")
    return frame.with_columns(
        [pl.col(k).dt.replace_time_zone("UTC") for k, v in schema.items() if isinstance(v, pl.Datetime)]
    )
