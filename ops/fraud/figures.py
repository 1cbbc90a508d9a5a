"""Held-out figures of a fraud score, each beside its baselines and with its 95 % CI.

One function for the fraud_model asset and the bench, so the two report the same things: ROC-AUC
and PR-AUC of the model, of the logistic-regression baseline on the same rows, of the prior
(ROC-AUC 0.5, PR-AUC the base rate), the model-minus-baseline ROC-AUC difference, and the model's
ROC-AUC on the rows with no missing value (in the public data the rows without an ERC-20 history
are all fraud: a model can score well by spotting the gap, which our own chain features never have).
"""

from __future__ import annotations

import numpy as np

from ops.fraud.uncertainty import (
    RESAMPLES,
    accuracy,
    auc_difference,
    auc_p_value,
    bootstrap_ci,
    brier,
    pr_auc,
    roc_auc,
    with_ci,
)


def _put(out: dict[str, float], name: str, figure: dict[str, float]) -> None:
    out[name] = figure["value"]
    out[f"{name}_ci_low"] = figure["ci_low"]
    out[f"{name}_ci_high"] = figure["ci_high"]


def figures_with_baselines(y: np.ndarray, p: np.ndarray, p_baseline: np.ndarray | None, complete: np.ndarray,
                           groups, resamples: int = RESAMPLES, seed: int = 0) -> dict[str, float]:
    """Flat {name: value} figures; `complete` marks rows with no missing feature."""
    y = np.asarray(y).astype(int)
    groups = np.asarray(groups)
    out: dict[str, float] = {"base_rate": float(np.mean(y)), "rows": float(len(y)),
                             "prior_roc_auc": 0.5, "prior_pr_auc": float(np.mean(y))}
    _put(out, "roc_auc", with_ci(roc_auc, y, [p], groups, resamples, seed))
    out["roc_auc_p_value"] = auc_p_value(y, p, seed=seed)  # a random score doing as well, labels shuffled
    _put(out, "pr_auc", with_ci(pr_auc, y, [p], groups, resamples, seed))
    base = float(np.mean(y))
    _put(out, "accuracy", with_ci(accuracy, y, [p], groups, resamples, seed))
    out["prior_accuracy"] = max(base, 1 - base)  # always the majority class
    _put(out, "brier", with_ci(brier, y, [p], groups, resamples, seed))
    out["prior_brier"] = base * (1 - base)  # always the base rate
    if p_baseline is not None:
        _put(out, "logistic_roc_auc", with_ci(roc_auc, y, [p_baseline], groups, resamples, seed))
        _put(out, "logistic_pr_auc", with_ci(pr_auc, y, [p_baseline], groups, resamples, seed))
        if len(np.unique(y)) == 2:
            lo, hi = bootstrap_ci(auc_difference, y, [p, p_baseline], groups, resamples, seed)
            _put(out, "roc_auc_minus_logistic",
                 {"value": auc_difference(y, p, p_baseline), "ci_low": lo, "ci_high": hi})
    complete = np.asarray(complete, dtype=bool)
    out["rows_with_missing"] = float(np.sum(~complete))
    out["fraud_share_of_rows_with_missing"] = float(y[~complete].mean()) if (~complete).any() else float("nan")
    if complete.any() and len(np.unique(y[complete])) == 2:
        _put(out, "roc_auc_complete_rows",
             with_ci(roc_auc, y[complete], [p[complete]], groups[complete], resamples, seed))
        if p_baseline is not None:
            _put(out, "logistic_roc_auc_complete_rows",
                 with_ci(roc_auc, y[complete], [p_baseline[complete]], groups[complete], resamples, seed))
    return out
