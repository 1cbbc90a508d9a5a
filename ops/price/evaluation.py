"""Walk-forward evaluation against the baselines, on the same splits.

The labelled rows from `min_train_fraction` of the time span on are cut into `folds` consecutive
test blocks. For each block the whole pipeline (`fit_ensemble`: stacking, intervals, gate) is
fitted on every row before the block whose target ends before the block starts (embargo), then
predicts the block. Nothing about a test block, not even its size, influences any fit.

Per fold and pooled over folds, per horizon:

* MAE and RMSE of the model and MAE of three simple baselines: persistence (a zero log return:
  "the price stays"), the training mean (the average return of the fold's training rows) and an
  AR(1) of the 1-bar returns fitted on the fold's training rows only (`ops.price.uncertainty`);
* `mae_ratio` is MAE(best baseline) / MAE(model), the best baseline being the one with the lowest
  MAE on the same rows (above 1: the model beats every simple baseline); `mae_ratio_persistence`
  is MAE(persistence) / MAE(model);
* pooled over the test folds: a 95 % block-bootstrap CI of both ratios (`mae_ratio_ci_low`,
  `mae_ratio_ci_high`, `mae_ratio_persistence_ci_low`, ...) and the Diebold-Mariano test of the
  model against the best baseline on absolute errors (`dm_stat`, `dm_pvalue`; HAC lag h-1, HLN
  correction); rows of several symbols at one time are resampled together. The best baseline's
  name is in `Evaluation.baselines` (metrics are floats); `best_baseline_index` is its position in
  `ops.price.uncertainty.BASELINES`;
* directional accuracy (sign of forecast = sign of outcome, over rows that moved) beside the
  up-share of the same rows: always guessing "up" scores the up-share, so that, not 50 %, is the
  bar a direction forecast has to clear;
* coverage of the prediction interval (nominal `interval_level`), pooled and per fold
  (`coverage_fold{f}`, `coverage_fold_min`, `coverage_fold_max`): a drift across folds shows there;
* the promoted forecast: the model where its gate (fitted on training data only) passed, else
  persistence. Its MAE is what deploying with the promotion rule would have scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ops.price.dataset import INPUTS, RETURN_LAGS, Supervised
from ops.price.ensemble import (
    EnsembleConfig,
    embargoed_before,
    fit_ensemble,
    persistence_prediction,
    time_blocks,
)
from ops.price.uncertainty import (
    AR1,
    BASELINES,
    PERSISTENCE,
    TRAIN_MEAN,
    AR1Fit,
    compare,
    fit_ar1,
    mae_ratio_ci,
)

Log = Callable[[str], None]


@dataclass(frozen=True)
class WalkForwardConfig:
    folds: int = 4
    min_train_fraction: float = 0.5


@dataclass
class Evaluation:
    """Per-fold metrics, pooled metrics per horizon, and every test prediction (for plots)."""

    folds: pl.DataFrame
    summary: dict[str, dict[str, float]]
    predictions: pl.DataFrame
    horizons: tuple[int, ...]
    level: float
    extra: dict[str, Any] = field(default_factory=dict)
    baselines: dict[int, str] = field(default_factory=dict)  # horizon -> best simple baseline (pooled)

    def flat_metrics(self) -> dict[str, float]:
        """`h{h}_{metric}` -> value, plus the worst-horizon `mae_ratio` (vs the best baseline: what
        promotion compares with the current version), its worst CI bound and `mae_ratio_persistence`."""
        out = {f"h{h}_{k}": v for h, metrics in self.summary.items() for k, v in metrics.items()}
        ratios = [m["mae_ratio"] for m in self.summary.values()]
        out["mae_ratio"] = float(min(ratios)) if ratios else float("nan")
        lows = [m.get("mae_ratio_ci_low", float("nan")) for m in self.summary.values()]
        out["mae_ratio_ci_low"] = float(min(lows)) if lows else float("nan")
        versus = [m["mae_ratio_persistence"] for m in self.summary.values()]
        out["mae_ratio_persistence"] = float(min(versus)) if versus else float("nan")
        promoted = [m["mae_ratio_promoted"] for m in self.summary.values()]
        out["mae_ratio_promoted"] = float(min(promoted)) if promoted else float("nan")
        return out


def _ar1(train: Supervised) -> AR1Fit:
    """AR(1) of 1-bar returns on the training rows: each row's return against its previous bar's."""
    current = train.tabular[:, INPUTS.index("log_return_1")]
    previous = train.tabular[:, len(INPUTS) + RETURN_LAGS.index(1)]
    return fit_ar1(previous, current)


def ar1_prediction(fit: AR1Fit, data: Supervised) -> np.ndarray:
    """Rows x horizons: the AR(1) forecast of each horizon's cumulative log return."""
    last = data.tabular[:, INPUTS.index("log_return_1")]
    return np.column_stack([fit.forecast(last, h) for h in data.horizons])


def metrics(y: np.ndarray, pred: np.ndarray, lower: np.ndarray, upper: np.ndarray, train_mean: np.ndarray,
            promoted: np.ndarray, ar1: np.ndarray | None = None) -> dict[str, float]:
    """Metrics of one horizon's column vectors (see the module docstring)."""
    err = y - pred
    moved = y != 0
    up_share = float((y[moved] > 0).mean()) if moved.any() else float("nan")
    direction = float((np.sign(pred[moved]) == np.sign(y[moved])).mean()) if moved.any() else float("nan")
    mae = float(np.abs(err).mean())
    mae_persistence = float(np.abs(y).mean())
    mae_promoted = float(np.abs(y - promoted).mean())
    baselines = {PERSISTENCE: mae_persistence, TRAIN_MEAN: float(np.abs(y - train_mean).mean())}
    if ar1 is not None:
        baselines[AR1] = float(np.abs(y - ar1).mean())
    best = min(baselines, key=lambda name: baselines[name])  # ties: the first, persistence
    return {
        "rows": float(len(y)),
        "mae": mae,
        "rmse": float(np.sqrt((err**2).mean())),
        "mae_persistence": mae_persistence,
        "rmse_persistence": float(np.sqrt((y**2).mean())),
        "mae_train_mean": baselines[TRAIN_MEAN],
        "mae_ar1": baselines.get(AR1, float("nan")),
        "mae_best_baseline": baselines[best],
        "best_baseline_index": float(BASELINES.index(best)),
        "mae_ratio": baselines[best] / mae if mae > 0 else float("nan"),
        "mae_ratio_persistence": mae_persistence / mae if mae > 0 else float("nan"),
        "mae_promoted": mae_promoted,
        "mae_ratio_promoted": mae_persistence / mae_promoted if mae_promoted > 0 else float("nan"),
        "directional_accuracy": direction,
        "moved_rows": float(moved.sum()),
        "up_share": up_share,
        "direction_edge": direction - max(up_share, 1 - up_share) if moved.any() else float("nan"),
        "coverage": float(((y >= lower) & (y <= upper)).mean()),
    }


def walk_forward(
    data: Supervised,
    config: EnsembleConfig | None = None,
    wf: WalkForwardConfig | None = None,
    *,
    threads: int = 1,
    log: Log | None = None,
    fit: Callable[..., Any] = fit_ensemble,
) -> Evaluation:
    """Evaluate the pipeline on `data` (see the module docstring)."""
    config = config or EnsembleConfig()
    wf = wf or WalkForwardConfig()
    data = data.take(data.labelled)
    if len(data) == 0:
        raise ValueError("no labelled rows to evaluate on")
    first_test = int(np.searchsorted(data.ts, data.ts[int(len(data) * wf.min_train_fraction)], side="left"))
    blocks = [(first_test + s, first_test + e) for s, e in time_blocks(data.ts[first_test:], wf.folds)]
    fold_rows: list[dict[str, Any]] = []
    pred_frames: list[pl.DataFrame] = []
    pooled: dict[int, list[np.ndarray]] = {}
    for f, (start, end) in enumerate(blocks, start=1):
        train = embargoed_before(data, start)
        if end <= start or len(train) == 0:
            continue
        if log:
            log(f"walk-forward fold {f}/{len(blocks)}: train {len(train)} rows, test {end - start}")
        model, report = fit(data.take(train), config, threads=threads, log=log)
        test = data.take(np.arange(start, end))
        pred = model.predict(test, threads=threads)
        gate_passed = bool(report.gate.get("passed"))
        promoted = pred if gate_passed else persistence_prediction(test, model)
        ar1 = ar1_prediction(_ar1(data.take(train)), test)
        for j, h in enumerate(data.horizons):
            cols = (test.targets[:, j], pred.mean[:, j], pred.lower[:, j], pred.upper[:, j],
                    np.full(len(test), model.train_mean[j]), promoted.mean[:, j], ar1[:, j])
            pooled.setdefault(h, []).append(np.column_stack((*cols, test.ts.astype(np.float64), np.full(len(test), f))))
            fold_rows.append(
                {
                    "fold": f,
                    "horizon": h,
                    "train_rows": len(train),
                    "test_first_ts": test.index["ts"].min(),
                    "test_last_ts": test.index["ts"].max(),
                    "gate_passed": gate_passed,
                    **metrics(*cols),
                }
            )
            pred_frames.append(
                test.index.select("symbol", "interval", "ts", "close").with_columns(
                    pl.lit(f).alias("fold"),
                    pl.lit(h).alias("horizon"),
                    pl.Series("actual", cols[0]),
                    pl.Series("forecast", cols[1]),
                    pl.Series("lower", cols[2]),
                    pl.Series("upper", cols[3]),
                    pl.Series("promoted", cols[5]),
                    pl.Series("train_mean", cols[4]),
                    pl.Series("ar1", cols[6]),
                )
            )
    if not fold_rows:
        raise ValueError("no walk-forward fold could be formed; more rows are needed")
    summary, best = {}, {}
    for h, parts in pooled.items():
        stacked = np.concatenate(parts)
        y, ts, fold = stacked[:, 0], stacked[:, 7], stacked[:, 8]
        summary[h] = metrics(*(stacked[:, i] for i in range(7)))
        summary[h].update(_uncertainty(y, stacked[:, 1], stacked[:, 4], stacked[:, 6], h, ts))
        best[h] = BASELINES[int(summary[h]["best_baseline_index"])]
        summary[h]["folds"] = float(len(parts))
        summary[h]["gates_passed"] = float(sum(r["gate_passed"] for r in fold_rows if r["horizon"] == h))
        inside = (y >= stacked[:, 2]) & (y <= stacked[:, 3])
        per_fold = {int(f): float(inside[fold == f].mean()) for f in np.unique(fold)}
        summary[h].update({f"coverage_fold{f}": c for f, c in per_fold.items()})
        summary[h]["coverage_fold_min"] = min(per_fold.values())
        summary[h]["coverage_fold_max"] = max(per_fold.values())
    return Evaluation(
        folds=pl.DataFrame(fold_rows),
        summary=summary,
        predictions=pl.concat(pred_frames),
        horizons=data.horizons,
        level=config.interval_level,
        baselines=best,
    )


def _uncertainty(y: np.ndarray, pred: np.ndarray, train_mean: np.ndarray, ar1: np.ndarray, h: int,
                 ts: np.ndarray) -> dict[str, float]:
    """Pooled CI of the ratios and the DM test against the best baseline (see the module docstring)."""
    baselines = {PERSISTENCE: np.zeros_like(y), TRAIN_MEAN: train_mean, AR1: ar1}
    result = compare(y, pred, baselines, horizon=h, time=ts)
    versus = mae_ratio_ci(np.abs(y), np.abs(y - pred), horizon=h, time=ts)
    return {
        "mae_ratio_ci_low": result.ci.low,
        "mae_ratio_ci_high": result.ci.high,
        "dm_stat": result.dm.stat,
        "dm_pvalue": result.dm.pvalue,
        "mae_ratio_persistence_ci_low": versus.low,
        "mae_ratio_persistence_ci_high": versus.high,
        "ci_block": float(result.ci.block),
    }


__all__ = ["Evaluation", "WalkForwardConfig", "ar1_prediction", "metrics", "walk_forward"]
