"""Where market bars come from: the seeded synthetic generator and the CSV landing folder.

Both give the raw contract (`ops.market.schema.RAW_SCHEMA`), so everything downstream is the same
whichever source is configured. The exchange source (ccxt) is an optional extra and not built in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl

from ops.market.parsing import read_market_csv
from ops.market.schema import RAW_SCHEMA, conform, empty
from ops.market.synthetic import generate_ohlcv

SYNTHETIC_INTERVALS = ("1h", "1d")


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

    def fetch(
        self,
        symbol: str,
        first_day: date | None,
        last_day: date | None,
        files: Sequence[str | Path] = (),
        *,
        plays_from: date | None = None,
    ) -> pl.DataFrame:
        """Raw rows of `symbol` dated in [first_day, last_day] (None: open-ended on that side).

        The synthetic generator has no history of its own: with an open first day it plays from
        `plays_from` (the partitions' first day), else the last 30 days.

        With `files`, only those files are read (the landing sensor names the file that arrived).
        Rows whose timestamp did not parse belong to no day; they are kept, so the cleaner can
        reject them with a reason instead of losing them.
        """
        frames = [read_market_csv(Path(f)) for f in files]
        if not files:
            if self.kind == "synthetic":
                frames.append(self._synthetic(symbol, first_day or plays_from, last_day))
            frames.extend(read_market_csv(p) for p in self.landing_files())
        frames = [conform(f, RAW_SCHEMA) for f in frames if not f.is_empty()]
        if not frames:
            return with_date(empty(RAW_SCHEMA))
        raw = with_date(pl.concat(frames)).filter(pl.col("symbol") == symbol)
        in_range = pl.lit(True)
        if first_day is not None:
            in_range &= pl.col("date") >= first_day.isoformat()
        if last_day is not None:
            in_range &= pl.col("date") <= last_day.isoformat()
        return raw.filter(in_range | pl.col("date").is_null())

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
