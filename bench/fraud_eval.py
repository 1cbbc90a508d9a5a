"""Evaluation: the fraud classifier on the public data set, and the anomaly model on benchmark sets.

1. Supervised: out-of-fold predictions of the calibrated classifier (`ops.fraud.model`) over folds
   grouped by address (no address in both the training and the evaluated fold), on the public
   data set (../shared/data/fraud). Figures: ROC-AUC, PR-AUC, accuracy at 0.5, per fold and pooled.
   Published (random split, XGBoost): ROC-AUC 0.994, accuracy 0.963.
2. Unsupervised, reported separately: our anomaly model (IsolationForest on signed-log features,
   `ops.fraud.anomaly`) on the ADBench sets in ../shared/data/anomaly, fitted without labels on a
   60 % split and scored on the other 40 % (PyOD's benchmark protocol), mean over seeds, against
   the published IsolationForest ROC-AUC (cardio 0.921, shuttle 0.997) and against scikit-learn's
   IsolationForest with default settings on the raw features in the same run.

The last line is the JSON ratio line of the supervised ROC-AUC against 0.994. With
`--anomaly-data PATH` (an .npz with arrays X and y) only that file is evaluated and the last line
is ours (our anomaly model's ROC-AUC) against scikit-learn's default IsolationForest on raw features.

Usage: python bench/fraud_eval.py [--folds 5] [--max-iter 200] [--seeds 5] [--anomaly-data PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from ops.fraud.anomaly import fit_isolation_forest
from ops.fraud.dataset import load_public_dataset
from ops.fraud.matrix import feature_matrix, signed_log
from ops.fraud.model import TrainParams, classification_metrics, fit_classifier, grouped_folds

SHARED = REPO_ROOT.parent / "shared" / "data"
PUBLISHED_ROC_AUC = 0.994
PUBLISHED_ACCURACY = 0.963
PUBLISHED_IFOREST = {"adbench_6_cardio.npz": 0.921, "adbench_32_shuttle.npz": 0.997}

console = Console(stderr=True)


def line(bench: str, metric: str, ours: float, baseline: float, baseline_name: str) -> str:
    return json.dumps({"bench": bench, "metric": metric, "unit": "ROC-AUC", "ours": round(ours, 4),
                       "baseline": round(baseline, 4), "baseline_name": baseline_name,
                       "ratio": round(ours / baseline, 4)})


def supervised(folds: int, max_iter: int) -> dict:
    frame = load_public_dataset(SHARED / "fraud" / "ethereum_fraud_transaction_dataset.csv")
    x, y = feature_matrix(frame), frame["label"].to_numpy()
    groups = np.asarray(frame["address"].to_list())
    params = TrainParams(max_iter=max_iter)
    oof = np.full(len(y), np.nan)
    per_fold = []
    for train, test in track(grouped_folds(groups, y, folds, seed=0), description="grouped folds", console=console):
        assert not set(groups[train]) & set(groups[test])
        model = fit_classifier(x[train], y[train], groups[train], params)
        oof[test] = model.predict_proba(x[test])[:, 1]
        per_fold.append(classification_metrics(y[test], oof[test]))
    pooled = classification_metrics(y, oof)
    table = Table(title=f"fraud classifier, {folds} folds grouped by address ({len(y)} rows)")
    for col in ("fold", "ROC-AUC", "PR-AUC", "accuracy"):
        table.add_column(col)
    for i, m in enumerate(per_fold):
        table.add_row(str(i), f"{m['roc_auc']:.4f}", f"{m['pr_auc']:.4f}", f"{m['accuracy']:.4f}")
    table.add_row("pooled", f"{pooled['roc_auc']:.4f}", f"{pooled['pr_auc']:.4f}", f"{pooled['accuracy']:.4f}")
    table.add_row("published", f"{PUBLISHED_ROC_AUC}", "-", f"{PUBLISHED_ACCURACY}")
    console.print(table)
    return {"pooled": pooled, "folds": per_fold,
            "roc_auc_mean": float(np.mean([m["roc_auc"] for m in per_fold])),
            "roc_auc_std": float(np.std([m["roc_auc"] for m in per_fold]))}


def anomaly_auc(x: np.ndarray, y: np.ndarray, seeds: int) -> tuple[float, float, float]:
    """(ours, ours fitted on presumed-normal training rows, sklearn default on raw) mean ROC-AUC over seeds."""
    from sklearn.ensemble import IsolationForest
    from sklearn.metrics import roc_auc_score

    ours, ours_normal, default = [], [], []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        cut = int(0.6 * len(y))
        train, test = order[:cut], order[cut:]
        forest = fit_isolation_forest(x[train], seed=seed)
        ours.append(roc_auc_score(y[test], -forest.score_samples(signed_log(x[test]))))
        normal = fit_isolation_forest(x[train][y[train] == 0], seed=seed)
        ours_normal.append(roc_auc_score(y[test], -normal.score_samples(signed_log(x[test]))))
        raw = IsolationForest(random_state=seed).fit(x[train])
        default.append(roc_auc_score(y[test], -raw.score_samples(x[test])))
    return float(np.mean(ours)), float(np.mean(ours_normal)), float(np.mean(default))


def anomaly_sets(seeds: int) -> list[str]:
    table = Table(title=f"anomaly model (IsolationForest on signed-log features), 60/40 split, {seeds} seeds")
    for col in ("data set", "ours", "ours fit on y=0 (uses labels)", "sklearn default, raw", "published"):
        table.add_column(col)
    lines = []
    for path in sorted((SHARED / "anomaly").glob("*.npz")):
        data = np.load(path)
        x, y = data["X"].astype(np.float64), data["y"].astype(int)
        ours, ours_normal, default = anomaly_auc(x, y, seeds)
        published = PUBLISHED_IFOREST.get(path.name)
        table.add_row(path.stem, f"{ours:.4f}", f"{ours_normal:.4f}", f"{default:.4f}",
                      f"{published}" if published else "-")
        if published:
            lines.append(line("fraud_eval", f"anomaly ROC-AUC {path.stem} vs published IsolationForest", ours,
                              published, "published IsolationForest (PyOD benchmark)"))
        lines.append(line("fraud_eval", f"anomaly ROC-AUC {path.stem} vs sklearn default", ours, default,
                          "sklearn IsolationForest, default settings, raw features"))
    console.print(table)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--anomaly-data", type=Path, default=None)
    args = parser.parse_args()

    if args.anomaly_data is not None:
        data = np.load(args.anomaly_data)
        ours, _normal, default = anomaly_auc(data["X"].astype(np.float64), data["y"].astype(int), args.seeds)
        print(line("fraud_eval", f"anomaly ROC-AUC on {args.anomaly_data.name}", ours, default,
                   "sklearn IsolationForest, default settings, raw features"))
        return
    for text in anomaly_sets(args.seeds):
        print(text)
    result = supervised(args.folds, args.max_iter)
    pooled = result["pooled"]
    print(json.dumps({"bench": "fraud_eval", "metric": "grouped-split accuracy vs published", "unit": "accuracy",
                      "ours": round(pooled["accuracy"], 4), "baseline": PUBLISHED_ACCURACY,
                      "baseline_name": "published accuracy (random split)",
                      "ratio": round(pooled["accuracy"] / PUBLISHED_ACCURACY, 4)}))
    print(json.dumps({"bench": "fraud_eval", "metric": "grouped-split PR-AUC", "unit": "average precision",
                      "ours": round(pooled["pr_auc"], 4), "baseline": round(pooled["base_rate"], 4),
                      "baseline_name": "prior (fraud base rate)",
                      "ratio": round(pooled["pr_auc"] / pooled["base_rate"], 4)}))
    print(line("fraud_eval", f"grouped-split ROC-AUC, {args.folds} folds pooled "
               f"(fold mean {result['roc_auc_mean']:.4f} +- {result['roc_auc_std']:.4f})",
               pooled["roc_auc"], PUBLISHED_ROC_AUC, "published ROC-AUC (random split)"))


if __name__ == "__main__":
    main()
