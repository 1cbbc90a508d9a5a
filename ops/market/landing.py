"""What a landing file covers: the symbols in it and the span of days of each, for run planning."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl


@dataclass(frozen=True)
class FileSpan:
    """One symbol's days in a file, clipped to the days a partition can hold."""

    symbol: str
    first_day: date
    last_day: date
    rows: int


def file_spans(raw: pl.DataFrame, earliest: date, latest: date) -> list[FileSpan]:
    """One span per symbol of a raw frame, clipped to [earliest, latest].

    Rows whose timestamp did not parse have no day: they do not widen a span (the run over the
    span still reads them, and the cleaner rejects them). A symbol with no parsed timestamp at
    all gets the latest day, so its rows still get a run and a reason.
    """
    spans = []
    for (symbol,), rows in raw.group_by(["symbol"], maintain_order=True):
        ts = rows["ts"].drop_nulls()
        first = ts.min().date() if len(ts) else latest
        last = ts.max().date() if len(ts) else latest
        first = min(max(first, earliest), latest)
        last = min(max(last, earliest), latest)
        spans.append(FileSpan(symbol=symbol, first_day=first, last_day=last, rows=rows.height))
    return sorted(spans, key=lambda s: s.symbol)
