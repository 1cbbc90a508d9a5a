"""Market assets: thin wiring from the source, through the cleaner, to the warehouse tables.

raw_ohlcv -> ohlcv + ohlcv_rejects -> ohlcv_features, market_daily_summary

Every asset is partitioned by day and symbol and runs a whole range of days in one run (a file
spanning years is one run, not thousands). The logic lives in `ops.market`; these functions read,
call it, write through the warehouse resource and tell the story in metadata.
"""


from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg
import polars as pl
from pydantic import Field

from assets.market.partitions import DAYS, MARKET_PARTITIONS, MarketSlice, market_slice
from assets.market.quality import quality_check_result
from ops.market.accounting import account_rows
from ops.market.cleaning import clean_ohlcv, find_gaps
from ops.market.features import WARMUP_BARS, compute_features
from ops.market.schema import INTERVAL_SECONDS, RAW_SCHEMA
from ops.market.summary import summarize_daily
from ops.market.validation import validate_bars
from ops.reporting import markdown_table, price_chart_markdown
from resources.configurable import MarketSourceResource, WarehouseResource
from resources.market_source import day_start
from resources.tables import MARKET_DAILY_SUMMARY, OHLCV, OHLCV_FEATURES, OHLCV_REJECTS, RAW_OHLCV
from resources.warehouse import Warehouse

GROUP = "market"
MARKET_ASSET = {
    "partitions_def": MARKET_PARTITIONS,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "group_name": GROUP,
}
KINDS = {"polars", "sql"}
#: raw_ohlcv metadata that validated_ohlcv reads back for `rows_accounted`: the rows read from the
#: source, the sources they came from, and the landing files the run owns whole.
SOURCE_ROWS = "source_rows"
READ_SOURCES = "read_sources"
OWNED_FILES = "owned_files"


class RawOhlcvConfig(dg.Config):
    """Which landing files to read; empty means the configured source (synthetic and/or landing folder)."""

    files: list[str] = Field(default_factory=list)


@dg.asset(
    **MARKET_ASSET,
    kinds=KINDS,
    check_specs=[
        dg.AssetCheckSpec(
            "raw_bars_suite",
            asset="raw_ohlcv",
            description="The bar expectations on the raw rows. Expected to fail on dirty sources: it is "
            "a measurement of the input, the cleaner decides what passes.",
        )
    ],
)
def raw_ohlcv(
    context: dg.AssetExecutionContext,
    config: RawOhlcvConfig,
    market_source: MarketSourceResource,
    warehouse: WarehouseResource,
) -> dg.MaterializeResult:
    """Bars exactly as the source gave them, one row per input line, typed where the text parsed.

    Nothing is dropped here: a row whose timestamp or numbers did not parse is kept with nulls,
    so the cleaner can reject it with a reason.
    """
    window = market_slice(context)
    reads = [
        market_source.client.read(symbol, window.query_first_day, window.query_last_day, config.files, plays_from=window.first_day)
        for symbol in window.symbols
    ]
    raw = pl.concat([r.rows for r in reads])
    source_rows = sum(r.source_rows for r in reads)
    files = sorted({f for r in reads for f in r.files})
    written = warehouse.client.upsert(RAW_OHLCV, raw)
    context.log.info(
        f"raw_ohlcv {window.label}: {written} rows from {raw['source'].n_unique()} source(s), {source_rows} read"
    )
    report = validate_bars(raw)
    check = quality_check_result(warehouse.client, "raw_ohlcv", "raw_bars_suite", window, report, blocking=False)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(raw.height),
            SOURCE_ROWS: dg.MetadataValue.int(source_rows),
            READ_SOURCES: dg.MetadataValue.json(sorted(raw["source"].unique().drop_nulls().to_list())),
            OWNED_FILES: dg.MetadataValue.json(files),
            "sources": dg.MetadataValue.text(", ".join(sorted(raw["source"].unique().to_list()))),
            "unparsed_timestamps": dg.MetadataValue.int(int(raw["ts"].null_count())),
            **_date_range_metadata(raw),
            "validation_pass_rate": dg.MetadataValue.float(report.pass_rate),
        },
        check_results=[check],
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "ohlcv",
            deps=["raw_ohlcv"],
            kinds=KINDS,
            description="Validated bars: normalized, deduplicated, sorted by time, with gaps flagged. "
            "Key (symbol, interval, ts).",
        ),
        dg.AssetSpec(
            "ohlcv_rejects",
            deps=["raw_ohlcv"],
            kinds=KINDS,
            description="Every raw row the cleaner refused, with one reason and a readable detail.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "bars_suite",
            asset="ohlcv",
            blocking=True,
            description="The great-expectations bar suite; features and summaries never see bars that fail it.",
        ),
        dg.AssetCheckSpec(
            "rows_accounted",
            asset="ohlcv",
            blocking=True,
            description="Every row the run read from its source (each line of its landing files for the "
            "symbol, counted before any filtering) is in ohlcv or in ohlcv_rejects, exactly once.",
        ),
    ],
    name="validated_ohlcv",
    **MARKET_ASSET,
)
def validated_ohlcv(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Split raw rows into validated bars and rejects with reasons."""
    db = warehouse.client
    window = market_slice(context)
    read = _source_read_of_run(context)
    raw = _read_raw(db, window, read.files if read else ())
    clean, rejects = clean_ohlcv(raw, first_day=date.fromisoformat(DAYS.get_first_partition_key()))
    db.upsert(OHLCV, clean)
    db.upsert(OHLCV_REJECTS, rejects)
    gaps = find_gaps(clean)
    by_reason = rejects.group_by("reason").len().sort("len", descending=True)
    context.log.info(f"ohlcv {window.label}: {raw.height} raw -> {clean.height} bars + {rejects.height} rejects")
    report = validate_bars(clean)

    yield dg.MaterializeResult(
        asset_key="ohlcv",
        metadata={
            "rows": dg.MetadataValue.int(clean.height),
            "raw_rows": dg.MetadataValue.int(raw.height),
            "gaps": dg.MetadataValue.int(gaps.height),
            "missing_bars": dg.MetadataValue.int(int(gaps["missing_bars"].sum()) if gaps.height else 0),
            "validation_pass_rate": dg.MetadataValue.float(report.pass_rate),
            **_date_range_metadata(clean),
            "preview": dg.MetadataValue.md(markdown_table(clean.head(10))),
            "close": dg.MetadataValue.md(price_chart_markdown(clean)),
        },
    )
    yield dg.MaterializeResult(
        asset_key="ohlcv_rejects",
        metadata={
            "rows": dg.MetadataValue.int(rejects.height),
            "rejects_by_reason": dg.MetadataValue.md(markdown_table(by_reason)),
            **{f"rejected_{r}": dg.MetadataValue.int(n) for r, n in by_reason.iter_rows()},
            "preview": dg.MetadataValue.md(markdown_table(rejects.head(10))),
        },
    )
    yield quality_check_result(db, "ohlcv", "bars_suite", window, report, blocking=True)
    if read is None:  # raw_ohlcv is not in this run: account for the raw rows the cleaner read
        account = account_rows(raw.height, clean, rejects)
    else:
        account = account_rows(read.source_rows, clean, rejects, read.sources)
    yield dg.AssetCheckResult(
        asset_key="ohlcv",
        check_name="rows_accounted",
        passed=account.balanced,
        metadata={
            **account.to_metadata(),
            "raw_rows": raw.height,
            "counted_from": "raw_ohlcv of this run" if read else "raw_ohlcv table (not materialized in this run)",
        },
    )


@dg.asset(**MARKET_ASSET, kinds=KINDS, deps=["ohlcv"])
def ohlcv_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Per-bar features: returns, volatility, RSI, MACD, Bollinger width, ATR, volume z-score, momentum.

    Each feature at time t uses bars up to t only. Enough earlier bars are read before the first
    day of the run that the first bar's features are as if computed on the whole history.
    """
    db = warehouse.client
    window = market_slice(context)
    frames = []
    for interval in INTERVAL_SECONDS:
        bars = pl.concat([_read_warmup(db, window, interval), _read_bars(db, window, interval)])
        if bars.height:
            frames.append(compute_features(bars).filter(_in_slice(window)))
    features = pl.concat(frames) if frames else pl.DataFrame(schema=OHLCV_FEATURES.schema)
    db.upsert(OHLCV_FEATURES, features)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(features.height),
            "warmup_bars": dg.MetadataValue.int(WARMUP_BARS),
            **_date_range_metadata(features),
            "preview": dg.MetadataValue.md(markdown_table(features.tail(10))),
        }
    )


@dg.asset(**MARKET_ASSET, kinds=KINDS, deps=["ohlcv"])
def market_daily_summary(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One row per symbol, interval and day: OHLC, volume, VWAP, bar count, gaps and realized volatility."""
    db = warehouse.client
    window = market_slice(context)
    bars = pl.concat([_read_bars(db, window, interval) for interval in INTERVAL_SECONDS])
    summary = summarize_daily(bars)
    db.upsert(MARKET_DAILY_SUMMARY, summary)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(summary.height),
            "days_with_gaps": dg.MetadataValue.int(summary.filter(pl.col("gap_count") > 0).height),
            "preview": dg.MetadataValue.md(markdown_table(summary.tail(10))),
        }
    )


# -- reads --------------------------------------------------------------------------------------
def _day_bounds(window: MarketSlice) -> tuple[str | None, str | None]:
    first = window.query_first_day
    last = window.query_last_day
    return (first.isoformat() if first else None, (last + timedelta(days=1)).isoformat() if last else None)


@dataclass(frozen=True)
class _RunRead:
    """What this run's raw_ohlcv read: rows counted at the source, their sources, the files it owns whole."""

    source_rows: int
    sources: tuple[str, ...]
    files: tuple[str, ...]


def _source_read_of_run(context: dg.AssetExecutionContext) -> _RunRead | None:
    """raw_ohlcv's count of source rows in this run (None when raw_ohlcv was not materialized in it)."""
    key = context.partition_keys[0]
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_ohlcv"), asset_partitions=[key]), limit=1
    ).records
    if not records or records[0].run_id != context.run_id:
        return None
    metadata = records[0].asset_materialization.metadata  # type: ignore[union-attr]
    if SOURCE_ROWS not in metadata:
        return None
    return _RunRead(
        source_rows=int(metadata[SOURCE_ROWS].value),
        sources=tuple(metadata[READ_SOURCES].value),
        files=tuple(metadata[OWNED_FILES].value),
    )


def _read_raw(db: Warehouse, window: MarketSlice, files: tuple[str, ...] = ()) -> pl.DataFrame:
    """The slice's raw rows, the symbol's rows whose timestamp never parsed (they have no day), and
    every other row of the files this run owns whole (the rows no partition holds; see
    `ops.market.landing`)."""
    where = {"symbol": list(window.symbols)}
    first, end = _day_bounds(window)
    frames = [
        db.read(RAW_OHLCV.name, where, ranges={"date": (first, end)}),
        db.read(RAW_OHLCV.name, {**where, "date": None}),
    ]
    if files:
        owned = {**where, "source": list(files)}
        if first is not None:
            frames.append(db.read(RAW_OHLCV.name, owned, ranges={"date": (None, first)}))
        if end is not None:
            frames.append(db.read(RAW_OHLCV.name, owned, ranges={"date": (end, None)}))
    return pl.concat(frames).select(list(RAW_SCHEMA))


def _read_bars(db: Warehouse, window: MarketSlice, interval: str) -> pl.DataFrame:
    first, last = _day_bounds(window)
    start = day_start(date.fromisoformat(first)) if first else None
    end = day_start(date.fromisoformat(last)) if last else None
    where = {"symbol": list(window.symbols), "interval": interval}
    return db.read(OHLCV.name, where, ranges={"ts": (start, end)}, order_by=["ts"])


def _read_warmup(db: Warehouse, window: MarketSlice, interval: str) -> pl.DataFrame:
    """The WARMUP_BARS bars just before the slice (by count, so gaps in the series do not shorten it)."""
    first, _ = _day_bounds(window)
    if first is None:
        return pl.DataFrame(schema=OHLCV.schema)
    before = {"ts": (None, day_start(date.fromisoformat(first)))}
    return pl.concat(
        [
            db.read(
                OHLCV.name,
                {"symbol": symbol, "interval": interval},
                ranges=before,
                order_by=["ts"],
                descending=True,
                limit=WARMUP_BARS,
            ).reverse()
            for symbol in window.symbols
        ]
    )


def _in_slice(window: MarketSlice) -> pl.Expr:
    first, last = _day_bounds(window)
    expr = pl.lit(True)
    if first:
        expr &= pl.col("date") >= first
    if last:
        expr &= pl.col("date") < last
    return expr


def _date_range_metadata(frame: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    ts = frame["ts"].drop_nulls() if "ts" in frame.columns else pl.Series([])
    if ts.is_empty():
        return {}
    return {"first_ts": dg.MetadataValue.text(str(ts.min())), "last_ts": dg.MetadataValue.text(str(ts.max()))}


MARKET_ASSETS = [raw_ohlcv, validated_ohlcv, ohlcv_features, market_daily_summary]
