"""Where market bars come from: the seeded synthetic generator and the CSV landing folder.

Both give the raw contract (`ops.market.schema.RAW_SCHEMA`), so everything downstream is the same
whichever source is configured. The exchange source (ccxt) is an optional extra and not built in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from ops.market.schema import RAW_SCHEMA, conform, empty
from ops.market.synthetic import generate_ohlcv
from resources.market_files import read_market_csv

SYNTHETIC_INTERVALS = ("1h", "1d")


@dataclass(frozen=True)
class SourceRows:
    """What a source gave a run: its rows, how many were read for it, and the files it owns."""

    rows: pl.DataFrame
    #: Rows read for the run's symbol: with files, every line of them for the symbol, counted
    #: before any filtering; without, the rows of the run's days.
    source_rows: int
    #: Names of the files the run owns whole (empty for the configured source).
    files: tuple[str, ...] = ()


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


class MarketSource:
    """Fetch raw bars for one symbol over whole UTC days, from the configured source."""

    def __init__(self, kind: str, landing_dir: Path, seed: int = 42):
        if kind not in ("synthetic", "landing"):
            raise ValueError(f"MARKET_SOURCE must be 'synthetic' or 'landing', not {kind!r}")
        self.kind = kind
        self.landing_dir = Path(landing_dir)
        self.seed = seed

    def landing_files(self) -> list[Path]:
        if not self.landing_dir.is_dir():
            return []
        return sorted(p for p in self.landing_dir.iterdir() if p.suffix.lower() == ".csv" and p.is_file())

    def read(
        self,
        symbol: str,
        first_day: date | None,
        last_day: date | None,
        files: Sequence[str | Path] = (),
        *,
        plays_from: date | None = None,
    ) -> SourceRows:
        """Raw rows of `symbol` a run over days [first_day, last_day] owns (None: open on that side).

        With `files`, only those files are read (the landing sensor names the file that arrived),
        and the run owns every row of them for `symbol`, whatever its date (the rule is in
        `ops.market.landing`): `source_rows` counts them as read, before anything else.

        Without files the configured source gives the rows dated in [first_day, last_day]. The
        synthetic generator has no history of its own: with an open first day it plays from
        `plays_from` (the partitions' first day), else the last 30 days. Rows of the landing
        folder outside those days are left to the sensor run of their file; rows whose timestamp
        did not parse belong to no day and are kept, so the cleaner rejects them with a reason.
        """
        if files:
            frames = [conform(read_market_csv(Path(f)), RAW_SCHEMA) for f in files]
            raw = with_date(pl.concat(frames)).filter(pl.col("symbol") == symbol)
            return SourceRows(raw, source_rows=raw.height, files=tuple(Path(f).name for f in files))
        frames = []
        if self.kind == "synthetic":
            frames.append(self._synthetic(symbol, first_day or plays_from, last_day))
        frames.extend(read_market_csv(p) for p in self.landing_files())
        frames = [conform(f, RAW_SCHEMA) for f in frames if not f.is_empty()]
        if not frames:
            return SourceRows(with_date(empty(RAW_SCHEMA)), source_rows=0)
        raw = with_date(pl.concat(frames)).filter(pl.col("symbol") == symbol)
        in_range = pl.lit(True)
        if first_day is not None:
            in_range &= pl.col("date") >= first_day.isoformat()
        if last_day is not None:
            in_range &= pl.col("date") <= last_day.isoformat()
        raw = raw.filter(in_range | pl.col("date").is_null())
        return SourceRows(raw, source_rows=raw.height)

    def _synthetic(self, symbol: str, first_day: date | None, last_day: date | None) -> pl.DataFrame:
        today = datetime.now(UTC).date()
        start = day_start(first_day or today - timedelta(days=30))
        # Bars that have not opened yet do not exist: the generator stops at the current hour.
        end = min(day_start((last_day or today) + timedelta(days=1)), datetime.now(UTC))
        if end <= start:
            return empty(RAW_SCHEMA)
        return pl.concat(
            [generate_ohlcv([symbol], interval, start, end, seed=self.seed) for interval in SYNTHETIC_INTERVALS]
        )


def with_date(raw: pl.DataFrame) -> pl.DataFrame:
    """Add the `date` (YYYY-MM-DD of ts, null when ts is null) that partitions a raw row."""
    return raw.with_columns(pl.col("ts").dt.strftime("%Y-%m-%d").alias("date"))
