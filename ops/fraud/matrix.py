"""Frames of features to numpy matrices, and the log scale the unsupervised models work in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from ops.fraud.schema import FEATURES


def feature_matrix(frame: pl.DataFrame, features: Sequence[str] = FEATURES) -> np.ndarray:
    """A float64 matrix of `features` in that order; nulls become NaN (the boosted trees route them)."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"feature frame lacks columns {missing[:5]}")
    return frame.select([pl.col(f).cast(pl.Float64) for f in features]).to_numpy().astype(np.float64, copy=False)


def signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) * log1p(|x|) as float32, NaN as 0: counts and ether amounts span ten orders of magnitude,
    and a random split between a column's min and max (IsolationForest) or a Euclidean distance
    (HDBSCAN) is only meaningful once they are compressed. float32 is what the forest's trees use;
    the operations run in place (a million rows are scored in one go)."""
    z = np.abs(x).astype(np.float32)
    np.log1p(z, out=z)
    np.copysign(z, x.astype(np.float32, copy=False), out=z)
    z[~np.isfinite(z)] = 0.0
    return z
