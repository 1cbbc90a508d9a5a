"""Asset checks that score the intel detectors against what the devnet scenario planted.

The devnet writes its ground truth (orchestration/simulator/scenario.py) to DEVNET_GROUND_TRUTH, by
default <home>/devnet/ground_truth.json; a run may name another file in its config. Without a
file, or with one that names another chain (none of its planted transactions is indexed), the
checks pass with ``scored: false`` and say why: there is nothing to score against, which is not
the same as a score.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from ops.intel.clusters import false_merges
from ops.intel.mev_eval import (
    EXPECTED_KINDS,
    f1,
    mev_inspect_sandwiches,
    naive_sandwiches,
    planted_sandwiches,
    score_sandwiches,
)
from ops.intervals import proportion
from ops.reporting import markdown_table


class GroundTruthConfig(dg.Config):
    """Where the devnet's ground truth is; empty: DEVNET_GROUND_TRUTH, else <home>/devnet/ground_truth.json."""

    ground_truth: str = ""


def load_truth(config: GroundTruthConfig) -> tuple[dict[str, Any] | None, str]:
    """(ground truth or None, where it was looked for)."""
    if config.ground_truth:
        path = Path(config.ground_truth)
    else:
        from resources.settings import get_settings

        path = get_settings().resolved_devnet_ground_truth
    if not path.is_file():
        return None, str(path)
    try:
        return json.loads(path.read_text()), str(path)
    except (OSError, ValueError):
        return None, str(path)


def _unscored(check: str, asset: str, why: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=asset, check_name=check, passed=True,
                               metadata={"scored": dg.MetadataValue.bool(False), "why": dg.MetadataValue.text(why)})


def sandwich_check(truth: dict[str, Any] | None, where: str, span: tuple[int, int], swaps: pl.DataFrame,
                   sandwiches: pl.DataFrame, indexed_txs: set[str]) -> dg.AssetCheckResult:
    """Recall per planted kind and precision of our sandwiches, beside the naive and mev-inspect-py rules."""
    check, asset = "planted_sandwiches_found", "mev_sandwiches"
    if truth is None:
        return _unscored(check, asset, f"no devnet ground truth at {where}")
    cases = [c for c in planted_sandwiches(truth) if span[0] <= c["block"] <= span[1]]
    if not cases:
        return _unscored(check, asset, "the ground truth plants nothing in this range")
    if not any(c["front_tx"] in indexed_txs for c in cases):
        return _unscored(check, asset, f"the ground truth at {where} names another chain (its transactions are not indexed)")
    columns = ["block_number", "pool", "front_transaction_hash", "back_transaction_hash"]
    ours = score_sandwiches(sandwiches.select(columns), cases, span)
    naive = score_sandwiches(naive_sandwiches(swaps), cases, span)
    inspect = score_sandwiches(mev_inspect_sandwiches(swaps), cases, span)
    table = ours.select("kind", "planted", "found", "recall", "recall_lo", "recall_hi", "false_reports").join(
        naive.select("kind", pl.col("recall").alias("naive_recall")), on="kind").join(
        inspect.select("kind", pl.col("recall").alias("mev_inspect_recall")), on="kind", maintain_order="left")
    missed = ours.filter(pl.col("kind").is_in(EXPECTED_KINDS) & (pl.col("found") < pl.col("planted")))
    everything = ours.filter(pl.col("kind") == "all").row(0, named=True)
    wrong = everything["false_reports"]
    simple_missed = not missed.filter(pl.col("kind") == "simple").is_empty()
    return dg.AssetCheckResult(
        asset_key=asset, check_name=check, passed=missed.is_empty() and wrong == 0,
        severity=dg.AssetCheckSeverity.ERROR if simple_missed or wrong else dg.AssetCheckSeverity.WARN,
        metadata={
            "scored": dg.MetadataValue.bool(True),
            "planted": dg.MetadataValue.int(everything["planted"]),
            "recall": dg.MetadataValue.float(everything["recall"] or 0.0),
            "recall_ci95": dg.MetadataValue.text(f"[{everything['recall_lo']:.3f}, {everything['recall_hi']:.3f}]"),
            "precision": dg.MetadataValue.float(everything["precision"] if everything["precision"] is not None else 1.0),
            "precision_ci95": dg.MetadataValue.text(
                f"[{everything['precision_lo']:.3f}, {everything['precision_hi']:.3f}]"
                if everything["precision"] is not None else "no detections"),
            "false_reports": dg.MetadataValue.int(wrong),
            "missed_kinds": dg.MetadataValue.text(",".join(missed["kind"].to_list()) or "none"),
            "f1": dg.MetadataValue.float(f1(ours)),
            "f1_naive": dg.MetadataValue.float(f1(naive)),
            "f1_mev_inspect": dg.MetadataValue.float(f1(inspect)),
            "by_kind": dg.MetadataValue.md(markdown_table(table)),
        },
    )


def phishing_check(truth: dict[str, Any] | None, where: str, clusters: pl.DataFrame,
                   collectors: set[str], baseline: dict[str, str] | None = None) -> dg.AssetCheckResult:
    """No phishing victim in its scammer's cluster (a victim approving a scammer is not the scammer).

    `baseline` (address -> cluster) is the clustering with every approval to an account linking,
    the rule before approval collectors were told apart: its false merges are reported beside ours.
    """
    check, asset = "no_false_merges_on_approvals", "wallet_clusters"
    if truth is None:
        return _unscored(check, asset, f"no devnet ground truth at {where}")
    entries = truth.get("phishing", [])
    if not entries:
        return _unscored(check, asset, "the ground truth plants no phishing approvals")
    predicted = dict(clusters.select("address", "cluster_id").iter_rows()) if clusters.height else {}
    merged = [v for e in entries for v in false_merges(predicted, e["scammer"], e["victims"])]
    victims = sum(len(e["victims"]) for e in entries)
    before = [v for e in entries for v in false_merges(baseline or {}, e["scammer"], e["victims"])]
    return dg.AssetCheckResult(
        asset_key=asset, check_name=check, passed=not merged,
        metadata={
            "scored": dg.MetadataValue.bool(True),
            "victims": dg.MetadataValue.int(victims),
            "false_merges": dg.MetadataValue.int(len(merged)),
            "merged_victims": dg.MetadataValue.text(",".join(merged) or "none"),
            "false_merges_rate": dg.MetadataValue.text(proportion(len(merged), victims)),
            "baseline_false_merges": dg.MetadataValue.int(len(before)),
            "baseline": dg.MetadataValue.text("every approval to an account links owner and spender"),
            "approval_collectors_not_linked": dg.MetadataValue.int(len(collectors)),
        },
    )
