"""Evaluation: the price model against simple baselines on real BTC series, walk-forward, with uncertainty.

For each series (by default the BTC daily Yahoo file, the CryptoDataDownload daily and hourly files
in ../shared/data/market; `--data PATH` for any Yahoo or CryptoDataDownload CSV): parse, clean,
compute features exactly as the market assets do, keep the latest `--max-bars` bars (default 6,000:
the daily series whole, the hourly one its last ~8 months, so the run takes minutes, not most of an
hour), then run `ops.price.evaluation.walk_forward` with the product's default configuration and
horizons (1 and 3 bars), `--folds` test folds (default 4) over the second half. In every fold the
pipeline is fitted on the past only (embargoed); nothing is tuned on the test folds.

Printed per series and horizon, pooled over the test folds, one row per forecaster (the model,
persistence, the training mean, an AR(1) of 1-bar returns fitted on each fold's training rows):
MAE; ratio vs persistence = MAE(persistence) / MAE(row) and ratio vs the best baseline (the
lowest-MAE of the three on these rows) = MAE(best) / MAE(row), each with its 95 % circular
moving-block bootstrap CI (block max(h, n^(1/3)), 2,000 resamples, seed 0); the Diebold-Mariano
statistic and two-sided p-value of the row against the best baseline (absolute-error loss,
Newey-West lag h-1, Harvey-Leybourne-Newbold correction; positive: the row is better). Then the
80 % interval's coverage per fold, and the "promoted" forecast of the per-fold gate.

The last line is the JSON ratio line: `ours` and `baseline` are geometric means over the series
of the 1-bar MAE of the model and of each series' best baseline, `ratio` = baseline / ours (above
1: the model is better), with each series' ratio and CI beside it.

Usage: python bench/price_eval.py [--data PATH ...] [--folds N] [--max-bars N] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

from ops.intervals import wilson
from ops.market.cleaning import clean_ohlcv
from ops.market.features import compute_features
from ops.price.dataset import build_supervised
from ops.price.ensemble import EnsembleConfig
from ops.price.evaluation import WalkForwardConfig, walk_forward
from ops.price.uncertainty import AR1, BASELINES, PERSISTENCE, TRAIN_MEAN, diebold_mariano, mae_ratio_ci
from resources.market_files import read_market_csv

MARKET = REPO_ROOT.parent / "shared" / "data" / "market"
DEFAULT_DATA = (
    MARKET / "btc_usd_daily_yahoo_2014_2022.csv",
    MARKET / "cdd_Binance_BTCUSDT_d.csv",
    MARKET / "cdd_Binance_BTCUSDT_1h.csv",
)
HORIZONS = (1, 3)
MODEL = "model"


def forecasters(rows: pl.DataFrame) -> dict[str, np.ndarray]:
    return {
        MODEL: rows["forecast"].to_numpy(),
        PERSISTENCE: np.zeros(rows.height),
        TRAIN_MEAN: rows["train_mean"].to_numpy(),
        AR1: rows["ar1"].to_numpy(),
    }


def horizon_table(rows: pl.DataFrame, h: int) -> dict:
    """Every forecaster's MAE, ratios with CIs and DM against the best baseline, on the same rows."""
    y = rows["actual"].to_numpy()
    time_key = rows["ts"].dt.epoch("us").to_numpy()
    abs_err = {name: np.abs(y - pred) for name, pred in forecasters(rows).items()}
    mae = {name: float(e.mean()) for name, e in abs_err.items()}
    best = min(BASELINES, key=lambda name: mae[name])
    table = {}
    for name, err in abs_err.items():
        vs_p = mae_ratio_ci(abs_err[PERSISTENCE], err, horizon=h, time=time_key)
        vs_b = mae_ratio_ci(abs_err[best], err, horizon=h, time=time_key)
        dm = diebold_mariano(abs_err[best], err, horizon=h, time=time_key) if name != best else None
        table[name] = {"mae": mae[name], "vs_persistence": vs_p, "vs_best": vs_b, "dm": dm}
    inside = (y >= rows["lower"].to_numpy()) & (y <= rows["upper"].to_numpy())
    folds = rows["fold"].to_numpy()
    coverage = {int(f): float(inside[folds == f].mean()) for f in np.unique(folds)}
    promoted = float(np.abs(y - rows["promoted"].to_numpy()).mean())
    return {"rows": rows.height, "best": best, "table": table, "coverage": coverage, "coverage_all": float(inside.mean()),
            "mae_promoted": promoted}


def evaluate(path: Path, folds: int, max_bars: int, threads: int, console: Console) -> dict:
    raw = read_market_csv(path)
    clean, rejects = clean_ohlcv(raw)
    bars = clean.height
    clean = clean.sort("ts").tail(max_bars)
    features = compute_features(clean)
    config = EnsembleConfig()
    data = build_supervised(features, HORIZONS, config.window)
    started = time.monotonic()
    with console.status(f"[bold]{path.name}: {len(data)} rows, walk-forward over {folds} folds ..."):
        evaluation = walk_forward(data, config, WalkForwardConfig(folds=folds), threads=threads)
    preds = evaluation.predictions
    return {
        "series": path.name,
        "interval": clean["interval"][0],
        "bars": bars,
        "bars_used": clean.height,
        "rejected": rejects.height,
        "first_test_ts": str(evaluation.folds["test_first_ts"].min())[:10],
        "last_test_ts": str(evaluation.folds["test_last_ts"].max())[:10],
        "gates": f"{int(evaluation.summary[1]['gates_passed'])}/{int(evaluation.summary[1]['folds'])}",
        "horizons": {h: horizon_table(preds.filter(pl.col("horizon") == h), h) for h in HORIZONS},
        "direction": {h: (evaluation.summary[h]["directional_accuracy"], evaluation.summary[h]["up_share"],
                          int(evaluation.summary[h]["moved_rows"])) for h in HORIZONS},
        "seconds": round(time.monotonic() - started, 1),
    }


def ci_text(ci) -> str:
    return f"{ci.ratio:.4f} [{ci.low:.4f}, {ci.high:.4f}]"


def print_series(r: dict, console: Console) -> None:
    for h, result in r["horizons"].items():
        title = (f"{r['series']} ({r['interval']}), h = {h}: {result['rows']} test rows "
                 f"{r['first_test_ts']} to {r['last_test_ts']}, best baseline {result['best']}")
        console.print(f"\n{title}")
        table = Table()
        for column in ("forecaster", "MAE", "ratio vs persistence [95% CI]", f"ratio vs {result['best']} [95% CI]",
                       "DM stat", "DM p"):
            table.add_column(column, justify="left" if column == "forecaster" else "right")
        for name, row in result["table"].items():
            dm = row["dm"]
            table.add_row(name, f"{row['mae']:.6f}", ci_text(row["vs_persistence"]), ci_text(row["vs_best"]),
                          f"{dm.stat:+.3f}" if dm else "-", f"{dm.pvalue:.4f}" if dm else "-")
        console.print(table)
        coverage = ", ".join(f"fold {f} {c:.3f}" for f, c in result["coverage"].items())
        accuracy, up, moved = r["direction"][h]
        low, high = wilson(round(accuracy * moved), moved)
        console.print(f"  80 % interval coverage: {coverage} (pooled {result['coverage_all']:.3f}); "
                      f"directional accuracy {accuracy:.3f} [{low:.3f}, {high:.3f}] vs up-share {up:.3f}; "
                      f"promoted-by-gate MAE "
                      f"{result['mae_promoted']:.6f} (gates passed {r['gates']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", help="Yahoo or CryptoDataDownload CSV (repeatable).")
    parser.add_argument("--folds", type=int, default=4, help="Walk-forward test folds (default 4).")
    parser.add_argument("--max-bars", type=int, default=6000, help="Latest bars used per series (default 6000).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as TORCH_THREADS).")
    args = parser.parse_args()
    status = Console(stderr=True)
    out = Console(width=160)
    paths = args.data or list(DEFAULT_DATA)
    results = []
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"no such file: {path}")
        results.append(evaluate(path, args.folds, args.max_bars, args.threads, status))
        r = results[-1]
        out.print(f"\n{r['series']}: {r['bars_used']} of {r['bars']} bars, {r['seconds']} s")
        print_series(r, out)

    def gmean(values):
        return math.exp(sum(math.log(v) for v in values) / len(values))

    h1 = [r["horizons"][1] for r in results]
    ours = gmean([x["table"][MODEL]["mae"] for x in h1])
    baseline = gmean([x["table"][x["best"]]["mae"] for x in h1])
    print(
        json.dumps(
            {
                "bench": "price_eval",
                "metric": "MAE of 1-bar log-return forecasts, walk-forward; ratio = best simple baseline / model "
                "(higher is better)" + (f", geometric mean over {len(results)} series" if len(results) > 1 else ""),
                "unit": "log return",
                "ours": ours,
                "baseline": baseline,
                "baseline_name": "best of persistence, training mean, AR(1) per series",
                "ratio": baseline / ours,
                "best_baseline": {r["series"]: x["best"] for r, x in zip(results, h1, strict=True)},
                "ratio_ci95": {r["series"]: [round(x["table"][MODEL]["vs_best"].ratio, 4),
                                             round(x["table"][MODEL]["vs_best"].low, 4),
                                             round(x["table"][MODEL]["vs_best"].high, 4)]
                               for r, x in zip(results, h1, strict=True)},
                "dm_pvalue": {r["series"]: round(x["table"][MODEL]["dm"].pvalue, 4) if x["table"][MODEL]["dm"]
                              else None for r, x in zip(results, h1, strict=True)},
                "max_bars": args.max_bars,
                "folds": args.folds,
            }
        )
    )


if __name__ == "__main__":
    main()
