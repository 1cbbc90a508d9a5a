"""Benchmark: batch risk scoring of 1M feature rows against the bare model's predict on the same rows.

Trains the fraud and anomaly models on the public data set (../shared/data/fraud) with the
product's settings, builds a frame of N feature rows (rows of the data set drawn with replacement,
each value jittered by up to 5 % so no two rows are alike), then times, alternating, best of R:

- ours: `ops.fraud.scoring.score_features` on the polars frame, what the address_risk_scores asset
  runs: frame -> matrix, calibrated probability, band, three reasons (exact TreeSHAP of the flagged
  rows, band above low), IsolationForest score, HDBSCAN cluster context, the published frame;
- bare: `classifier.predict_proba` of the same calibrated model on the ready numpy matrix.

ratio = ours rows/s / bare rows/s. Per-row attributions cost about 10x a predict per flagged row (measured: 11k vs 90-111k rows/s),
so the ratio falls with the flagged share: rows drawn from the public data set are ~22 % fraud, a
chain's addresses far fewer. The share and the reasons' own rate are printed. The last line is JSON.

Usage: python bench/fraud_score.py [--rows 1000000] [--repeats 2] [--max-iter 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np
import polars as pl
from rich.console import Console

from ops.fraud.anomaly import fit_anomaly_model
from ops.fraud.matrix import feature_matrix
from ops.fraud.model import TrainParams, train_fraud_model
from ops.fraud.schema import FEATURES
from ops.fraud.scoring import score_features
from resources.training_data import load_public_dataset

SHARED = REPO_ROOT.parent / "shared" / "data"
console = Console(stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=TrainParams().max_iter)
    args = parser.parse_args()

    with console.status("training the fraud and anomaly models on the public data set"):
        frame = load_public_dataset(SHARED / "fraud" / "ethereum_fraud_transaction_dataset.csv")
        x, y = feature_matrix(frame), frame["label"].to_numpy()
        fraud = train_fraud_model(x, y, frame["address"].to_list(), TrainParams(max_iter=args.max_iter)).model
        anomaly = fit_anomaly_model(x, y, FEATURES)

    rng = np.random.default_rng(0)
    rows = x[rng.integers(0, len(x), args.rows)] * rng.uniform(0.95, 1.05, size=(args.rows, len(FEATURES)))
    batch = pl.DataFrame({"address": [f"0x{i:040x}" for i in range(args.rows)]}).with_columns(
        pl.from_numpy(rows, schema=list(FEATURES))
    )
    matrix = feature_matrix(batch)
    when = datetime.now(UTC)

    def ours() -> None:
        out = score_features(fraud, anomaly, batch, model_version="bench", anomaly_version="bench", scored_at=when)
        assert out.height == args.rows

    def bare() -> None:
        fraud.classifier.predict_proba(matrix)

    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for i in range(args.repeats):
        for name, fn in (("bare", bare), ("ours", ours)) if i % 2 == 0 else (("ours", ours), ("bare", bare)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
            console.print(f"run {i + 1}: {name} {times[name][-1]:.2f} s")
    ours_rate = args.rows / min(times["ours"])
    bare_rate = args.rows / min(times["bare"])
    flagged = fraud.score_proba(matrix) >= fraud.reason_cut()
    console.print(f"ours {ours_rate:,.0f} rows/s, bare predict {bare_rate:,.0f} rows/s; "
                  f"{flagged.mean():.1%} of the rows flagged (explained)")
    sample = matrix[flagged][:20_000]
    fraud.explainer.prepare()
    start = time.perf_counter()
    fraud.explainer.shap_values(sample)
    console.print(f"TreeSHAP alone: {len(sample) / (time.perf_counter() - start):,.0f} rows/s")
    print(json.dumps({"bench": "fraud_score", "metric": f"batch risk scoring of {args.rows} rows, {flagged.mean():.0%} flagged and explained (higher is better)",
                      "unit": "rows/s", "ours": round(ours_rate), "baseline": round(bare_rate),
                      "baseline_name": "bare calibrated model predict_proba on the same rows",
                      "ratio": round(ours_rate / bare_rate, 3)}))


if __name__ == "__main__":
    main()
