"""Evaluation: the fraud score on the public data set, and the anomaly model on benchmark sets.

Every figure is printed beside its baseline and its 95 % CI (address bootstrap for pooled
out-of-fold figures, t-interval over seeds for the anomaly sets).

1. Supervised, on the public data set (../shared/data/fraud), K outer folds grouped by address.
   In each fold the other addresses are split again (grouped) into training and calibration rows:
   the classifier (`ops.fraud.model.fit_classifier`), the logistic-regression baseline and the
   anomaly context are fitted on the training rows; the thresholds and the fusion stacker are
   chosen on the calibration rows; the fold's held-out rows are only scored. Reported, pooled over
   the folds: ROC-AUC and PR-AUC of ours, of the logistic baseline and of the prior; the same on the
   rows with no missing value (the 829 rows whose ERC-20 columns are all empty are all fraud) and
   for a classifier trained without those rows; fused (classifier + anomaly + cluster context) vs
   classifier alone, with the CI of the difference; precision and recall on held-out rows at the
   calibration-split thresholds; the reasons' agreement with per-row occlusion on a sample of
   held-out fraud rows, beside a constant "global ranking" reason list.
2. Unsupervised, per ADBench set in ../shared/data/anomaly: our anomaly model (IsolationForest in
   the input space `ops.fraud.anomaly.choose_scaling` picks from the data's shape) against
   scikit-learn's default IsolationForest on raw features, fitted without labels on a 60 % split
   and scored on the other 40 %, over seeds; the published IsolationForest figure where known.

The last line is JSON: the pooled out-of-fold ROC-AUC of ours against the logistic-regression
baseline fitted on the same folds in this process. With `--anomaly-data PATH` (an .npz with arrays
X and y) only that file is evaluated and the last line is ours against scikit-learn's default.

Usage: python bench/fraud_eval.py [--folds 5] [--max-iter 200] [--seeds 5] [--bootstrap 1000]
                                  [--reason-rows 300] [--anomaly-data PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np
from rich.console import Console
from rich.table import Table

from ops.fraud.anomaly import choose_scaling, fit_anomaly_model, fit_isolation_forest, scaled
from ops.fraud.baseline import LogisticBaseline
from ops.fraud.fusion import context_matrix, fit_stacker, stacker_design
from ops.fraud.matrix import feature_matrix
from ops.fraud.model import (
    PRECISION_TARGETS,
    TrainParams,
    booster_of,
    fit_classifier,
    grouped_folds,
    grouped_split,
    precision_thresholds,
)
from ops.fraud.reasons import agreement, occlusion
from ops.fraud.schema import FEATURES
from ops.fraud.treeshap import TreeShap
from ops.fraud.uncertainty import (
    accuracy,
    auc_difference,
    bootstrap_ci,
    brier,
    mean_ci,
    pr_auc,
    roc_auc,
    with_ci,
)
from resources.training_data import load_public_dataset

SHARED = REPO_ROOT.parent / "shared" / "data"
PUBLISHED_ROC_AUC = 0.994
PUBLISHED_ACCURACY = 0.963
PUBLISHED_IFOREST = {"adbench_6_cardio": 0.921, "adbench_32_shuttle": 0.997}
#: Background rows the occlusion test averages a replaced feature over.
OCCLUSION_BACKGROUND = 100

console = Console(stderr=True, width=170)


def ci(fig: dict[str, float]) -> str:
    return f"{fig['value']:.4f} [{fig['ci_low']:.4f}, {fig['ci_high']:.4f}]"


def json_line(metric: str, unit: str, ours: dict, baseline: dict | float, baseline_name: str) -> str:
    base = baseline if isinstance(baseline, dict) else {"value": baseline, "ci_low": baseline, "ci_high": baseline}
    return json.dumps({"bench": "fraud_eval", "metric": metric, "unit": unit, "ours": round(ours["value"], 4),
                       "ours_ci95": [round(ours["ci_low"], 4), round(ours["ci_high"], 4)],
                       "baseline": round(base["value"], 4),
                       "baseline_ci95": [round(base["ci_low"], 4), round(base["ci_high"], 4)],
                       "baseline_name": baseline_name, "ratio": round(ours["value"] / base["value"], 4)})


# -- supervised -----------------------------------------------------------------------------------
def out_of_fold(x, y, groups, folds: int, params: TrainParams, reason_rows: int) -> dict:
    """Pooled held-out predictions of every model, thresholds per fold, and the fold-0 reasons sample."""
    n = len(y)
    pred = {k: np.full(n, np.nan) for k in ("ours", "logistic", "fused", "ours_no_gap")}
    complete = ~np.isnan(x).any(axis=1)
    thresholds_by_fold, reasons, per_fold = [], None, []
    for k, (rest, test) in enumerate(grouped_folds(groups, y, folds, seed=params.seed)):
        start = time.perf_counter()
        assert not set(groups[rest]) & set(groups[test])
        fit_part, cal_part = grouped_split(groups[rest], y[rest], 0.25, seed=params.seed + 1)
        train, cal = rest[fit_part], rest[cal_part]
        model = fit_classifier(x[train], y[train], groups[train], params)
        p_cal = model.predict_proba(x[cal])[:, 1]
        pred["ours"][test] = model.predict_proba(x[test])[:, 1]
        pred["logistic"][test] = LogisticBaseline().fit(x[train], y[train]).predict_proba(x[test])
        kept = train[complete[train]]
        no_gap = fit_classifier(x[kept], y[kept], groups[kept], params)
        pred["ours_no_gap"][test] = no_gap.predict_proba(x[test])[:, 1]
        context = fit_anomaly_model(x[train], y[train], FEATURES, seed=params.seed)
        stacker = fit_stacker(p_cal, context_matrix(context, x[cal]), y[cal])
        pred["fused"][test] = stacker.predict_proba(
            stacker_design(pred["ours"][test], context_matrix(context, x[test])))[:, 1]
        thresholds_by_fold.append((test, precision_thresholds(y[cal], p_cal)))
        per_fold.append(roc_auc(y[test], pred["ours"][test]))
        if k == 0:
            reasons = reasons_sample(model, x, y, train, test, reason_rows, params.seed)
        console.print(f"fold {k}: {len(train)} training, {len(cal)} calibration, {len(test)} held out; "
                      f"ROC-AUC {per_fold[-1]:.4f} ({time.perf_counter() - start:.0f} s)")
    return {"pred": pred, "complete": complete, "thresholds": thresholds_by_fold, "reasons": reasons,
            "per_fold": per_fold}


def reasons_sample(model, x, y, train, test, rows: int, seed: int) -> dict:
    """TreeSHAP attributions vs occlusion of the booster's log-odds on held-out fraud rows."""
    rng = np.random.default_rng(seed)
    fraud = test[y[test] == 1]
    sample = x[rng.choice(fraud, size=min(rows, len(fraud)), replace=False)]
    background = x[rng.choice(train, size=min(OCCLUSION_BACKGROUND, len(train)), replace=False)]
    booster = booster_of(model)
    explainer = TreeShap.from_booster(booster).prepare()
    start = time.perf_counter()
    attr = explainer.shap_values(sample)
    seconds = time.perf_counter() - start
    occ = occlusion(booster.decision_function, sample, background)
    tree_occ = explainer.path_occlusion(sample)
    # the constant baseline: the same three reasons for every row, the global mean-|attribution| ranking
    train_attr = explainer.shap_values(x[rng.choice(train, size=min(500, len(train)), replace=False)])
    global_rank = np.tile(np.abs(train_attr).mean(axis=0), (len(sample), 1))
    return {"background": {"ours": agreement(attr, occ), "global": agreement(global_rank, occ)},
            "path": {"ours": agreement(attr, tree_occ), "global": agreement(global_rank, tree_occ)},
            "rows": len(sample), "rows_per_second": len(sample) / seconds,
            "complete": ~np.isnan(sample).any(axis=1)}


def rate_ci(values: np.ndarray, resamples: int, seed: int = 0) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    means = [values[rng.integers(0, len(values), len(values))].mean() for _ in range(resamples)]
    lo, hi = np.quantile(means, [0.025, 0.975])
    return {"value": float(values.mean()), "ci_low": float(lo), "ci_high": float(hi)}


def supervised(folds: int, max_iter: int, resamples: int, reason_rows: int) -> list[str]:
    frame = load_public_dataset(SHARED / "fraud" / "ethereum_fraud_transaction_dataset.csv")
    x, y = feature_matrix(frame), frame["label"].to_numpy()
    groups = np.asarray(frame["address"].to_list())
    params = TrainParams(max_iter=max_iter)
    oof = out_of_fold(x, y, groups, folds, params, reason_rows)
    pred, complete = oof["pred"], oof["complete"]

    def fig(metric, p, rows=slice(None)):
        return with_ci(metric, y[rows], [p[rows]], groups[rows], resamples)

    ours_roc, base_roc = fig(roc_auc, pred["ours"]), fig(roc_auc, pred["logistic"])
    ours_pr, base_pr = fig(pr_auc, pred["ours"]), fig(pr_auc, pred["logistic"])
    prior = float(y.mean())
    lo, hi = bootstrap_ci(auc_difference, y, [pred["ours"], pred["logistic"]], groups, resamples)
    vs_logistic = {"value": auc_difference(y, pred["ours"], pred["logistic"]), "ci_low": lo, "ci_high": hi}
    lo, hi = bootstrap_ci(auc_difference, y, [pred["fused"], pred["ours"]], groups, resamples)
    fusion_diff = {"value": auc_difference(y, pred["fused"], pred["ours"]), "ci_low": lo, "ci_high": hi}
    fused_roc = fig(roc_auc, pred["fused"])
    fused_wins = fusion_diff["ci_low"] > 0
    spread = mean_ci(oof["per_fold"])

    table = Table(title=f"fraud score, {folds} folds grouped by address, pooled out of fold ({len(y)} rows); "
                        "95 % CI by address bootstrap")
    for col in ("figure", "ours", "logistic regression", "prior / random"):
        table.add_column(col)
    table.add_row("ROC-AUC, all rows", ci(ours_roc), ci(base_roc), "0.5")
    table.add_row("PR-AUC, all rows", ci(ours_pr), ci(base_pr), f"{prior:.4f}")
    table.add_row("accuracy at 0.5", ci(fig(accuracy, pred["ours"])), ci(fig(accuracy, pred["logistic"])),
                  f"{max(prior, 1 - prior):.4f} (majority class)")
    table.add_row("Brier score (lower is better)", ci(fig(brier, pred["ours"])), ci(fig(brier, pred["logistic"])),
                  f"{prior * (1 - prior):.4f} (base rate)")
    gap = ~complete
    table.add_row(f"ROC-AUC, without the {gap.sum()} rows with missing values (all fraud: {y[gap].mean():.2f})",
                  ci(fig(roc_auc, pred["ours"], complete)), ci(fig(roc_auc, pred["logistic"], complete)), "0.5")
    table.add_row("  same, classifier trained without those rows", ci(fig(roc_auc, pred["ours_no_gap"], complete)),
                  "-", "0.5")
    table.add_row("PR-AUC, without those rows", ci(fig(pr_auc, pred["ours"], complete)),
                  ci(fig(pr_auc, pred["logistic"], complete)), f"{y[complete].mean():.4f}")
    table.add_row("ROC-AUC ours minus logistic", ci(vs_logistic), "0", "-")
    table.add_row(f"ROC-AUC per fold (mean, t-interval over {folds} folds)", ci(spread), "-", "0.5")
    table.add_row("ROC-AUC fused (classifier + anomaly + cluster)", ci(fused_roc), "-", "-")
    table.add_row("  fused minus classifier alone", ci(fusion_diff), "0",
                  "fuse" if fused_wins else "no win: context only")
    console.print(table)
    console.print(f"published (XGBoost, random split, not grouped): ROC-AUC {PUBLISHED_ROC_AUC}, "
                  f"accuracy {PUBLISHED_ACCURACY}; a reference, not a baseline run here")

    held = Table(title="bands: cuts chosen on each fold's calibration split, measured on its held-out rows")
    for col in ("precision target", "held-out precision", "held-out recall", "cut range over folds"):
        held.add_column(col)
    for i, target in enumerate(PRECISION_TARGETS):
        flagged, cuts = np.zeros(len(y), dtype=bool), []
        for test, thresholds in oof["thresholds"]:
            t = thresholds[i].threshold
            if t is not None:
                flagged[test] = pred["ours"][test] >= t
                cuts.append(t)
        tp = float(np.sum(flagged & (y == 1)))
        precision = tp / flagged.sum() if flagged.any() else float("nan")
        held.add_row(f"{target:.2f}", f"{precision:.4f}", f"{tp / y.sum():.4f}",
                     f"{min(cuts):.3f}-{max(cuts):.3f}" if cuts else "none")
    console.print(held)

    r = oof["reasons"]
    reasons = Table(title=f"reasons vs per-row occlusion, {r['rows']} held-out fraud rows of fold 0 "
                          f"(TreeSHAP {r['rows_per_second']:,.0f} rows/s); 95 % CI by row bootstrap")
    for col in ("occlusion: feature j removed by", "agreement", "ours (per-row TreeSHAP)",
                "baseline: one global ranking for every row"):
        reasons.add_column(col)
    figures = {}
    for kind, how in (("background", f"replacing it with {OCCLUSION_BACKGROUND} background rows' values"),
                      ("path", "the trees' cover-weighted marginalization")):
        for name, label in (("top1_in_top3", "first reason in occlusion's top 3"),
                            ("top3_overlap", "top-3 sets overlap (goal >= 0.9)"),
                            ("top1_match", "same first feature")):
            figures[kind, name] = (rate_ci(r[kind]["ours"][name], resamples), rate_ci(r[kind]["global"][name], resamples))
            reasons.add_row(how, label, ci(figures[kind, name][0]), ci(figures[kind, name][1]))
        # the rows without an ERC-20 history have 16 features missing together: one of them occluded
        # alone barely moves the score while the attributions share the credit among them
        for part, rows in (("rows with no missing value", r["complete"]), ("rows with missing values", ~r["complete"])):
            if rows.sum() >= 10:
                reasons.add_row(how, f"top-3 sets overlap, {rows.sum()} {part}",
                                ci(rate_ci(r[kind]["ours"]["top3_overlap"][rows], resamples)),
                                ci(rate_ci(r[kind]["global"]["top3_overlap"][rows], resamples)))
    console.print(reasons)

    return [
        json_line("fraud PR-AUC pooled out of fold vs prior", "average precision", ours_pr, prior,
                  "prior (fraud base rate)"),
        json_line("fraud ROC-AUC without the rows with missing ERC-20 columns vs logistic regression", "ROC-AUC",
                  fig(roc_auc, pred["ours"], complete), fig(roc_auc, pred["logistic"], complete),
                  "logistic regression, same folds and rows"),
        json_line("fused score ROC-AUC vs classifier alone" + (" (fused)" if fused_wins else " (not fused: context)"),
                  "ROC-AUC", fused_roc, ours_roc, "calibrated classifier alone, same folds"),
        json_line("reasons: top-3 overlap with background-replacement occlusion", "share of top 3",
                  figures["background", "top3_overlap"][0], figures["background", "top3_overlap"][1],
                  "one global ranking for every row"),
        json_line("reasons: top-3 overlap with the trees' own leave-one-out", "share of top 3",
                  figures["path", "top3_overlap"][0], figures["path", "top3_overlap"][1],
                  "one global ranking for every row"),
        json_line(f"fraud ROC-AUC, {folds} grouped folds pooled out of fold", "ROC-AUC", ours_roc, base_roc,
                  "logistic regression on signed-log features + missing indicators, same folds"),
    ]


# -- unsupervised ---------------------------------------------------------------------------------
def anomaly_seeds(x: np.ndarray, y: np.ndarray, seeds: int) -> dict:
    """Per seed: ours (scaling chosen on the training part) and scikit-learn's default on raw values."""
    from sklearn.ensemble import IsolationForest

    ours, default, scalings = [], [], set()
    for seed in range(seeds):
        order = np.random.default_rng(seed).permutation(len(y))
        cut = int(0.6 * len(y))
        train, test = order[:cut], order[cut:]
        scaling = choose_scaling(x[train])
        scalings.add(scaling)
        forest = fit_isolation_forest(x[train], seed=seed, scaling=scaling)
        ours.append(roc_auc(y[test], -forest.score_samples(scaled(x[test], scaling))))
        raw = np.nan_to_num(x)
        default.append(roc_auc(y[test], -IsolationForest(random_state=seed).fit(raw[train]).score_samples(raw[test])))
    ours_a, default_a = np.array(ours), np.array(default)
    return {"ours": mean_ci(ours_a), "default": mean_ci(default_a), "difference": mean_ci(ours_a - default_a),
            "scaling": "/".join(sorted(scalings))}


def anomaly_sets(seeds: int) -> list[str]:
    table = Table(title=f"anomaly model vs scikit-learn's default IsolationForest (raw features), 60/40 split, "
                        f"mean and 95 % t-interval over {seeds} seeds")
    for col in ("data set", "input space chosen", "ours", "sklearn default, raw", "ours minus default", "published"):
        table.add_column(col)
    lines = []
    sets = [(p.stem, np.load(p)) for p in sorted((SHARED / "anomaly").glob("*.npz"))]
    for name, data in sets:
        x, y = data["X"].astype(np.float64), data["y"].astype(int)
        r = anomaly_seeds(x, y, seeds)
        published = PUBLISHED_IFOREST.get(name)
        table.add_row(name, r["scaling"], ci(r["ours"]), ci(r["default"]), ci(r["difference"]),
                      f"{published}" if published else "-")
        lines.append(json_line(f"anomaly ROC-AUC {name} vs sklearn default", "ROC-AUC", r["ours"], r["default"],
                               "sklearn IsolationForest, default settings, raw features"))
    frame = load_public_dataset(SHARED / "fraud" / "ethereum_fraud_transaction_dataset.csv")
    r = anomaly_seeds(feature_matrix(frame), frame["label"].to_numpy(), seeds)
    table.add_row("public fraud data (labels as anomalies)", r["scaling"], ci(r["ours"]), ci(r["default"]),
                  ci(r["difference"]), "-")
    console.print(table)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=TrainParams().max_iter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--reason-rows", type=int, default=300)
    parser.add_argument("--anomaly-data", type=Path, default=None)
    args = parser.parse_args()

    if args.anomaly_data is not None:
        data = np.load(args.anomaly_data)
        r = anomaly_seeds(data["X"].astype(np.float64), data["y"].astype(int), args.seeds)
        print(json_line(f"anomaly ROC-AUC on {args.anomaly_data.name}", "ROC-AUC", r["ours"], r["default"],
                        "sklearn IsolationForest, default settings, raw features"))
        return
    for text in anomaly_sets(args.seeds):
        print(text)
    for text in supervised(args.folds, args.max_iter, args.bootstrap, args.reason_rows):
        print(text)


if __name__ == "__main__":
    main()
