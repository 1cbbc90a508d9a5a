"""Row accounting: every row a run took from its source ends in `ohlcv` or in `ohlcv_rejects`.

The count on the input side is taken where the rows are read, before anything filters them (see
`ops.market.landing` for which rows of a file a run owns), so a row lost on the way (a filter, a
write, a read back from the warehouse) shows as missing instead of vanishing from both sides of
the comparison.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class RowAccount:
    """Rows a run's source gave against the rows the cleaner kept or rejected, of the same sources."""

    source_rows: int
    kept: int
    rejected: int

    @property
    def missing(self) -> int:
        """Source rows in neither table (negative: more judged rows than the source gave)."""
        return self.source_rows - self.kept - self.rejected

    @property
    def balanced(self) -> bool:
        return self.missing == 0

    def to_metadata(self) -> dict[str, int]:
        return {
            "source_rows": self.source_rows,
            "bars": self.kept,
            "rejects": self.rejected,
            "missing": self.missing,
        }


def _of_sources(frame: pl.DataFrame, sources: Collection[str] | None) -> int:
    if sources is None:
        return frame.height
    return frame.filter(pl.col("source").is_in(list(sources))).height


def account_rows(
    source_rows: int, clean: pl.DataFrame, rejects: pl.DataFrame, sources: Collection[str] | None = None
) -> RowAccount:
    """Compare `source_rows` (rows read for the run) with the kept and rejected rows of `sources`.

    The cleaner also re-judges rows of other sources that share the run's days (so duplicates
    across sources are decided on all of them); only rows of the run's own sources are compared.
    `sources=None` counts every row.
    """
    return RowAccount(
        source_rows=source_rows, kept=_of_sources(clean, sources), rejected=_of_sources(rejects, sources)
    )
