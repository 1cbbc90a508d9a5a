"""Reason codes: which features pushed an address's score up.

Choice: per-feature contributions from the model's own partial dependence, against the average
address as the reference, precomputed at training time into a lookup table.

For each feature j and each of its value bins b (training quantiles, plus a "missing" bin), the
table holds  E_r[logit f(x_r with x_j := v_b)] - E_r[logit f(x_r)]  over a reference sample r of
training rows: how much the model's log-odds move, on average, when an address's feature j takes a
value like v_b instead of its own. An address's contribution from j is the entry of the bin its
value falls in; the reasons are the features with the largest positive contributions.

Why not per-row occlusion ("score again with x_j replaced by the reference value") or SHAP-like
attributions through the tree paths: both cost at least one model evaluation per feature per row
(or a Python walk over every tree), i.e. ~40x the scoring itself, and the batch must score a million
addresses in about the time of one predict. The table costs one binary search per feature per row.
It is exact for the additive part of the model and misses interactions; it answers "which of this
address's values does the model consider risky", which is what a reviewer asks first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Value bins per feature (quantiles of the training rows; fewer when a feature has few values).
BINS = 12
#: Rows of the reference sample the partial dependence averages over.
REFERENCE_ROWS = 256
#: A contribution below this (log-odds) is not a reason: it barely moved the score.
MIN_CONTRIBUTION = 0.05
TOP_REASONS = 3


@dataclass
class Evidence:
    """Per feature: bin edges (interior, increasing), the contribution of each bin, and of a missing value."""

    features: tuple[str, ...]
    edges: list[np.ndarray]
    contributions: list[np.ndarray]  # len(edges[j]) + 1 values: bins (-inf, e0), [e0, e1), ..., [ek, inf)
    missing: np.ndarray  # one contribution per feature for NaN

    def contributions_of(self, x: np.ndarray) -> np.ndarray:
        """(rows, features) log-odds contributions of each feature value."""
        out = np.empty(x.shape, dtype=np.float32)
        for j in range(x.shape[1]):
            col = x[:, j]
            idx = np.searchsorted(self.edges[j], col, side="right")
            out[:, j] = self.contributions[j][idx]
            nan = np.isnan(col)
            if nan.any():
                out[nan, j] = self.missing[j]
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def fit_evidence(classifier, x: np.ndarray, features: Sequence[str], seed: int = 0) -> Evidence:
    """The partial-dependence table of `classifier` over the training matrix `x` (see the module doc)."""
    rng = np.random.default_rng(seed)
    ref = x[rng.choice(len(x), size=min(REFERENCE_ROWS, len(x)), replace=False)]
    base = float(np.mean(_logit(classifier.predict_proba(ref)[:, 1])))
    edges, values, blocks = [], [], []
    for j in range(x.shape[1]):
        col = x[:, j][~np.isnan(x[:, j])]
        if col.size == 0:
            e = np.array([], dtype=np.float64)
            reps = np.array([0.0])
        else:
            e = np.unique(np.quantile(col, np.linspace(0, 1, BINS + 1)[1:-1]))
            idx = np.searchsorted(e, col, side="right")
            reps = np.array([np.median(col[idx == b]) if np.any(idx == b) else (e[min(b, len(e) - 1)] if len(e) else 0.0)
                             for b in range(len(e) + 1)])
        edges.append(e)
        values.append(np.append(reps, np.nan))  # the last one is the missing bin
    for j, vals in enumerate(values):
        for v in vals:
            block = ref.copy()
            block[:, j] = v
            blocks.append(block)
    p = classifier.predict_proba(np.vstack(blocks))[:, 1]
    means = _logit(p).reshape(-1, len(ref)).mean(axis=1) - base
    contributions, missing, k = [], np.empty(len(values)), 0
    for j, vals in enumerate(values):
        n = len(vals)
        contributions.append(means[k : k + n - 1].astype(np.float32))
        missing[j] = means[k + n - 1]
        k += n
    return Evidence(tuple(features), edges, contributions, missing.astype(np.float32))


def top_reasons(contributions: np.ndarray, k: int = TOP_REASONS, floor: float = MIN_CONTRIBUTION):
    """(indices, values): per row the `k` largest contributions, largest first; -1 where below `floor`.

    k passes of argmax (masking each winner) rather than a sort of every row: for k = 3 of ~40
    features that is several times faster on a million rows.
    """
    k = min(k, contributions.shape[1])
    work = np.array(contributions, dtype=np.float32, copy=True)
    rows = np.arange(len(work))
    idx = np.empty((len(work), k), dtype=np.int64)
    vals = np.empty((len(work), k), dtype=np.float32)
    for i in range(k):
        best = work.argmax(axis=1)
        idx[:, i] = best
        vals[:, i] = work[rows, best]
        work[rows, best] = -np.inf
    idx = np.where(vals >= floor, idx, -1)
    return idx, vals
