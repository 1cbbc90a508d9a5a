"""Market data: the validated bars, their daily summaries and their technical features.

Every endpoint reads one warehouse table for one (symbol, interval) series, in pages, through
`serving.gateway.cached_read`: the blocking SQLAlchemy reads run in a worker thread behind the
circuit breaker, and answers are cached under the table's version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from resources.tables import MARKET_DAILY_SUMMARY, OHLCV, OHLCV_FEATURES
from resources.warehouse import TableSpec, Warehouse
from serving.deps import SettingsDep, TableGuard, TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES, query_error
from serving.gateway import cached_read
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
            ge=1, description=f"Page size; {DEFAULT_PAGE_SIZE} by default, at most MAX_PAGE_SIZE (setting)."
        ),
    ] = None,
    offset: Annotated[int, Query(ge=0, description="Rows to skip.")] = 0,
) -> PageParams:
    maximum = settings.max_page_size
    if limit is None:
        limit = min(DEFAULT_PAGE_SIZE, maximum)
    elif limit > maximum:
        raise query_error("limit", f"Input should be less than or equal to {maximum}", limit)
    return PageParams(limit=limit, offset=offset)


Page = Annotated[PageParams, Depends(page_params)]


@dataclass(frozen=True)
class Window:
    """A half-open range [start, end); None is open on that side."""

    start: Any
    end: Any


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset: no such UTC instant
        raise query_error(field, "datetime out of range once converted to UTC", value.isoformat()) from None


def _check_order(start: Any, end: Any) -> None:
    if start is not None and end is not None and not start < end:
        raise query_error(
            "start",
            f"start must be earlier than end (start={start.isoformat()}, end={end.isoformat()})",
            str(start),
        )


async def time_window(
    start: Annotated[
        datetime | None,
        Query(
            description="First bar open time, inclusive. ISO datetime or date; UTC when no offset is given."
        ),
    ] = None,
    end: Annotated[
        datetime | None,
        Query(description="Bar open time to stop before (exclusive). ISO datetime or date; UTC when naive."),
    ] = None,
) -> Window:
    window = Window(_utc(start, "start"), _utc(end, "end"))
    _check_order(window.start, window.end)
    return window


async def date_window(
    start: Annotated[date | None, Query(description="First day, inclusive (YYYY-MM-DD).")] = None,
    end: Annotated[date | None, Query(description="Day to stop before, exclusive (YYYY-MM-DD).")] = None,
) -> Window:
    _check_order(start, end)
    return Window(start, end)


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
    dtype = spec.schema[column]
    ranges = {column: (_as_column_value(window.start, dtype), _as_column_value(window.end, dtype))}
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
