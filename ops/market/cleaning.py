"""Split raw bars into validated OHLCV bars and explained rejects.

The cleaner never drops a row silently: every input row ends either in the clean frame or in
the rejects frame with exactly one reason, so a row count reconciles end to end and anyone can
ask "what happened to line 35,092 of that file?". Rules are checked in the order of
REJECT_REASONS and the first failing rule wins, which keeps the reason deterministic and the
cheaper, more basic explanation ahead of the derived ones (a row with a null price is reported as
missing a value, not as inconsistent).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import polars as pl

from ops.market.schema import (
    INTERVAL_SECONDS,
    OHLCV_KEY,
    OHLCV_SCHEMA,
    RAW_SCHEMA,
    REJECTS_SCHEMA,
    UTC_TS,
    conform,
)

#: Largest believable high/low ratio of one bar. A genuine hourly candle does not triple; such a
#: bar is a bad print (the CDD hourly file opens 2017-08-17 04:00 at 16,199.91 with BTC near
#: 4,300). A day is allowed more, for crash days.
MAX_HIGH_LOW_RATIO = {"1h": 3.0, "1d": 5.0}

#: Relative slack for the OHLC ordering checks, so that float round-off in a source that stored
#: rounded prices does not reject a sound bar.
OHLC_TOLERANCE = 1e-9

_PRICES = ("open", "high", "low", "close")
_REQUIRED = (*_PRICES, "volume")


def _missing(name: str) -> pl.Expr:
    """Null or not a finite number (NaN, inf): none of these can be stored as a price."""
    return pl.col(name).is_null() | ~pl.col(name).is_finite()


def _named(checks: dict[str, pl.Expr], prefix: str) -> pl.Expr:
    """`prefix` followed by the names of the checks that hold, comma separated."""
    return pl.concat_str(
        [
            pl.lit(prefix),
            pl.concat_str(
                [pl.when(c).then(pl.lit(n)) for n, c in checks.items()], separator=", ", ignore_nulls=True
            ),
        ]
    )


def _row_rules(first_day: date | None = None) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(reason, failing condition, detail) for the rules that look at one row alone, in order.

    `first_day` is the market partitions' first day: a bar dated before it belongs to no
    partition and is rejected as out_of_range (None: no such bound, the rule never fires).
    """
    o, h, lo, c, v = (pl.col(n) for n in _REQUIRED)
    body_high = pl.max_horizontal(o, c)
    body_low = pl.min_horizontal(o, c)
    high_below_body = h < body_high * (1 - OHLC_TOLERANCE)
    low_above_body = lo > body_low * (1 + OHLC_TOLERANCE)
    high_below_low = h < lo * (1 - OHLC_TOLERANCE)
    ratio = h / lo
    limit = pl.col("interval").replace_strict(MAX_HIGH_LOW_RATIO, default=None, return_dtype=pl.Float64)
    return [
        (
            "unparseable_timestamp",
            pl.col("ts").is_null(),
            pl.format("timestamp text {} could not be parsed", pl.col("ts_raw").fill_null("<empty>")),
        ),
        _out_of_range_rule(first_day),
        (
            "missing_value",
            pl.any_horizontal([_missing(n) for n in _REQUIRED]),
            _named({n: _missing(n) for n in _REQUIRED}, "null or not a number: "),
        ),
        (
            "non_positive_price",
            pl.any_horizontal([pl.col(n) <= 0 for n in _PRICES]),
            _named({n: pl.col(n) <= 0 for n in _PRICES}, "price <= 0: "),
        ),
        ("negative_volume", v < 0, pl.format("volume {} is negative", v)),
        (
            "ohlc_inconsistent",
            high_below_body | low_above_body | high_below_low,
            pl.concat_str(
                [
                    pl.format("open {} high {} low {} close {}: ", o, h, lo, c),
                    _named(
                        {
                            "high < max(open, close)": high_below_body,
                            "low > min(open, close)": low_above_body,
                            "high < low": high_below_low,
                        },
                        "",
                    ),
                ]
            ),
        ),
        (
            "implausible_range",
            ratio > limit,
            pl.format(
                "high/low = {} exceeds {} allowed for a {} bar", ratio.round(3), limit, pl.col("interval")
            ),
        ),
    ]


def _out_of_range_rule(first_day: date | None) -> tuple[str, pl.Expr, pl.Expr]:
    if first_day is None:
        return "out_of_range", pl.lit(False), pl.lit(None, dtype=pl.Utf8)
    start = pl.lit(datetime.combine(first_day, time(0), tzinfo=UTC)).cast(UTC_TS)
    return (
        "out_of_range",
        pl.col("ts") < start,
        pl.format(
            "dated {}, before the market partitions' first day {} (MARKET_START_DATE)",
            pl.col("ts").dt.strftime("%Y-%m-%d"),
            pl.lit(first_day.isoformat()),
        ),
    )


def _iso(ts: pl.Expr) -> pl.Expr:
    return ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _as_utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def _check_intervals(raw: pl.DataFrame) -> None:
    """Fail loudly on an interval the platform does not know: that is a producer bug, not bad data."""
    unknown = set(raw.get_column("interval").unique().to_list()) - set(INTERVAL_SECONDS)
    if unknown:
        raise ValueError(
            f"unknown interval(s) {sorted(map(str, unknown))}; expected {sorted(INTERVAL_SECONDS)}"
        )


def _interval_duration() -> pl.Expr:
    seconds = pl.col("interval").replace_strict(INTERVAL_SECONDS, return_dtype=pl.Int64)
    return pl.duration(seconds=seconds)


def clean_ohlcv(
    raw: pl.DataFrame, now: datetime | None = None, *, first_day: date | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(clean bars in OHLCV_SCHEMA, rejected rows in REJECTS_SCHEMA); together exactly the input.

    `now` is the time of cleaning (default: the current UTC time; a naive value is read as UTC);
    bars that open after it are rejected as future_timestamp. `first_day` is the first day a
    market partition holds: bars dated before it are rejected as out_of_range (a bar after the
    last partition, today, opens in the future: future_timestamp). Of several valid rows for the
    same (symbol, interval, ts), the one with the lowest source_row is kept (ties broken by
    source), which for CryptoDataDownload is the newer, more precise millisecond-era row.
    """
    raw = conform(raw, RAW_SCHEMA)
    _check_intervals(raw)
    cutoff = _as_utc(now)

    reason: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    detail: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for name, failing, explanation in reversed(_row_rules(first_day)):
        reason = pl.when(failing.fill_null(False)).then(pl.lit(name)).otherwise(reason)
        detail = pl.when(failing.fill_null(False)).then(explanation).otherwise(detail)
    judged = raw.with_columns(reason=reason, detail=detail)

    # Duplicates are judged among the rows that survived the row rules only, so a broken row
    # never displaces a sound one. Sorting by (source_row, source) makes "first" the kept row.
    group = ["symbol", "interval", "ts", "_valid"]
    judged = (
        judged.with_columns(_valid=pl.col("reason").is_null())
        .sort("source_row", "source", nulls_last=True, maintain_order=True)
        .with_columns(
            _rank=pl.int_range(1, pl.len() + 1).over(group),
            _kept_source=pl.col("source").first().over(group),
            _kept_row=pl.col("source_row").first().over(group),
        )
    )
    duplicate = pl.col("_valid") & (pl.col("_rank") > 1)
    future = pl.col("_valid") & (pl.col("ts") > pl.lit(cutoff).cast(UTC_TS))
    judged = judged.with_columns(
        reason=pl.when(duplicate)
        .then(pl.lit("duplicate_timestamp"))
        .when(future)
        .then(pl.lit("future_timestamp"))
        .otherwise(pl.col("reason")),
        detail=pl.when(duplicate)
        .then(
            pl.format(
                "same symbol, interval and ts {} as the kept row {} of {}",
                _iso(pl.col("ts")),
                pl.col("_kept_row"),
                pl.col("_kept_source"),
            )
        )
        .when(future)
        .then(
            pl.format(
                "bar opens at {}, after the cleaning time {}",
                _iso(pl.col("ts")),
                pl.lit(cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")),
            )
        )
        .otherwise(pl.col("detail")),
    ).drop("_valid", "_rank", "_kept_source", "_kept_row")

    rejects = (
        judged.filter(pl.col("reason").is_not_null())
        .with_columns(date=pl.col("ts").dt.strftime("%Y-%m-%d"))
        .sort("source", "source_row")
    )
    clean = (
        judged.filter(pl.col("reason").is_null())
        .sort(OHLCV_KEY)
        .with_columns(
            date=pl.col("ts").dt.strftime("%Y-%m-%d"),
            gap_before=(pl.col("ts").diff().over("symbol", "interval") > _interval_duration()).fill_null(
                False
            ),
        )
    )
    return conform(clean, OHLCV_SCHEMA), conform(rejects, REJECTS_SCHEMA)


GAPS_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.Utf8,
    "interval": pl.Utf8,
    "gap_start": UTC_TS,  # open time of the first missing bar
    "gap_end": UTC_TS,  # open time of the bar that resumes the series (exclusive end)
    "missing_bars": pl.Int64,
}


def find_gaps(clean: pl.DataFrame) -> pl.DataFrame:
    """One row per hole in each (symbol, interval) series of a clean frame.

    The hole is the half-open span [gap_start, gap_end), the same convention as the synthetic
    generator's [start, end), so a gap row can be handed to a backfill as it is. A spacing that is
    not a whole number of intervals (a misaligned bar) still counts its partial slot as missing,
    so every bar flagged `gap_before` yields a gap with at least one missing bar.
    """
    if clean.is_empty():
        return pl.DataFrame(schema=GAPS_SCHEMA)
    step = _interval_duration()
    gaps = (
        clean.select("symbol", "interval", "ts")
        .sort("symbol", "interval", "ts")
        .with_columns(previous=pl.col("ts").shift(1).over("symbol", "interval"))
        .filter((pl.col("ts") - pl.col("previous")) > step)
        .with_columns(
            gap_start=pl.col("previous") + step,
            gap_end=pl.col("ts"),
            missing_bars=(
                (pl.col("ts") - pl.col("previous")).dt.total_microseconds() / (step.dt.total_microseconds())
            )
            .ceil()
            .cast(pl.Int64)
            - 1,
        )
    )
    return gaps.select(list(GAPS_SCHEMA)).cast(GAPS_SCHEMA)  # type: ignore[arg-type]
