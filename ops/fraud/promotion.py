"""Whether a trained fraud model may serve, and the figures table its metadata shows.

The rule is the product's promise that a served score beats chance and the simple baseline on
held-out addresses; it is pure so tests and the bench apply the same one the asset does.
"""

from __future__ import annotations

import numpy as np
import polars as pl

#: A model is served only when a random score does as well on shuffled labels less often than this.
MAX_P_VALUE = 0.05


def promotion_refusal(metrics: dict[str, float], min_roc_auc: float) -> str | None:
    """Why a trained fraud model must not be served, or None: its held-out ROC-AUC is below the
    configured floor, its 95 % CI reaches the prior's 0.5 (it cannot be told from a random score),
    a random score does as well on shuffled labels MAX_P_VALUE of the time or more (a bootstrap
    interval on a handful of addresses is too narrow to say it), or the CI of its difference to the
    logistic baseline lies below 0 (the baseline is better)."""
    auc, lo, hi = metrics["roc_auc"], metrics.get("roc_auc_ci_low", np.nan), metrics.get("roc_auc_ci_high", np.nan)
    if not auc >= min_roc_auc:
        return f"held-out ROC-AUC {auc:.4f} < FRAUD_MIN_ROC_AUC {min_roc_auc}"
    if not (np.isfinite(lo) and lo > 0.5):
        return f"held-out ROC-AUC {auc:.4f}, 95 % CI {lo:.4f} to {hi:.4f}: not above the prior 0.5"
    p_value = metrics.get("roc_auc_p_value", np.nan)
    if not p_value < MAX_P_VALUE:
        return (f"held-out ROC-AUC {auc:.4f} on {metrics.get('rows', 0):.0f} addresses: a random score does as "
                f"well with shuffled labels {p_value:.2g} of the time (needs < {MAX_P_VALUE}); too few to tell")
    if metrics.get("roc_auc_minus_logistic_ci_high", 1.0) < 0:
        return (f"the logistic baseline is better: ROC-AUC difference {metrics['roc_auc_minus_logistic']:+.4f}, "
                f"95 % CI up to {metrics['roc_auc_minus_logistic_ci_high']:+.4f}")
    return None


def _fmt(metrics: dict[str, float], name: str) -> str:
    value = metrics.get(name)
    if value is None or not np.isfinite(value):
        return "-"
    lo, hi = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    ci = f" ({lo:.4f} to {hi:.4f})" if lo is not None and hi is not None and np.isfinite(lo) else ""
    return f"{value:.4f}{ci}"


def figures_table(metrics: dict[str, float]) -> pl.DataFrame:
    """Each held-out figure beside its baselines, with the 95 % CI in brackets."""
    rows = [
        ("ROC-AUC", _fmt(metrics, "roc_auc"), _fmt(metrics, "logistic_roc_auc"), "0.5"),
        ("PR-AUC", _fmt(metrics, "pr_auc"), _fmt(metrics, "logistic_pr_auc"), f"{metrics['prior_pr_auc']:.4f}"),
        ("accuracy at 0.5", _fmt(metrics, "accuracy"), "-", f"{metrics.get('prior_accuracy', float('nan')):.4f}"),
        ("Brier score (lower is better)", _fmt(metrics, "brier"), "-", f"{metrics.get('prior_brier', float('nan')):.4f}"),
        ("ROC-AUC, rows without missing values", _fmt(metrics, "roc_auc_complete_rows"),
         _fmt(metrics, "logistic_roc_auc_complete_rows"), "0.5"),
        ("ROC-AUC minus logistic", _fmt(metrics, "roc_auc_minus_logistic"), "0", "-"),
        ("ROC-AUC fused (anomaly + cluster)", _fmt(metrics, "fusion_fused_roc_auc"),
         _fmt(metrics, "fusion_classifier_roc_auc") + " (classifier alone)", "-"),
    ]
    return pl.DataFrame(rows, schema=["figure", "model (95 % CI)", "baseline: logistic regression", "prior"],
                        orient="row")
