"""Evaluation: the price model against persistence on real BTC series, walk-forward.

For each series (by default the BTC daily Yahoo file, the CryptoDataDownload daily and hourly files
in ../shared/data/market; `--data PATH` for any Yahoo or CryptoDataDownload CSV): parse, clean,
compute features exactly as the market assets do, then run `ops.price.evaluation.walk_forward`
with the product's default configuration and horizons (1 and 3 bars). In every fold the pipeline
is fitted on the past only (embargoed), and the *promoted* forecast is the model where its gate,
fitted on training data alone, passed, else persistence: what deploying with the promotion rule
would have served. Nothing is tuned on the test folds; the configuration is the fixed default.

Printed per series: MAE of the 1-bar log-return forecast for persistence, the raw model and the
promoted model, ratio = MAE(persistence) / MAE(promoted) (above 1: we beat persistence),
directional accuracy beside the up-share of the same test rows, interval coverage (nominal 80 %).
The last line is the JSON ratio line; with several series, `ours` and `baseline` are geometric
means of the per-series MAEs, so `ratio` is the geometric mean of the per-series ratios.

Usage: python bench/price_eval.py [--data PATH ...] [--folds N] [--threads N]
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

from rich.console import Console
from rich.table import Table

from ops.market.cleaning import clean_ohlcv
from ops.market.features import compute_features
from ops.market.parsing import read_market_csv
from ops.price.dataset import build_supervised
from ops.price.ensemble import EnsembleConfig
from ops.price.evaluation import WalkForwardConfig, walk_forward

MARKET = REPO_ROOT.parent / "shared" / "data" / "market"
DEFAULT_DATA = (
    MARKET / "btc_usd_daily_yahoo_2014_2022.csv",
    MARKET / "cdd_Binance_BTCUSDT_d.csv",
    MARKET / "cdd_Binance_BTCUSDT_1h.csv",
)
HORIZONS = (1, 3)


def evaluate(path: Path, folds: int, threads: int, console: Console) -> dict:
    raw = read_market_csv(path)
    clean, rejects = clean_ohlcv(raw)
    features = compute_features(clean)
    config = EnsembleConfig()
    data = build_supervised(features, HORIZONS, config.window)
    started = time.monotonic()
    with console.status(f"[bold]{path.name}: {len(data)} rows, walk-forward over {folds} folds ..."):
        evaluation = walk_forward(data, config, WalkForwardConfig(folds=folds), threads=threads)
    h1, h3 = evaluation.summary[1], evaluation.summary[3]
    return {
        "series": path.name,
        "interval": clean["interval"][0],
        "bars": clean.height,
        "rejected": rejects.height,
        "test_rows": int(h1["rows"]),
        "first_test_ts": str(evaluation.folds["test_first_ts"].min()),
        "last_test_ts": str(evaluation.folds["test_last_ts"].max()),
        "mae_persistence": h1["mae_persistence"],
        "mae_model": h1["mae"],
        "mae_promoted": h1["mae_promoted"],
        "ratio_model": h1["mae_ratio"],
        "ratio": h1["mae_ratio_promoted"],
        "gates_passed": f"{int(h1['gates_passed'])}/{int(h1['folds'])}",
        "directional_accuracy": h1["directional_accuracy"],
        "up_share": h1["up_share"],
        "coverage": h1["coverage"],
        "ratio_model_h3": h3["mae_ratio"],
        "coverage_h3": h3["coverage"],
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", help="Yahoo or CryptoDataDownload CSV (repeatable).")
    parser.add_argument("--folds", type=int, default=4, help="Walk-forward test folds (default 4).")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2, as TORCH_THREADS).")
    args = parser.parse_args()
    console = Console(stderr=True)
    paths = args.data or list(DEFAULT_DATA)
    results = []
    for path in paths:
        if not path.is_file():
            raise SystemExit(f"no such file: {path}")
        results.append(evaluate(path, args.folds, args.threads, console))
        r = results[-1]
        console.print(f"{r['series']}: ratio {r['ratio']:.4f} (raw model {r['ratio_model']:.4f}) in {r['seconds']} s")

    table = Table(title="1-bar log-return forecasts, walk-forward (MAE ratio = persistence / model, > 1 is better)")
    for column in ("series", "bars", "test rows", "MAE persist.", "MAE model", "MAE promoted", "ratio model",
                   "ratio promoted", "gates", "dir. acc.", "up-share", "coverage 80%", "ratio h3"):
        table.add_column(column, justify="right" if column != "series" else "left")
    for r in results:
        table.add_row(
            f"{r['series']} ({r['interval']})", str(r["bars"]), str(r["test_rows"]), f"{r['mae_persistence']:.5f}",
            f"{r['mae_model']:.5f}", f"{r['mae_promoted']:.5f}", f"{r['ratio_model']:.4f}", f"{r['ratio']:.4f}",
            r["gates_passed"], f"{r['directional_accuracy']:.3f}", f"{r['up_share']:.3f}", f"{r['coverage']:.3f}",
            f"{r['ratio_model_h3']:.4f}",
        )
    Console(width=200).print(table)
    for r in results:
        print(
            f"{r['series']}: ratio = MAE(persistence) / MAE(promoted) = {r['mae_persistence']:.6f} / "
            f"{r['mae_promoted']:.6f} = {r['ratio']:.4f}; directional accuracy {r['directional_accuracy']:.3f} "
            f"vs up-share {r['up_share']:.3f}; coverage {r['coverage']:.3f}"
        )

    def gmean(values):
        return math.exp(sum(math.log(v) for v in values) / len(values))

    ours = gmean([r["mae_promoted"] for r in results])
    baseline = gmean([r["mae_persistence"] for r in results])
    print(
        json.dumps(
            {
                "bench": "price_eval",
                "metric": "MAE of 1-bar log-return forecasts, walk-forward; ratio = persistence / promoted model "
                "(higher is better)" + (f", geometric mean over {len(results)} series" if len(results) > 1 else ""),
                "unit": "log return",
                "ours": ours,
                "baseline": baseline,
                "baseline_name": "persistence (zero return)",
                "ratio": baseline / ours,
                "directional_accuracy": {r["series"]: round(r["directional_accuracy"], 4) for r in results},
                "up_share": {r["series"]: round(r["up_share"], 4) for r in results},
                "ratio_raw_model": {r["series"]: round(r["ratio_model"], 4) for r in results},
            }
        )
    )


if __name__ == "__main__":
    main()
