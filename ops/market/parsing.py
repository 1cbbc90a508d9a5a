"""Read market-data CSV files of the known public formats into the RAW contract.

Parsing is deliberately forgiving: every data line becomes exactly one row, and a cell that
does not parse becomes null instead of failing the file. Deciding what is wrong with a row is
the cleaner's job (see `cleaning.py`), which can then say *why* a row was rejected. The only
errors raised here are about the file as a whole: an unknown header or an interval that cannot
be recognised.

Two formats are understood:

* Yahoo Finance daily history: ``Date,Open,High,Low,Close,Adj Close,Volume``. It has no symbol
  column, so the symbol comes from the caller or from the file name.
* CryptoDataDownload: ``unix,date,symbol,open,high,low,close,Volume <BASE>,Volume <QUOTE>,
  tradecount``, newest first, with epochs that mix seconds and milliseconds and dates in two
  text formats. Some downloads start with a URL line before the header; it is skipped.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import polars as pl

from ops.market.schema import INTERVAL_SECONDS, RAW_SCHEMA, UTC_TS, conform

#: Quote currencies recognised when a symbol arrives without a separator ("BTCUSDT"). Longest
#: first so that "USDT" wins over "USD".
KNOWN_QUOTES = (
    "FDUSD",
    "USDT",
    "USDC",
    "BUSD",
    "TUSD",
    "DAI",
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "BTC",
    "ETH",
    "BNB",
)

#: Relative slack when matching the median bar spacing to a known interval. Real files are
#: exact, but a file with many gaps can push the median a little off the nominal spacing.
INTERVAL_TOLERANCE = 0.1

_YAHOO_REQUIRED = ("date", "open", "high", "low", "close", "volume")
_YAHOO_ALLOWED = frozenset((*_YAHOO_REQUIRED, "adj close"))
_CDD_PREFIX = ("unix", "date", "symbol", "open", "high", "low", "close")


def normalize_symbol(text: str) -> str:
    """Canonical "BASE-QUOTE" spelling, so that every source names a market the same way.

    "BTC/USDT", "btc_usdt", "BTC-USDT" and "BTCUSDT" all become "BTC-USDT". A text without a
    separator and without a known quote suffix is returned upper-cased as it is.
    """
    cleaned = re.sub(r"[\s/_:\-]+", "-", text.strip().upper()).strip("-")
    if not cleaned:
        raise ValueError(f"empty symbol: {text!r}")
    if "-" not in cleaned:
        for quote in KNOWN_QUOTES:
            if cleaned.endswith(quote) and len(cleaned) > len(quote):
                return f"{cleaned[: -len(quote)]}-{quote}"
    return cleaned


def symbol_from_filename(path: str | os.PathLike[str]) -> str:
    """Guess the market from a file name whose first two underscore tokens are base and quote.

    ``btc_usd_daily_yahoo_2014_2022.csv`` -> ``BTC-USD``. A name with a single token (Yahoo's
    own ``BTC-USD.csv``) is normalised as a whole.
    """
    tokens = [t for t in Path(path).stem.split("_") if t]
    if not tokens:
        raise ValueError(f"cannot derive a symbol from file name {Path(path).name!r}")
    return normalize_symbol("-".join(tokens[:2]))


# --------------------------------------------------------------------------------------------
# Vectorised cell parsers (polars expressions), public so tests and other readers reuse them.
# --------------------------------------------------------------------------------------------


def parse_number(text: pl.Expr) -> pl.Expr:
    """Float from text; anything that is not a number ("null", "NULL", "", "n/a") becomes null."""
    return text.str.strip_chars().cast(pl.Float64, strict=False)


def parse_count(text: pl.Expr) -> pl.Expr:
    """Integer from text, accepting "12" and "12.0"; fractional or non-numeric text becomes null."""
    value = parse_number(text)
    return pl.when(value.is_finite() & (value == value.round(0))).then(value).otherwise(None).cast(pl.Int64)


def parse_epoch(text: pl.Series) -> pl.Series:
    """UTC timestamps from epochs in s, ms, us or ns, the unit decided per value by magnitude.

    CryptoDataDownload switched from seconds ("1503014400.0") to milliseconds
    ("1623283200000") partway through the same file, so the unit cannot be fixed per file.
    Thresholds: below 1e11 is seconds (up to year 5138), below 1e14 milliseconds, below 1e17
    microseconds, else nanoseconds. Integer text is scaled exactly; float text is rounded to the
    microsecond. Text that is not a finite number gives null.
    """
    frame = pl.DataFrame({"text": text.cast(pl.Utf8)}).with_columns(pl.col("text").str.strip_chars())
    frame = frame.with_columns(
        as_int=pl.col("text").cast(pl.Int64, strict=False),
        as_float=pl.col("text").cast(pl.Float64, strict=False),
    ).with_columns(magnitude=pl.col("as_float").abs())
    magnitude = pl.col("magnitude")
    from_int = (
        pl.when(magnitude < 1e11)
        .then(pl.col("as_int") * 1_000_000)
        .when(magnitude < 1e14)
        .then(pl.col("as_int") * 1_000)
        .when(magnitude < 1e17)
        .then(pl.col("as_int"))
        .otherwise(pl.col("as_int") // 1_000)
    )
    scale = (
        pl.when(magnitude < 1e11).then(1e6).when(magnitude < 1e14).then(1e3).when(magnitude < 1e17).then(1.0)
    )
    from_float = pl.when(pl.col("as_float").is_finite() & (magnitude < 1e20)).then(
        (pl.col("as_float") * scale.otherwise(1e-3)).round(0)
    )
    micros = pl.coalesce(from_int, from_float.cast(pl.Int64, strict=False))
    return frame.select(micros.cast(UTC_TS).alias(text.name)).to_series()


_TWELVE_HOUR = r"^(?<day>\d{4}-\d{2}-\d{2}) (?<hour>\d{1,2})[-: ]?(?<half>[AaPp][Mm])$"


def parse_date_text(text: pl.Series) -> pl.Series:
    """UTC timestamps from the date texts the sources use; null where none of them matches.

    Handles "2021-06-10 00:00:00", "2017-08-17" and CryptoDataDownload's 12-hour "2017-08-17
    05-AM" (where "12-AM" is midnight and "12-PM" noon), plus an ISO "T" separator, minutes
    without seconds, fractional seconds and a trailing "Z" or "+00:00". The sources publish UTC,
    so naive text is read as UTC. Every variant is first rewritten to one canonical layout so
    that a single strptime pass does the parsing; the steps are materialised one after the
    other so that no regex runs twice over the column.
    """
    frame = pl.DataFrame({"text": text.cast(pl.Utf8)}).with_columns(
        pl.col("text")
        .str.strip_chars()
        .str.replace(r"(Z|[+-]00:?00)$", "")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})T", "$1 ")
        .str.replace(r"(:\d{2})\.\d+$", "$1")
    )
    frame = frame.with_columns(pl.col("text").str.extract_groups(_TWELVE_HOUR).alias("parts")).unnest("parts")
    hour12 = pl.col("hour").cast(pl.Int32, strict=False)
    is_pm = pl.col("half").str.to_uppercase() == "PM"
    hour24 = pl.when((hour12 >= 1) & (hour12 <= 12)).then(hour12 % 12 + pl.when(is_pm).then(12).otherwise(0))
    twelve_hour = pl.concat_str(
        [pl.col("day"), pl.lit(" "), hour24.cast(pl.Utf8).str.zfill(2), pl.lit(":00:00")]
    )
    twenty_four_hour = (
        pl.col("text")
        .str.replace(r"^(\d{4}-\d{2}-\d{2})$", "$1 00:00:00")
        .str.replace(r"^(\d{4}-\d{2}-\d{2} \d{1,2}:\d{2})$", "$1:00")
    )
    canonical = pl.when(pl.col("day").is_not_null()).then(twelve_hour).otherwise(twenty_four_hour)
    parsed = canonical.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us", time_zone="UTC")
    return frame.select(parsed.alias(text.name)).to_series()


def infer_interval(ts: pl.Series) -> str:
    """The interval whose length matches the median spacing of the distinct timestamps.

    Sorting and de-duplicating first makes this independent of file order (CDD is newest
    first) and of duplicated rows; the median ignores the odd gap.
    """
    distinct = ts.drop_nulls().unique().sort()
    steps = distinct.diff().drop_nulls().dt.total_seconds(fractional=True)
    steps = steps.filter(steps > 0)
    if steps.is_empty():
        raise ValueError("cannot infer the bar interval: fewer than two distinct parsed timestamps")
    median = float(steps.median())  # type: ignore[arg-type]
    for name, seconds in INTERVAL_SECONDS.items():
        if abs(median - seconds) <= INTERVAL_TOLERANCE * seconds:
            return name
    raise ValueError(
        f"cannot infer the bar interval: median spacing is {median:g} s, "
        f"expected one of {', '.join(f'{k} ({v} s)' for k, v in INTERVAL_SECONDS.items())}"
    )


# --------------------------------------------------------------------------------------------
# A file's bytes (resources/market_files.py reads them)
# --------------------------------------------------------------------------------------------


def _locate_header(data: bytes, name: str) -> tuple[int, list[str]]:
    """Index of the header line and its column names, skipping a leading URL or blank lines."""
    for index, line in enumerate(data[:65536].decode("utf-8-sig", errors="replace").splitlines()):
        stripped = line.strip()
        if "," in stripped:
            return index, [column.strip().strip('"') for column in stripped.split(",")]
        if index >= 5:
            break
    raise ValueError(f"{name}: no CSV header found in the first lines")


def _detect_format(columns: list[str]) -> str:
    lowered = [c.lower() for c in columns]
    if set(_YAHOO_REQUIRED) <= set(lowered) and set(lowered) <= _YAHOO_ALLOWED and lowered[0] == "date":
        return "yahoo"
    volumes = [c for c in lowered[len(_CDD_PREFIX) :] if c.startswith("volume ")]
    if tuple(lowered[: len(_CDD_PREFIX)]) == _CDD_PREFIX and len(volumes) == 2:
        return "cdd"
    raise ValueError(
        "unrecognised market CSV header "
        f"{','.join(columns)!r}; expected Yahoo (Date,Open,High,Low,Close,Adj Close,Volume) "
        "or CryptoDataDownload (unix,date,symbol,open,high,low,close,Volume <BASE>,Volume <QUOTE>,tradecount)"
    )


def _yahoo_columns(frame: pl.DataFrame, symbol: str) -> list[pl.Expr | pl.Series]:
    return [
        pl.lit(symbol).alias("symbol"),
        pl.col("date").alias("ts_raw"),
        parse_date_text(frame.get_column("date")).alias("ts"),
        *(parse_number(pl.col(name)).alias(name) for name in ("open", "high", "low", "close", "volume")),
    ]


def _cdd_volume_columns(frame: pl.DataFrame, symbol: str | None) -> tuple[str, str]:
    """(base volume column, quote volume column) of a CDD frame.

    The base is the column named after the symbol's base asset ("Volume BTC" for BTC/USDT);
    if the second column carries that name the two are swapped, otherwise CDD's own order
    (base first) is assumed.
    """
    volumes = [c for c in frame.columns if c.startswith("volume ")]
    if symbol is not None and volumes[1] == f"volume {symbol.split('-')[0].lower()}":
        return volumes[1], volumes[0]
    return volumes[0], volumes[1]


def _symbol_mapping(texts: pl.Series) -> dict[str, str]:
    """Normalised spelling of each distinct symbol text; blank or separator-only text is left out."""
    mapping: dict[str, str] = {}
    for text in texts.drop_nulls().unique().to_list():
        try:
            mapping[text] = normalize_symbol(text)
        except ValueError:
            continue
    return mapping


def _cdd_columns(frame: pl.DataFrame, fallback_symbol: str | None) -> list[pl.Expr | pl.Series]:
    mapping = _symbol_mapping(frame.get_column("symbol"))
    first_known = next((mapping[t] for t in frame.get_column("symbol").drop_nulls() if t in mapping), None)
    base_col, quote_col = _cdd_volume_columns(frame, first_known or fallback_symbol)
    if fallback_symbol is None:
        fallback_symbol = first_known
    unix = pl.col("unix").str.strip_chars()
    has_unix = unix.is_not_null() & (unix != "")
    trade_count = parse_count(pl.col("tradecount")) if "tradecount" in frame.columns else pl.lit(None)
    return [
        pl.col("symbol")
        .replace_strict(mapping, default=None, return_dtype=pl.Utf8)
        .fill_null(pl.lit(fallback_symbol, dtype=pl.Utf8)),
        pl.when(has_unix).then(pl.col("unix")).otherwise(pl.col("date")).alias("ts_raw"),
        parse_epoch(frame.get_column("unix"))
        .fill_null(parse_date_text(frame.get_column("date")))
        .alias("ts"),
        *(parse_number(pl.col(name)).alias(name) for name in ("open", "high", "low", "close")),
        parse_number(pl.col(base_col)).alias("volume"),
        parse_number(pl.col(quote_col)).alias("quote_volume"),
        trade_count.alias("trade_count"),
    ]


def parse_market_csv(data: bytes, name: str, symbol: str | None = None, *, interval: str | None = None) -> pl.DataFrame:
    """Parse the bytes of a Yahoo or CryptoDataDownload CSV file called `name` into RAW_SCHEMA, one
    row per data line.

    `symbol` names the market for Yahoo files (default: derived from the file name) and fills
    missing symbol cells of CDD files. `interval` skips inference, for a file too short to infer
    from; it must be a key of INTERVAL_SECONDS. Rows keep file order; `source_row` is the
    1-based data-line number, so a rejected row can be found in the original file. Entirely
    blank lines are not data lines and produce no row (their number is still counted).
    """
    header_index, columns = _locate_header(data, name)
    kind = _detect_format(columns)
    frame = pl.read_csv(
        io.BytesIO(data),
        infer_schema=False,
        skip_rows=header_index,
        truncate_ragged_lines=True,
        raise_if_empty=False,
        encoding="utf8-lossy",
    )
    frame = frame.rename({c: c.lstrip("\ufeff").strip().strip('"').lower() for c in frame.columns})
    frame = frame.with_row_index("source_row", offset=1)
    frame = frame.filter(pl.any_horizontal(pl.exclude("source_row").is_not_null()))

    if kind == "yahoo":
        market = normalize_symbol(symbol) if symbol is not None else symbol_from_filename(name)
        parsed = frame.with_columns(_yahoo_columns(frame, market))
    else:
        fallback = normalize_symbol(symbol) if symbol is not None else None
        parsed = frame.with_columns(_cdd_columns(frame, fallback))

    if interval is None:
        interval = infer_interval(parsed.get_column("ts"))
    elif interval not in INTERVAL_SECONDS:
        raise ValueError(f"unknown interval {interval!r}; expected one of {sorted(INTERVAL_SECONDS)}")

    parsed = parsed.with_columns(
        pl.lit(Path(name).name).alias("source"),
        pl.col("source_row").cast(pl.Int64),
        pl.lit(interval).alias("interval"),
    )
    return conform(parsed, RAW_SCHEMA)
