"""Whether the anomaly and cluster signals belong in the risk score, decided by evidence.

The fused score is a logistic regression over the classifier's log-odds and the context of an
anomaly model (IsolationForest score, HDBSCAN outlier score, the cluster's fraud rate and whether
it has one), fitted on the calibration split: rows neither model was trained on. It is compared
with the classifier alone on the held-out split, both ROC-AUCs with their address-bootstrap 95 %
CIs and the CI of their difference. Only when that CI lies above 0 is the score fused; otherwise
the anomaly and cluster columns are context beside the score, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ops.fraud.anomaly import AnomalyModel
from ops.fraud.uncertainty import RESAMPLES, auc_difference, bootstrap_ci, roc_auc, with_ci

#: Fewest labelled addresses of each class in the calibration and held-out splits to evaluate fusion.
MIN_CLASS_ROWS = 5


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def context_matrix(anomaly: AnomalyModel, x: np.ndarray) -> np.ndarray:
    """(rows, 4): anomaly score, cluster outlier score, cluster fraud rate (0 when none), has-a-rate."""
    score = anomaly.anomaly_score(x)
    if anomaly.clusters is None:
        return np.column_stack([score, np.zeros((len(x), 3))])
    _cid, outlier, rate = anomaly.clusters.assign(x)
    known = np.isfinite(rate)
    return np.column_stack([score, outlier, np.where(known, rate, 0.0), known.astype(np.float64)])


def stacker_design(p: np.ndarray, context: np.ndarray) -> np.ndarray:
    return np.column_stack([_logit(p), context])


def fit_stacker(p: np.ndarray, context: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(stacker_design(p, context), y)


def cross_fitted(p: np.ndarray, context: np.ndarray, y: np.ndarray, groups, seed: int = 0, folds: int = 2):
    """Out-of-fold stacker predictions on the calibration rows (for thresholds on the fused score)."""
    from ops.fraud.model import grouped_folds

    out = np.empty(len(y), dtype=np.float64)
    for train, test in grouped_folds(groups, y, folds, seed):
        out[test] = fit_stacker(p[train], context[train], y[train]).predict_proba(stacker_design(p[test], context[test]))[:, 1]
    return out


@dataclass
class Fusion:
    """The fused score, kept only when it won: its own anomaly model and the stacker."""

    anomaly: AnomalyModel
    stacker: object

    def fuse(self, p: np.ndarray, x: np.ndarray) -> np.ndarray:
        return self.stacker.predict_proba(stacker_design(p, context_matrix(self.anomaly, x)))[:, 1]


@dataclass
class FusionReport:
    evaluated: bool
    fused: bool
    note: str
    figures: dict[str, float] = field(default_factory=dict)
    stacker: object | None = None

    def metrics(self) -> dict[str, float]:
        return {"fusion_evaluated": float(self.evaluated), "fused": float(self.fused),
                **{f"fusion_{k}": v for k, v in self.figures.items()}}


def evaluate_fusion(p_cal, ctx_cal, y_cal, p_test, ctx_test, y_test, groups_test,
                    resamples: int = RESAMPLES, seed: int = 0) -> FusionReport:
    """Stacker fitted on the calibration rows, fused vs classifier alone on the held-out rows."""
    counts = [int(np.sum(y == c)) for y in (y_cal, y_test) for c in (0, 1)]
    if min(counts) < MIN_CLASS_ROWS:
        return FusionReport(False, False, f"not evaluated: fewer than {MIN_CLASS_ROWS} addresses of a class "
                            "in the calibration or held-out split; anomaly and cluster columns are context")
    stacker = fit_stacker(p_cal, ctx_cal, y_cal)
    fused = stacker.predict_proba(stacker_design(p_test, ctx_test))[:, 1]
    alone = with_ci(roc_auc, y_test, [p_test], groups_test, resamples, seed)
    both = with_ci(roc_auc, y_test, [fused], groups_test, resamples, seed)
    diff = auc_difference(y_test, fused, p_test)
    lo, hi = bootstrap_ci(auc_difference, y_test, [fused, p_test], groups_test, resamples, seed)
    figures = {"classifier_roc_auc": alone["value"], "classifier_roc_auc_ci_low": alone["ci_low"],
               "classifier_roc_auc_ci_high": alone["ci_high"], "fused_roc_auc": both["value"],
               "fused_roc_auc_ci_low": both["ci_low"], "fused_roc_auc_ci_high": both["ci_high"],
               "roc_auc_difference": diff, "roc_auc_difference_ci_low": lo, "roc_auc_difference_ci_high": hi}
    wins = bool(np.isfinite(lo) and lo > 0)
    note = (f"fused ROC-AUC {both['value']:.4f} vs classifier alone {alone['value']:.4f}, difference {diff:+.4f} "
            f"(95 % CI {lo:+.4f} to {hi:+.4f}): "
            + ("the score fuses anomaly and cluster context" if wins else
               "no win beyond uncertainty; the score is the classifier's, anomaly and cluster columns are context"))
    return FusionReport(True, wins, note, figures, stacker if wins else None)
