"""Population stability index (PSI) per feature, between the training rows and the latest features.

Bins are the training quantiles (deciles) of each feature plus a bin for missing values; the
reference fractions are stored with the model, so drift is measured against what it learned from.
Reading: below 0.1 stable, 0.1-0.25 moderate shift, above 0.25 a population the model has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PSI_BINS = 10
#: Fractions are floored at this so an empty bin does not make the index infinite.
EPSILON = 1e-4
#: PSI above this for a feature is reported as drift (the check warns).
PSI_WARN = 0.25


@dataclass
class ReferenceHistograms:
    features: tuple[str, ...]
    edges: list[np.ndarray]
    fractions: list[np.ndarray]  # len(edges) + 2: bins (-inf, e0) ... [ek, inf), then missing


def _fractions(col: np.ndarray, edges: np.ndarray) -> np.ndarray:
    nan = np.isnan(col)
    counts = np.bincount(np.searchsorted(edges, col[~nan], side="right"), minlength=len(edges) + 1)
    out = np.append(counts, nan.sum()).astype(np.float64)
    return out / max(len(col), 1)


def reference_histograms(x: np.ndarray, features: Sequence[str]) -> ReferenceHistograms:
    edges, fractions = [], []
    for j in range(x.shape[1]):
        col = x[:, j]
        finite = col[~np.isnan(col)]
        e = np.unique(np.quantile(finite, np.linspace(0, 1, PSI_BINS + 1)[1:-1])) if finite.size else np.array([])
        edges.append(e)
        fractions.append(_fractions(col, e))
    return ReferenceHistograms(tuple(features), edges, fractions)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.maximum(expected, EPSILON)
    a = np.maximum(actual, EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def psi_per_feature(reference: ReferenceHistograms, x: np.ndarray) -> dict[str, float]:
    """PSI of each feature of `x` (columns in `reference.features` order) against the reference."""
    if x.shape[0] == 0:
        return {}
    return {
        name: psi(reference.fractions[j], _fractions(x[:, j], reference.edges[j]))
        for j, name in enumerate(reference.features)
    }
