"""Market data: the validated bars, their daily summaries and their technical features.

Every endpoint reads one warehouse table for one (symbol, interval) series, in pages, through
`serving.cached_reads.cached_read`: the blocking SQLAlchemy reads run in a worker thread behind the
circuit breaker, and answers are cached under the table's version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from resources.tables import MARKET_DAILY_SUMMARY, OHLCV, OHLCV_FEATURES
from resources.warehouse import TableSpec, Warehouse
from serving.cached_reads import cached_read
from serving.deps import SettingsDep, TableGuard, TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES
from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING, PAGE_SIZE_NOTE, IsoDate, IsoDateTime, page_size
from serving.schemas import (
    Bar,
    FeaturesPage,
    Interval,
    OhlcvPage,
    Order,
    SeriesInfo,
    SummaryPage,
    SymbolInfo,
    SymbolList,
)

router = APIRouter(prefix="/api/v1/data", tags=["data"], responses=ERROR_RESPONSES)

#: Page size when the client names none (capped by `Settings.max_page_size`).
DEFAULT_PAGE_SIZE = 500
#: How many known symbols a 404 lists before it elides the rest.
KNOWN_SYMBOLS_SHOWN = 20

BAR_COLUMNS = tuple(Bar.model_fields)


# -- shared parameters ----------------------------------------------------------------------------
Symbol = Annotated[
    str,
    Path(
        description="Symbol, e.g. BTC-USD (case-insensitive).",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$",
        examples=["BTC-USD"],
    ),
]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


async def page_params(
    settings: SettingsDep,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=PAGE_SIZE_CEILING,
            description=f"Page size; {DEFAULT_PAGE_SIZE} by default, {PAGE_SIZE_NOTE}.",
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_INT, description="Rows to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=page_size(limit, DEFAULT_PAGE_SIZE, settings.max_page_size), offset=offset)


Page = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Window:
    """A half-open range [start, end) as asked (echoed in the answer), and as read.

    `lower`/`upper` bound the read (None is open on that side); `empty` when no row can be in it:
    start at or after end, which is an empty page, not an error (the schema cannot state a rule
    between two parameters, so every pair it allows is answered).
    """

    start: Any
    end: Any
    lower: Any
    upper: Any
    empty: bool


def _utc(value: datetime) -> tuple[datetime, int]:
    """`value` in UTC (naive is UTC), and where the instant lies when UTC cannot hold it.

    0 when converted; -1 before 0001-01-01T00:00Z (year 1 with a positive offset), +1 after the end
    of 9999 (with a negative offset): then `value` is returned as given (it is still the instant asked).
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC), 0
    try:
        return value.astimezone(UTC), 0
    except OverflowError:
        offset = value.utcoffset() or timedelta(0)
        return value, (-1 if offset > timedelta(0) else 1)


async def time_window(
    start: Annotated[
        IsoDateTime | None,
        Query(
            description="First bar open time, inclusive. ISO datetime or date; UTC when no offset is given. "
            "A start at or after end is an empty window (an empty page)."
        ),
    ] = None,
    end: Annotated[
        IsoDateTime | None,
        Query(description="Bar open time to stop before (exclusive). ISO datetime or date; UTC when naive."),
    ] = None,
) -> Window:
    lower = upper = None
    empty = False
    shown_start = shown_end = None
    if start is not None:
        shown_start, side = _utc(start)
        lower = shown_start if side == 0 else None  # before any representable instant: open
        empty |= side > 0  # after every representable instant: nothing is at or after it
    if end is not None:
        shown_end, side = _utc(end)
        upper = shown_end if side == 0 else None
        empty |= side < 0
    if lower is not None and upper is not None and not lower < upper:
        empty = True
    return Window(shown_start, shown_end, lower, upper, empty)


async def date_window(
    start: Annotated[
        IsoDate | None,
        Query(description="First day, inclusive (YYYY-MM-DD). A start at or after end is an empty window."),
    ] = None,
    end: Annotated[IsoDate | None, Query(description="Day to stop before, exclusive (YYYY-MM-DD).")] = None,
) -> Window:
    empty = start is not None and end is not None and not start < end
    return Window(start, end, start, end, empty)


TimeWindow = Annotated[Window, Depends(time_window)]
DateWindow = Annotated[Window, Depends(date_window)]


# -- shared reading -------------------------------------------------------------------------------
def _require_known_symbol(warehouse: Warehouse, table: str, symbol: str) -> None:
    """404 unless `symbol` has rows in `table` for some interval."""
    if not warehouse.read(table, {"symbol": symbol}, columns=["symbol"], limit=1).is_empty():
        return
    known = warehouse.distinct(table, "symbol")
    listed = ", ".join(known[:KNOWN_SYMBOLS_SHOWN]) or "none"
    if len(known) > KNOWN_SYMBOLS_SHOWN:
        listed += f", ... ({len(known)} in all)"
    raise HTTPException(status_code=404, detail=f"unknown symbol {symbol!r}; known: {listed}")


def _as_column_value(value: Any, dtype: pl.DataType) -> Any:
    """A bound of a range in the type of the column (dates are stored as text in some tables)."""
    if value is not None and dtype == pl.Utf8 and isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class SeriesPage:
    total: int
    as_of: Any
    rows: list[dict[str, Any]]


def read_series(
    warehouse: Warehouse,
    tables: TableGuard,
    spec: TableSpec,
    *,
    symbol: str,
    interval: str,
    column: str,
    window: Window,
    page: PageParams,
    descending: bool = False,
    columns: tuple[str, ...] | None = None,
) -> SeriesPage:
    """One page of one series of `spec`, ordered by `column` and limited to `window` on it."""
    tables.require(spec.name)
    series = {"symbol": symbol, "interval": interval}
    as_of = warehouse.aggregate(spec.name, series, as_of=("max", column))["as_of"]
    if as_of is None:
        _require_known_symbol(warehouse, spec.name, symbol)
        return SeriesPage(total=0, as_of=None, rows=[])
    if window.empty:
        return SeriesPage(total=0, as_of=as_of, rows=[])
    dtype = spec.schema[column]
    ranges = {column: (_as_column_value(window.lower, dtype), _as_column_value(window.upper, dtype))}
    total = warehouse.count(spec.name, series, ranges=ranges)
    rows: list[dict[str, Any]] = []
    if page.offset < total:
        frame = warehouse.read(
            spec.name,
            series,
            ranges=ranges,
            order_by=[column],
            descending=descending,
            limit=page.limit,
            offset=page.offset,
            columns=list(columns) if columns else None,
        )
        rows = frame.to_dicts()
    return SeriesPage(total=total, as_of=as_of, rows=rows)


def _page_fields(symbol: str, interval: str, page: PageParams, result: SeriesPage) -> dict[str, Any]:
    end = page.offset + len(result.rows)
    return {
        "symbol": symbol,
        "interval": interval,
        "count": len(result.rows),
        "total": result.total,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": end if result.rows and end < result.total else None,
        "as_of": result.as_of,
        "items": result.rows,
    }


# -- endpoints ------------------------------------------------------------------------------------
# Each endpoint validates its parameters, then answers through the gateway's cached read: the
# blocking warehouse work is the `load` closure, run in a worker thread behind the circuit breaker.
def _symbols(warehouse: Warehouse, tables: TableGuard) -> dict[str, Any]:
    tables.require(OHLCV.name)
    items = []
    for symbol in warehouse.distinct(OHLCV.name, "symbol"):
        intervals = []
        for interval in warehouse.distinct(OHLCV.name, "interval", {"symbol": symbol}):
            stats = warehouse.aggregate(
                OHLCV.name,
                {"symbol": symbol, "interval": interval},
                first_ts=("min", "ts"),
                last_ts=("max", "ts"),
                rows=("count", "ts"),
            )
            intervals.append(SeriesInfo(interval=interval, **stats))
        items.append(SymbolInfo(symbol=symbol, intervals=intervals))
    return SymbolList(count=len(items), items=items).model_dump(mode="json")


@router.get(
    "/symbols",
    response_model=SymbolList,
    summary="Symbols with bars, their intervals and time span",
)
async def list_symbols(request: Request, warehouse: WarehouseDep, tables: TablesDep):
    return await cached_read(request, "data", [OHLCV.name], {}, partial(_symbols, warehouse, tables))


@router.get(
    "/ohlcv/{symbol}",
    response_model=OhlcvPage,
    summary="Validated OHLCV bars of one series, oldest first",
)
async def get_ohlcv(
    request: Request,
    symbol: Symbol,
    warehouse: WarehouseDep,
    tables: TablesDep,
    window: TimeWindow,
    page: Page,
    interval: Annotated[Interval, Query(description="Bar interval.")] = Interval.HOUR,
):
    return await _series_answer(
        request, "data", OHLCV, OhlcvPage, warehouse, tables, symbol, interval, window, page,
        column="ts", columns=BAR_COLUMNS,
    )


@router.get(
    "/summary/{symbol}",
    response_model=SummaryPage,
    summary="Daily summaries of one series, oldest day first",
)
async def get_summary(
    request: Request,
    symbol: Symbol,
    warehouse: WarehouseDep,
    tables: TablesDep,
    window: DateWindow,
    page: Page,
    interval: Annotated[Interval, Query(description="Interval of the bars summarized.")] = Interval.HOUR,
):
    return await _series_answer(
        request, "summary", MARKET_DAILY_SUMMARY, SummaryPage, warehouse, tables, symbol, interval, window, page,
        column="date",
    )


@router.get(
    "/features/{symbol}",
    response_model=FeaturesPage,
    summary="Technical features of one series, per bar",
)
async def get_features(
    request: Request,
    symbol: Symbol,
    warehouse: WarehouseDep,
    tables: TablesDep,
    window: TimeWindow,
    page: Page,
    interval: Annotated[Interval, Query(description="Bar interval.")] = Interval.HOUR,
    order: Annotated[Order, Query(description="asc: oldest bar first; desc: latest first.")] = Order.ASC,
):
    return await _series_answer(
        request, "features", OHLCV_FEATURES, FeaturesPage, warehouse, tables, symbol, interval, window, page,
        column="ts", order=order,
    )


async def _series_answer(
    request: Request,
    kind: str,
    spec: TableSpec,
    page_model: type[BaseModel],
    warehouse: Warehouse,
    tables: TableGuard,
    symbol: str,
    interval: Interval,
    window: Window,
    page: PageParams,
    *,
    column: str,
    columns: tuple[str, ...] | None = None,
    order: Order | None = None,
) -> Any:
    """One page of one series of `spec` as `page_model`, through the gateway's cached read."""
    symbol = symbol.upper()
    extra = {"order": order} if order is not None else {}

    def load() -> dict[str, Any]:
        result = read_series(
            warehouse,
            tables,
            spec,
            symbol=symbol,
            interval=interval.value,
            column=column,
            window=window,
            page=page,
            descending=order is Order.DESC,
            columns=columns,
        )
        fields = _page_fields(symbol, interval.value, page, result)
        return page_model(start=window.start, end=window.end, **extra, **fields).model_dump(mode="json")

    params = {
        "symbol": symbol,
        "interval": interval.value,
        "start": window.start.isoformat() if window.start else None,
        "end": window.end.isoformat() if window.end else None,
        "limit": page.limit,
        "offset": page.offset,
        **{k: v.value for k, v in extra.items()},
    }
    return await cached_read(request, kind, [spec.name], params, load)
