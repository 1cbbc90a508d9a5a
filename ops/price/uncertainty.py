"""How sure an MAE comparison is: block-bootstrap CI of the MAE ratio, Diebold-Mariano, simple baselines.

A point MAE ratio on a few hundred serially dependent returns says little: a 0.2 % edge is well
inside the noise. Everything here works on paired absolute errors of two forecasts of the same rows.

* `mae_ratio_ci`: MAE(baseline) / MAE(model) (above 1: the model is better) with a percentile
  confidence interval from a circular moving-block bootstrap. Blocks keep the serial dependence
  of the errors (volatility clusters; overlapping h-bar targets are MA(h-1)); the block length is
  max(h, ceil(n ** (1/3))), the usual rate for the bootstrap of a mean, never shorter than the
  overlap of the targets. The seed is fixed, so the interval is reproducible.
* `diebold_mariano`: the DM statistic of the loss differential d = |e_baseline| - |e_model|
  (positive: the model is better), its variance Newey-West (Bartlett weights, lag h-1) and the
  Harvey-Leybourne-Newbold small-sample correction, with a two-sided p-value from Student's t with
  n-1 degrees of freedom.
* When several series are pooled (rows of several symbols at the same times), pass `time`: rows
  are first summed per time point, so a block is a stretch of time and the DM lags are time lags.
* Baselines: persistence (a zero return), the training mean, and an AR(1) of the 1-bar returns
  fitted by least squares on the training window only, iterated to the h-bar cumulative return.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Baseline names as they appear in metrics, reasons and tables.
PERSISTENCE, TRAIN_MEAN, AR1 = "persistence", "training mean", "AR(1)"
BASELINES = (PERSISTENCE, TRAIN_MEAN, AR1)


@dataclass(frozen=True)
class RatioCI:
    ratio: float
    low: float
    high: float
    block: int
    resamples: int
    level: float


@dataclass(frozen=True)
class DMTest:
    stat: float
    pvalue: float
    n: int
    mean_diff: float  # mean of |e_baseline| - |e_model| per time point


@dataclass(frozen=True)
class Comparison:
    """The model against its best (lowest-MAE) simple baseline on the same rows."""

    baseline: str
    mae_baselines: dict[str, float]
    ci: RatioCI
    dm: DMTest


@dataclass(frozen=True)
class AR1Fit:
    intercept: float
    phi: float

    def forecast(self, r_t: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast of the cumulative return over the next `horizon` bars from the last return `r_t`."""
        step = np.asarray(r_t, dtype=np.float64)
        total = np.zeros_like(step)
        for _ in range(horizon):
            step = self.intercept + self.phi * step
            total = total + step
        return total


def block_length(n: int, horizon: int = 1) -> int:
    """max(h, ceil(n ** (1/3))), at most n."""
    if n <= 0:
        return 1
    return int(min(n, max(horizon, math.ceil(n ** (1 / 3)))))


def _per_time(values: list[np.ndarray], time: np.ndarray | None) -> tuple[list[np.ndarray], np.ndarray]:
    """Sums of each array per time point (in time order), and the number of rows per point."""
    if time is None:
        return [np.asarray(v, dtype=np.float64) for v in values], np.ones(len(values[0]))
    _, inverse, counts = np.unique(np.asarray(time), return_inverse=True, return_counts=True)
    return [np.bincount(inverse, weights=np.asarray(v, dtype=np.float64)) for v in values], counts.astype(np.float64)


def _check(abs_base: np.ndarray, abs_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(abs_base, dtype=np.float64), np.asarray(abs_model, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired absolute errors must be 1-d arrays of one length, got {a.shape} and {b.shape}")
    return a, b


def mae_ratio_ci(
    abs_base: np.ndarray,
    abs_model: np.ndarray,
    *,
    horizon: int = 1,
    time: np.ndarray | None = None,
    block: int | None = None,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> RatioCI:
    """MAE(baseline) / MAE(model) with a circular moving-block bootstrap percentile CI (see the module)."""
    a, b = _check(abs_base, abs_model)
    if len(a) == 0:
        nan = float("nan")
        return RatioCI(nan, nan, nan, 0, 0, level)
    (sa, sb), _ = _per_time([a, b], time)
    ratio = float(sa.sum() / sb.sum()) if sb.sum() > 0 else float("nan")
    n = len(sa)
    length = block or block_length(n, horizon)
    # Sums of every block of `length` consecutive points, wrapping around the end (circular).
    def block_sums(x: np.ndarray) -> np.ndarray:
        c = np.concatenate(([0.0], np.cumsum(np.concatenate((x, x[: length - 1])))))
        return c[length:length + n] - c[:n]

    ba, bb = block_sums(sa), block_sums(sb)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(resamples, math.ceil(n / length)))
    den = bb[starts].sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = ba[starts].sum(axis=1) / den
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return RatioCI(ratio, float("nan"), float("nan"), length, resamples, level)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return RatioCI(ratio, float(low), float(high), length, resamples, level)


def newey_west_variance(d: np.ndarray, lags: int) -> float:
    """Long-run variance of `d`: autocovariances up to `lags` with Bartlett weights 1 - k/(lags+1)."""
    d = np.asarray(d, dtype=np.float64) - np.mean(d)
    n = len(d)
    var = float(d @ d / n)
    for k in range(1, min(lags, n - 1) + 1):
        var += 2 * (1 - k / (lags + 1)) * float(d[k:] @ d[:-k] / n)
    return var


def diebold_mariano(
    abs_base: np.ndarray, abs_model: np.ndarray, *, horizon: int = 1, time: np.ndarray | None = None
) -> DMTest:
    """DM test of equal absolute-error loss, HAC variance with lag h-1, HLN-corrected (see the module)."""
    a, b = _check(abs_base, abs_model)
    (sa, sb), counts = _per_time([a, b], time)
    d = (sa - sb) / counts
    n = len(d)
    if n < 2:
        return DMTest(float("nan"), float("nan"), n, float(d.mean()) if n else float("nan"))
    mean = float(d.mean())
    var = newey_west_variance(d, horizon - 1)
    if var <= 0 or not math.isfinite(var):
        var = float(np.var(d))
    if var <= 0:  # every differential equal: no evidence either way when they are all zero
        return DMTest(0.0 if mean == 0 else math.copysign(math.inf, mean), 1.0 if mean == 0 else 0.0, n, mean)
    dm = mean / math.sqrt(var / n)
    h = horizon
    correction = math.sqrt(max(n + 1 - 2 * h + h * (h - 1) / n, 0.0) / n)
    stat = dm * correction
    from scipy import stats  # here: scipy.stats costs every Dagster run process ~0.5 s to import

    pvalue = float(2 * stats.t.sf(abs(stat), df=n - 1))
    return DMTest(float(stat), pvalue, n, mean)


def fit_ar1(previous: np.ndarray, current: np.ndarray) -> AR1Fit:
    """Least-squares AR(1) of returns, r_t = c + phi r_{t-1}, over the finite pairs given."""
    x, y = np.asarray(previous, dtype=np.float64), np.asarray(current, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 3 or np.var(x) == 0:
        return AR1Fit(float(y.mean()) if len(y) else 0.0, 0.0)
    phi = float(np.cov(x, y, bias=True)[0, 1] / np.var(x))
    return AR1Fit(float(y.mean() - phi * x.mean()), phi)


def compare(
    y: np.ndarray,
    model: np.ndarray,
    baselines: Mapping[str, np.ndarray],
    *,
    horizon: int = 1,
    time: np.ndarray | None = None,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """The model against the baseline with the lowest MAE on the same rows: ratio, CI and DM."""
    y = np.asarray(y, dtype=np.float64)
    abs_model = np.abs(y - model)
    errors = {name: np.abs(y - pred) for name, pred in baselines.items()}
    maes = {name: float(e.mean()) for name, e in errors.items()}
    best = min(maes, key=lambda name: (maes[name], list(maes).index(name)))
    ci = mae_ratio_ci(errors[best], abs_model, horizon=horizon, time=time, resamples=resamples, seed=seed)
    dm = diebold_mariano(errors[best], abs_model, horizon=horizon, time=time)
    return Comparison(best, maes, ci, dm)


__all__ = [
    "AR1",
    "BASELINES",
    "PERSISTENCE",
    "TRAIN_MEAN",
    "AR1Fit",
    "Comparison",
    "DMTest",
    "RatioCI",
    "block_length",
    "compare",
    "diebold_mariano",
    "fit_ar1",
    "mae_ratio_ci",
    "newey_west_variance",
]
