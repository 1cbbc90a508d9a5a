"""Scoring the sandwich detector against planted ground truth, per case kind, beside two baselines.

A figure without its baseline and its uncertainty says little: on a handful of planted cases a
recall of 1.0 has a Wilson 95 % interval reaching far down, and a detector that finds what a
naive rule finds adds nothing. So every score here comes with its interval and with the same
score for two baselines run on the same swaps:

- ``naive``: same pool, same block, swaps by one transaction sender A, then someone else's in the
  same direction, then A's in the opposite direction (A-B-A by ``tx_from``).
- ``mev_inspect``: the rule of flashbots/mev-inspect-py: the sandwicher is the front-run's
  recipient; victims swap the same way from another sender; the back-run is the first reverse swap
  whose sender is the sandwicher.

A detection is one (front-run, back-run) transaction pair; it is right when a positive planted
case has that pair (a multi-pool case is found only when every one of its pools is).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from ops.intel.swaps import normalize_swaps
from ops.intervals import wilson

#: Planted kinds a detector should find, and kinds it must not report.
POSITIVE_KINDS = ("simple", "multi_pool", "multi_hop", "router_bot", "contract_bot", "partial_backrun")
NEGATIVE_KINDS = ("no_victim", "failed_backrun")
#: Kinds the detector is expected to find today: a miss there is an error, elsewhere a warning.
EXPECTED_KINDS = POSITIVE_KINDS

PAIR_SCHEMA = {"block_number": pl.Int64, "pool": pl.Utf8, "front_transaction_hash": pl.Utf8,
               "back_transaction_hash": pl.Utf8}


def planted_sandwiches(truth: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every planted case of a devnet ground truth: kind, block, pools, front/back tx, positive or not."""
    cases = []
    for s in truth.get("sandwiches", []):
        cases.append({"kind": "simple", "block": s["block"], "pools": (s["pool"],), "front_tx": s["front_tx"],
                      "back_tx": s["back_tx"], "positive": True})
    for s in truth.get("hard_sandwiches", []):
        cases.append({"kind": s["kind"], "block": s["block"], "pools": tuple(s["pools"]), "front_tx": s["front_tx"],
                      "back_tx": s["back_tx"], "positive": True})
    for s in truth.get("non_sandwiches", []):
        cases.append({"kind": "no_victim", "block": s["block"], "pools": (s["pool"],), "front_tx": s["txs"][0],
                      "back_tx": s["txs"][1], "positive": False})
    for s in truth.get("failed_sandwiches", []):
        cases.append({"kind": "failed_backrun", "block": s["block"], "pools": (s["pool"],), "front_tx": s["front_tx"],
                      "back_tx": s["back_tx"], "positive": False})
    return cases


def score_sandwiches(detections: pl.DataFrame, cases: Iterable[Mapping[str, Any]],
                     span: tuple[int, int] | None = None) -> pl.DataFrame:
    """Recall per positive kind, false reports per negative kind, precision overall, with Wilson 95 % CIs.

    `detections` has PAIR_SCHEMA columns (one row per pool a sandwich was reported on). Only cases
    and detections in `span` (first, last block) are scored; detections that match no planted
    case count against precision (the ground truth names every sandwich the scenario made).
    """
    cases = [c for c in cases if span is None or span[0] <= c["block"] <= span[1]]
    d = detections
    if span is not None and d.height:
        d = d.filter(pl.col("block_number").is_between(span[0], span[1]))
    pools_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for front, back, pool in d.select("front_transaction_hash", "back_transaction_hash", "pool").iter_rows():
        pools_of[(front, back)].add(pool)
    by_pair = {(c["front_tx"], c["back_tx"]): c for c in cases}
    rows = []
    for kind in (*POSITIVE_KINDS, *NEGATIVE_KINDS):
        mine = [c for c in cases if c["kind"] == kind]
        if kind in POSITIVE_KINDS:
            found = sum(set(c["pools"]) <= pools_of.get((c["front_tx"], c["back_tx"]), set()) for c in mine)
            lo, hi = wilson(found, len(mine))
            rows.append({"kind": kind, "planted": len(mine), "found": found,
                         "recall": found / len(mine) if mine else None, "recall_lo": lo, "recall_hi": hi,
                         "false_reports": 0})
        else:
            wrong = sum((c["front_tx"], c["back_tx"]) in pools_of for c in mine)
            rows.append({"kind": kind, "planted": len(mine), "found": wrong, "recall": None, "recall_lo": None,
                         "recall_hi": None, "false_reports": wrong})
    right = sum(1 for pair in pools_of if pair in by_pair and by_pair[pair]["positive"])
    positives = [c for c in cases if c["positive"]]
    found_all = sum(r["found"] for r in rows if r["kind"] in POSITIVE_KINDS)
    lo, hi = wilson(found_all, len(positives))
    p_lo, p_hi = wilson(right, len(pools_of))
    rows.append({"kind": "all", "planted": len(positives), "found": found_all,
                 "recall": found_all / len(positives) if positives else None, "recall_lo": lo, "recall_hi": hi,
                 "false_reports": len(pools_of) - right})
    out = pl.DataFrame(rows, schema={"kind": pl.Utf8, "planted": pl.Int64, "found": pl.Int64, "recall": pl.Float64,
                                     "recall_lo": pl.Float64, "recall_hi": pl.Float64, "false_reports": pl.Int64})
    precision = right / len(pools_of) if pools_of else None
    return out.with_columns(
        pl.when(pl.col("kind") == "all").then(pl.lit(precision, dtype=pl.Float64)).otherwise(None).alias("precision"),
        pl.when(pl.col("kind") == "all").then(pl.lit(p_lo, dtype=pl.Float64)).otherwise(None).alias("precision_lo"),
        pl.when(pl.col("kind") == "all").then(pl.lit(p_hi, dtype=pl.Float64)).otherwise(None).alias("precision_hi"),
    )


def f1(scores: pl.DataFrame) -> float:
    """F1 of the 'all' row (0 when nothing was found)."""
    row = scores.filter(pl.col("kind") == "all").row(0, named=True)
    p, r = row["precision"] or 0.0, row["recall"] or 0.0
    return 2 * p * r / (p + r) if p + r else 0.0


# -- baselines ------------------------------------------------------------------------------------
def _groups(swaps: pl.DataFrame):
    frame = normalize_swaps(swaps).sort(["block_number", "pool", "transaction_index", "log_index"])
    cols = frame.to_dict(as_series=False)
    n, start = frame.height, 0
    while start < n:
        end = start
        while end < n and cols["block_number"][end] == cols["block_number"][start] and cols["pool"][end] == cols["pool"][start]:
            end += 1
        yield cols, start, end
        start = end


def _pairs(found: list[tuple[int, int]], cols: dict) -> list[dict]:
    return [{"block_number": cols["block_number"][f], "pool": cols["pool"][f],
             "front_transaction_hash": cols["transaction_hash"][f],
             "back_transaction_hash": cols["transaction_hash"][b]} for f, b in found]


def naive_sandwiches(swaps: pl.DataFrame) -> pl.DataFrame:
    """Baseline: A-B-A on one pool in one block, A being the transaction sender (PAIR_SCHEMA rows)."""
    out: list[dict] = []
    for cols, start, end in _groups(swaps):
        who, tin, tout, tx = cols["tx_from"], cols["token_in"], cols["token_out"], cols["transaction_hash"]
        found = []
        for i in range(start, end):
            victims = 0
            for j in range(i + 1, end):
                if tx[j] == tx[i]:
                    continue
                if who[j] == who[i]:
                    if tin[j] == tout[i] and tout[j] == tin[i]:
                        if victims:
                            found.append((i, j))
                        break
                elif tin[j] == tin[i] and tout[j] == tout[i]:
                    victims += 1
        out += _pairs(found, cols)
    return pl.DataFrame(out, schema=PAIR_SCHEMA)


def mev_inspect_sandwiches(swaps: pl.DataFrame) -> pl.DataFrame:
    """Baseline: mev-inspect-py's rule (sandwicher = front-run's recipient = back-run's sender)."""
    out: list[dict] = []
    for cols, start, end in _groups(swaps):
        sender, recipient = cols["sender"], cols["recipient"]
        tin, tout, tx = cols["token_in"], cols["token_out"], cols["transaction_hash"]
        found = []
        for i in range(start, end):
            sandwicher, victims = recipient[i], 0
            for j in range(i + 1, end):
                if tx[j] == tx[i]:
                    continue
                if tin[j] == tin[i] and tout[j] == tout[i] and sender[j] != sandwicher:
                    victims += 1
                elif tin[j] == tout[i] and tout[j] == tin[i] and sender[j] == sandwicher and victims:
                    found.append((i, j))
                    break
        out += _pairs(found, cols)
    return pl.DataFrame(out, schema=PAIR_SCHEMA)
