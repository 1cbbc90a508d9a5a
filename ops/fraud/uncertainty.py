"""Uncertainty of the fraud figures: bootstrap over addresses, percentile 95 % intervals.

A figure on a few thousand held-out addresses moves by a point or more between samples; without an
interval a model "beating" a baseline by 0.003 ROC-AUC says nothing. Resampling is by address (the
unit the folds are grouped by), done as integer weights per row so each resample costs one weighted
metric call. Paired differences resample both predictions with the same weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


def _weights(groups: Sequence[str] | np.ndarray, resamples: int, seed: int):
    _uniq, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = int(inverse.max()) + 1 if len(inverse) else 0
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        counts = np.bincount(rng.integers(0, n_groups, n_groups), minlength=n_groups)
        yield counts[inverse].astype(np.float64)


def _interval(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    lo, hi = np.quantile(values, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return float(lo), float(hi)


def bootstrap_ci(metric: Callable[..., float], y: np.ndarray, scores: Sequence[np.ndarray], groups,
                 resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95 % CI of metric(y, *scores, sample_weight=w) over address resamples (those with one class skipped)."""
    out = []
    for w in _weights(groups, resamples, seed):
        kept = w > 0
        if len(np.unique(y[kept])) < 2:
            continue
        out.append(metric(y, *scores, sample_weight=w))
    return _interval(out)


def _by_score(y, p, sample_weight):
    """Positive and negative weight per distinct score, scores ascending."""
    y = np.asarray(y)
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    _values, inverse = np.unique(np.asarray(p, dtype=np.float64), return_inverse=True)
    pos = np.bincount(inverse, weights=w * (y == 1))
    neg = np.bincount(inverse, weights=w * (y != 1))
    return pos, neg


def roc_auc(y, p, sample_weight=None) -> float:
    """Weighted ROC-AUC (Mann-Whitney, ties count a half); scikit-learn's figure, without its per-call checks."""
    pos, neg = _by_score(y, p, sample_weight)
    below = np.cumsum(neg) - neg  # negative weight strictly below each score
    total = pos.sum() * neg.sum()
    return float(np.sum(pos * (below + 0.5 * neg)) / total) if total > 0 else float("nan")


def pr_auc(y, p, sample_weight=None) -> float:
    """Weighted average precision (scikit-learn's step-wise definition, thresholds from the top)."""
    pos, neg = _by_score(y, p, sample_weight)
    tp, fp = np.cumsum(pos[::-1]), np.cumsum(neg[::-1])
    if tp[-1] <= 0:
        return float("nan")
    precision = tp / np.maximum(tp + fp, 1e-300)
    recall_steps = pos[::-1] / tp[-1]
    return float(np.sum(recall_steps * precision))


def accuracy(y, p, sample_weight=None) -> float:
    """Share of rows on the right side of 0.5, weighted."""
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(np.sum(w * ((np.asarray(p) >= 0.5) == (np.asarray(y) == 1))) / np.sum(w))


def brier(y, p, sample_weight=None) -> float:
    """Mean squared error of the probability, weighted (lower is better)."""
    w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(np.sum(w * (np.asarray(p, dtype=np.float64) - (np.asarray(y) == 1)) ** 2) / np.sum(w))


def auc_difference(y, a, b, sample_weight=None) -> float:
    return roc_auc(y, a, sample_weight) - roc_auc(y, b, sample_weight)


def with_ci(metric: Callable[..., float], y: np.ndarray, scores: Sequence[np.ndarray], groups,
            resamples: int = RESAMPLES, seed: int = 0) -> dict[str, float]:
    """{"value", "ci_low", "ci_high"}: the figure and its 95 % address-bootstrap interval."""
    value = metric(y, *scores) if len(np.unique(y)) == 2 else float("nan")
    lo, hi = bootstrap_ci(metric, y, scores, groups, resamples, seed) if np.isfinite(value) else (np.nan, np.nan)
    return {"value": float(value), "ci_low": lo, "ci_high": hi}


def mean_ci(values: Sequence[float]) -> dict[str, float]:
    """Mean and 95 % t-interval of a few repeated figures (seeds, folds)."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    mean = float(v.mean())
    if len(v) < 2 or v.std(ddof=1) == 0:
        return {"value": mean, "ci_low": mean, "ci_high": mean}
    half = float(stats.t.ppf(1 - (1 - LEVEL) / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
    return {"value": mean, "ci_low": mean - half, "ci_high": mean + half}


#: Label arrangements enumerated exactly up to this many; a random sample of them beyond.
EXACT_ARRANGEMENTS = 20_000
SHUFFLES = 10_000


def auc_p_value(y, p, *, shuffles: int = SHUFFLES, seed: int = 0) -> float:
    """P(ROC-AUC >= the observed one) when the labels are shuffled: how often a random score does as well.

    A bootstrap interval cannot say this on a handful of addresses: resampling 1 fraud and 4 normal
    addresses that the model ranks perfectly gives the interval [1, 1], yet a random score ranks
    them so one time in five. Exact (every arrangement of the positives) when there are at most
    EXACT_ARRANGEMENTS, otherwise estimated from `shuffles` random ones (add-one, never 0).
    """
    from itertools import combinations
    from math import comb

    from scipy.stats import rankdata

    y = np.asarray(y).astype(int)
    scores = np.asarray(p, dtype=np.float64)
    n, k = len(y), int(y.sum())
    if k == 0 or k == n:
        return float("nan")
    ranks = rankdata(scores)  # ties share their mean rank, so rank sums order ROC-AUCs
    observed = ranks[y == 1].sum()
    if comb(n, k) <= EXACT_ARRANGEMENTS:
        sums = np.array([ranks[list(c)].sum() for c in combinations(range(n), k)])
        return float(np.mean(sums >= observed - 1e-9))
    rng = np.random.default_rng(seed)
    hits = sum(ranks[rng.choice(n, k, replace=False)].sum() >= observed - 1e-9 for _ in range(shuffles))
    return float((hits + 1) / (shuffles + 1))

