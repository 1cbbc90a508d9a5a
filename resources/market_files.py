"""Market CSV files from disk, parsed by the pure parser in ops/market/parsing.py.

The landing folder's files and the public data files are read here, so the parser itself stays
free of I/O and is tested on bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from ops.market.parsing import parse_market_csv


def read_market_csv(path: str | os.PathLike[str], symbol: str | None = None, *,
                    interval: str | None = None) -> pl.DataFrame:  # fmt: skip
    """The file at `path` as RAW_SCHEMA rows (`ops.market.parsing.parse_market_csv`)."""
    path = Path(path)
    return parse_market_csv(path.read_bytes(), path.name, symbol, interval=interval)
