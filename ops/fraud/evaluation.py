"""Evaluation of held-out predictions: figures, a precision/recall table, the calibration curve image.

The thresholds in the table are the model's, chosen on the calibration split; their precision and
recall here are on the held-out rows, so a cut that promised 0.95 and gives 0.93 shows it.
"""

from __future__ import annotations

import io

import numpy as np
import polars as pl

from ops.fraud.model import Threshold, classification_metrics


def threshold_table(y: np.ndarray, p: np.ndarray, thresholds: list[Threshold]) -> pl.DataFrame:
    """Held-out precision and recall at the calibration-split cut of each precision target, and at 0.5."""
    rows = []
    for t in thresholds:
        flagged = p >= t.threshold if t.threshold is not None else np.zeros(len(p), dtype=bool)
        tp = float(np.sum(flagged & (y == 1)))
        rows.append({"target": f"precision >= {t.precision_target:.2f}", "threshold": t.threshold,
                     "precision": tp / flagged.sum() if flagged.any() else None,
                     "recall": tp / max(float(np.sum(y == 1)), 1.0)})
    flagged = p >= 0.5
    tp = float(np.sum(flagged & (y == 1)))
    rows.append({"target": "p >= 0.5", "threshold": 0.5,
                 "precision": tp / flagged.sum() if flagged.any() else None,
                 "recall": tp / max(float(np.sum(y == 1)), 1.0)})
    return pl.DataFrame(rows, schema={"target": pl.Utf8, "threshold": pl.Float64,
                                      "precision": pl.Float64, "recall": pl.Float64})


def calibration_points(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.calibration import calibration_curve

    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return predicted, observed


def calibration_png(y: np.ndarray, p: np.ndarray, title: str = "fraud model calibration (held out)") -> bytes:
    """The reliability diagram (predicted vs observed fraud rate) and the score histogram, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    predicted, observed = calibration_points(y, p)
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(9, 3.6))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect")
    ax.plot(predicted, observed, marker="o", lw=1.5, label="model")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed fraud rate")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    hist.hist([p[y == 0], p[y == 1]], bins=20, range=(0, 1), label=["normal", "fraud"], log=True)
    hist.set_xlabel("predicted probability")
    hist.set_title("held-out scores by label", fontsize=10)
    hist.legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def evaluation_report(y: np.ndarray, p: np.ndarray, thresholds: list[Threshold]) -> dict:
    """Everything the evaluation asset shows: metrics, the threshold table, the calibration points."""
    predicted, observed = calibration_points(y, p)
    return {
        "metrics": classification_metrics(y, p),
        "thresholds": threshold_table(y, p, thresholds),
        "calibration_error": float(np.mean(np.abs(predicted - observed))),
    }
