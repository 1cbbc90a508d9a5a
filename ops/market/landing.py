"""What a landing file covers, for run planning, and which of its rows a run owns.

The rule that makes every row of a landing file land exactly once:

* The landing sensor starts exactly one run per (file, symbol) of the file, over `file_spans`:
  the first to the last day of that symbol's rows that a market partition can hold.
* That run owns every row of the file for its symbol, whatever its date: the rows of its days,
  and the rows no partition can hold, which are therefore never another run's (no parsed
  timestamp: unparseable_timestamp; dated before the partitions' first day: out_of_range; after
  today: future_timestamp). Rows of other symbols belong to the runs of those symbols.
* A run without files (the configured source: synthetic and/or the landing folder, on a
  schedule or by hand) owns only the rows of its own days (and those open on the partitions'
  outer sides); the other rows of a landing file belong to the sensor run of that file.

So a row dated outside every partition neither widens a span (a single bar from 2009 does not
turn a file of one week into a run of years) nor is dropped for being outside the run's days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl


@dataclass(frozen=True)
class FileSpan:
    """One symbol's days in a file, within the days a partition can hold, and its number of rows."""

    symbol: str
    first_day: date
    last_day: date
    rows: int


def file_spans(raw: pl.DataFrame, earliest: date, latest: date) -> list[FileSpan]:
    """One span per symbol of a raw frame: the first to the last day of its rows in [earliest, latest].

    Rows no partition can hold (no parsed timestamp, or dated before `earliest` or after
    `latest`) do not widen a span: the span's run reads them all the same (see the module
    docstring) and the cleaner rejects them with a reason. A symbol with none of its rows in
    the partitions gets one day, `earliest` if some row is dated before it, else `latest`, so
    its rows still get a run and a reason.
    """
    spans = []
    for (symbol,), rows in raw.group_by(["symbol"], maintain_order=True):
        days = rows["ts"].drop_nulls().dt.date()
        inside = days.filter((days >= earliest) & (days <= latest))
        if len(inside):
            first, last = inside.min(), inside.max()
        else:
            first = last = earliest if len(days) and days.min() < earliest else latest
        spans.append(FileSpan(symbol=symbol, first_day=first, last_day=last, rows=rows.height))  # type: ignore[arg-type]
    return sorted(spans, key=lambda s: s.symbol)
