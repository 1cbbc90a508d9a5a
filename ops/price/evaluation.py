"""Walk-forward evaluation against the baselines, on the same splits.

The labelled rows from `min_train_fraction` of the time span on are cut into `folds` consecutive
test blocks. For each block the whole pipeline (`fit_ensemble`: stacking, intervals, gate) is
fitted on every row before the block whose target ends before the block starts (embargo), then
predicts the block. Nothing about a test block, not even its size, influences any fit.

Per fold and pooled over folds, per horizon:

* MAE and RMSE of the model, of persistence (a zero log return: "the price stays") and of the
  training mean (the average return of the fold's training rows); `mae_ratio` is
  MAE(persistence) / MAE(model), above 1 when the model beats persistence;
* directional accuracy (sign of forecast = sign of outcome, over rows that moved) beside the
  up-share of the same rows: always guessing "up" scores the up-share, so that, not 50 %, is the
  bar a direction forecast has to clear;
* coverage of the prediction interval (nominal `interval_level`);
* the promoted forecast: the model where its gate (fitted on training data only) passed, else
  persistence. Its MAE is what deploying with the promotion rule would have scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ops.price.dataset import Supervised
from ops.price.ensemble import (
    EnsembleConfig,
    embargoed_before,
    fit_ensemble,
    persistence_prediction,
    time_blocks,
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

    def flat_metrics(self) -> dict[str, float]:
        """`h{h}_{metric}` -> value, plus the worst-horizon `mae_ratio` (what promotion compares)."""
        out = {f"h{h}_{k}": v for h, metrics in self.summary.items() for k, v in metrics.items()}
        ratios = [m["mae_ratio"] for m in self.summary.values()]
        out["mae_ratio"] = float(min(ratios)) if ratios else float("nan")
        promoted = [m["mae_ratio_promoted"] for m in self.summary.values()]
        out["mae_ratio_promoted"] = float(min(promoted)) if promoted else float("nan")
        return out


def metrics(y: np.ndarray, pred: np.ndarray, lower: np.ndarray, upper: np.ndarray, train_mean: np.ndarray,
            promoted: np.ndarray) -> dict[str, float]:
    """Metrics of one horizon's column vectors (see the module docstring)."""
    err = y - pred
    moved = y != 0
    up_share = float((y[moved] > 0).mean()) if moved.any() else float("nan")
    direction = float((np.sign(pred[moved]) == np.sign(y[moved])).mean()) if moved.any() else float("nan")
    mae = float(np.abs(err).mean())
    mae_persistence = float(np.abs(y).mean())
    mae_promoted = float(np.abs(y - promoted).mean())
    return {
        "rows": float(len(y)),
        "mae": mae,
        "rmse": float(np.sqrt((err**2).mean())),
        "mae_persistence": mae_persistence,
        "rmse_persistence": float(np.sqrt((y**2).mean())),
        "mae_train_mean": float(np.abs(y - train_mean).mean()),
        "mae_ratio": mae_persistence / mae if mae > 0 else float("nan"),
        "mae_promoted": mae_promoted,
        "mae_ratio_promoted": mae_persistence / mae_promoted if mae_promoted > 0 else float("nan"),
        "directional_accuracy": direction,
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
        for j, h in enumerate(data.horizons):
            cols = (test.targets[:, j], pred.mean[:, j], pred.lower[:, j], pred.upper[:, j],
                    np.full(len(test), model.train_mean[j]), promoted.mean[:, j])
            pooled.setdefault(h, []).append(np.column_stack(cols))
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
                )
            )
    if not fold_rows:
        raise ValueError("no walk-forward fold could be formed; more rows are needed")
    summary = {}
    for h, parts in pooled.items():
        stacked = np.concatenate(parts)
        summary[h] = metrics(*(stacked[:, i] for i in range(stacked.shape[1])))
        summary[h]["folds"] = float(len(parts))
        summary[h]["gates_passed"] = float(sum(r["gate_passed"] for r in fold_rows if r["horizon"] == h))
    return Evaluation(
        folds=pl.DataFrame(fold_rows),
        summary=summary,
        predictions=pl.concat(pred_frames),
        horizons=data.horizons,
        level=config.interval_level,
    )


__all__ = ["Evaluation", "WalkForwardConfig", "metrics", "walk_forward"]
