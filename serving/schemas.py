"""Response models of the API.

Rows of the market tables are described once, by the polars contracts in `ops.market`; the item
models of the summary and features endpoints are derived from those contracts so a new column
reaches the API (and its OpenAPI schema) without a second edit here. The OHLCV bar is spelled
out, because its fields are the API's most used promise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

import polars as pl
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, create_model

from ops.market.features import FEATURES_KEY, FEATURES_SCHEMA
from ops.market.summary import SUMMARY_KEY, SUMMARY_SCHEMA


class Interval(StrEnum):
    """Bar intervals the market pipeline produces (the keys of `ops.market.schema.INTERVAL_SECONDS`)."""

    HOUR = "1h"
    DAY = "1d"


class Order(StrEnum):
    ASC = "asc"
    DESC = "desc"


# -- health ---------------------------------------------------------------------------------------
class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class MonitoredDependency(BaseModel):
    healthy: bool
    consecutive_failures: int
    last_error: str | None = None
    last_checked: datetime | None = None


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description='Per dependency, checked now: "ok", "degraded (...)" (serving on a fallback), '
        "or the class of the error it raised."
    )
    monitor: dict[str, MonitoredDependency] = Field(
        default_factory=dict, description="The background monitor's view (unhealthy after repeated failures)."
    )


class ErrorBody(BaseModel):
    detail: str


# -- market data ----------------------------------------------------------------------------------
class SeriesInfo(BaseModel):
    interval: str
    first_ts: datetime | None = Field(description="Open time of the first bar (UTC).")
    last_ts: datetime | None = Field(description="Open time of the last bar (UTC).")
    rows: int


class SymbolInfo(BaseModel):
    symbol: str
    intervals: list[SeriesInfo]


class SymbolList(BaseModel):
    count: int
    items: list[SymbolInfo]


class Bar(BaseModel):
    """One validated OHLCV bar; `ts` is its open time in UTC."""

    ts: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    quote_volume: float | None = None
    trade_count: int | None = None
    gap_before: bool | None = Field(None, description="The previous expected bar of the series is missing.")


class PageInfo(BaseModel):
    """What every paged series answer carries besides its items."""

    symbol: str
    interval: str
    count: int = Field(description="Items in this page.")
    total: int = Field(description="Rows matching the query, over all pages.")
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last page.")


def _python_type(dtype: pl.DataType) -> type:
    if isinstance(dtype, pl.Datetime):
        return datetime
    if dtype == pl.Date:
        return date
    if dtype == pl.Boolean:
        return bool
    if dtype.is_integer():
        return int
    if dtype.is_float():
        return float
    return str


def row_model(
    name: str,
    schema: dict[str, pl.DataType],
    *,
    exclude: tuple[str, ...],
    required: tuple[str, ...],
    doc: str,
) -> type[BaseModel]:
    """A pydantic model of one table row: key columns required, the others nullable."""
    fields: dict[str, Any] = {}
    for column, dtype in schema.items():
        if column in exclude:
            continue
        py = _python_type(dtype)
        fields[column] = (py, ...) if column in required else (py | None, None)
    return create_model(name, __doc__=doc, __config__=ConfigDict(extra="ignore"), **fields)


_SERIES_COLUMNS = ("symbol", "interval")  # in the page envelope, not repeated per item

SummaryRow = row_model(
    "SummaryRow",
    SUMMARY_SCHEMA,
    exclude=_SERIES_COLUMNS,
    required=SUMMARY_KEY,
    doc="One day of one series in `market_daily_summary`.",
)
FeatureRow = row_model(
    "FeatureRow",
    FEATURES_SCHEMA,
    exclude=_SERIES_COLUMNS,
    required=FEATURES_KEY,
    doc="Technical features of one bar in `ohlcv_features`; null until a window has filled.",
)


class OhlcvPage(PageInfo):
    start: datetime | None
    end: datetime | None
    as_of: datetime | None = Field(description="Open time of the newest bar of the series: data freshness.")
    items: list[Bar]


class SummaryPage(PageInfo):
    start: date | None
    end: date | None
    as_of: date | None = Field(description="Newest day of the series.")
    items: list[SummaryRow]  # type: ignore[valid-type]


class FeaturesPage(PageInfo):
    start: datetime | None
    end: datetime | None
    order: Order
    as_of: datetime | None = Field(description="Open time of the newest bar with features: data freshness.")
    items: list[FeatureRow]  # type: ignore[valid-type]


def extend_openapi(app: FastAPI, patch: Callable[[dict[str, Any]], None]) -> None:
    """Apply `patch` to the app's generated OpenAPI schema, once, when it is first built: for what the
    settings decide (the routers are built before them). Several patches chain in the order given."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            patch(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finite_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Model metrics as JSON can carry them: NaN and infinities (an undefined ratio) become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
