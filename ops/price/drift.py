"""Population stability index (PSI) of recent returns against the training window.

The reference histogram (decile edges of the training returns and the share of returns in each
bin) is stored with the model, so drift can be measured later from the model's manifest and the
latest bars alone, without the training data.

Conventional reading: below 0.1 no shift, 0.1-0.2 moderate, above 0.2 a significant shift (a
retrain is due). Empty bins are floored at `EPSILON` so the logarithm stays finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EPSILON = 1e-4
DEFAULT_BINS = 10
#: PSI above which a retrain is requested.
DRIFT_THRESHOLD = 0.2


@dataclass(frozen=True)
class Histogram:
    """Inner bin edges (the outer bins are open) and the reference share of each bin."""

    edges: tuple[float, ...]
    shares: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"edges": list(self.edges), "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: dict) -> Histogram:
        return cls(tuple(float(e) for e in data["edges"]), tuple(float(s) for s in data["shares"]))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return np.maximum(counts / max(len(values), 1), EPSILON)


def reference_histogram(values: np.ndarray, bins: int = DEFAULT_BINS) -> Histogram:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < bins:
        raise ValueError(f"{len(values)} values cannot fill {bins} bins")
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    return Histogram(tuple(map(float, edges)), tuple(map(float, _shares(values, edges))))


def psi(reference: Histogram, recent: np.ndarray) -> float:
    """PSI of `recent` values against `reference`: sum over bins of (a - e) * ln(a / e)."""
    recent = np.asarray(recent, dtype=np.float64)
    recent = recent[np.isfinite(recent)]
    if len(recent) == 0:
        raise ValueError("no recent values to compare")
    expected = np.asarray(reference.shares)
    actual = _shares(recent, np.asarray(reference.edges))
    return float(np.sum((actual - expected) * np.log(actual / expected)))


__all__ = ["DRIFT_THRESHOLD", "Histogram", "psi", "reference_histogram"]
