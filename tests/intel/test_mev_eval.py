"""Scoring against planted cases: the baselines' blind spots, per-kind recall, precision, and the checks."""

from __future__ import annotations

import polars as pl
import pytest

from assets.intel.ground_truth import phishing_check, sandwich_check
from ops.intel.mev import detect_sandwiches
from ops.intel.mev_eval import (
    PAIR_SCHEMA,
    f1,
    mev_inspect_sandwiches,
    naive_sandwiches,
    planted_sandwiches,
    score_sandwiches,
)
from tests.intel.test_mev import POOL, POOL2, ROUTER, TKN, WETH, frame, swap, victim

BOT_CONTRACT, OP1, OP2 = "0x" + "bc" * 20, "0x" + "01" * 19 + "aa", "0x" + "02" * 19 + "aa"


def rotating_senders():
    """A bot contract calling the pair itself, front- and back-run sent by different operators."""
    return frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=OP1, sender=BOT_CONTRACT, recipient=BOT_CONTRACT),
        victim(1),
        swap(2, TKN, 2000, WETH, 11 * 10**17, tx_from=OP2, sender=BOT_CONTRACT, recipient=BOT_CONTRACT),
    )


def through_router():
    """A bot EOA relaying both legs through a public router (the swaps' sender is the router)."""
    return frame(
        swap(0, WETH, 10**18, TKN, 2000, tx_from=OP1, sender=ROUTER, recipient=OP1),
        victim(1),
        swap(2, TKN, 2000, WETH, 11 * 10**17, tx_from=OP1, sender=ROUTER, recipient=OP1),
    )


def pairs(found: pl.DataFrame) -> set[tuple[str, str]]:
    return set(found.select("front_transaction_hash", "back_transaction_hash").iter_rows())


def test_each_baseline_has_the_blind_spot_ours_does_not():
    rotating, routed = rotating_senders(), through_router()
    assert pairs(detect_sandwiches(rotating)) and pairs(detect_sandwiches(routed, routers=[ROUTER]))
    assert not pairs(naive_sandwiches(rotating))  # two senders: the A-B-A rule sees no A
    assert pairs(naive_sandwiches(routed))
    assert pairs(mev_inspect_sandwiches(rotating))  # recipient = sender = the contract
    assert not pairs(mev_inspect_sandwiches(routed))  # the back-run's sender is the router, not the recipient
    # and neither baseline reports a buy-then-sell nobody traded between
    lone = frame(swap(0, WETH, 10**18, TKN, 2000, tx_from=OP1), swap(1, TKN, 2000, WETH, 10**18, tx_from=OP1))
    assert naive_sandwiches(lone).is_empty() and mev_inspect_sandwiches(lone).is_empty()


def _truth(**cases):
    base = {"sandwiches": [], "hard_sandwiches": [], "non_sandwiches": [], "failed_sandwiches": []}
    return base | cases


def _detections(*rows):
    return pl.DataFrame([dict(zip(PAIR_SCHEMA, r, strict=True)) for r in rows], schema=PAIR_SCHEMA)


def test_score_counts_a_multi_pool_case_only_when_every_pool_is_found_and_charges_false_reports():
    truth = _truth(
        sandwiches=[{"block": 5, "pool": POOL, "front_tx": "f1", "back_tx": "b1"}],
        hard_sandwiches=[{"kind": "multi_pool", "block": 6, "pools": [POOL, POOL2], "front_tx": "f2", "back_tx": "b2"}],
        non_sandwiches=[{"block": 7, "pool": POOL, "txs": ["n1", "n2"]}],
        failed_sandwiches=[{"block": 8, "pool": POOL, "front_tx": "x1", "back_tx": "x2"}],
    )
    cases = planted_sandwiches(truth)
    half = score_sandwiches(_detections((5, POOL, "f1", "b1"), (6, POOL, "f2", "b2")), cases)
    by_kind = {r["kind"]: r for r in half.iter_rows(named=True)}
    assert by_kind["simple"]["found"] == 1 and by_kind["multi_pool"]["found"] == 0
    assert by_kind["all"]["recall"] == 0.5 and by_kind["all"]["precision"] == 1.0
    whole = score_sandwiches(_detections((5, POOL, "f1", "b1"), (6, POOL, "f2", "b2"), (6, POOL2, "f2", "b2"),
                                         (7, POOL, "n1", "n2"), (9, POOL, "zz", "yy")), cases)
    by_kind = {r["kind"]: r for r in whole.iter_rows(named=True)}
    assert by_kind["multi_pool"]["found"] == 1 and by_kind["no_victim"]["false_reports"] == 1
    assert by_kind["all"]["false_reports"] == 2 and by_kind["all"]["precision"] == pytest.approx(2 / 4)
    # two of two found is recall 1.0, but the 95 % interval still reaches far below it
    assert by_kind["all"]["recall"] == 1.0 and by_kind["all"]["recall_lo"] < 0.35
    assert 0 < f1(whole) < 1
    # a span scores only its own blocks
    assert score_sandwiches(_detections((5, POOL, "f1", "b1")), cases, span=(0, 5)).row(-1, named=True)["recall"] == 1.0


def _check_inputs(swaps_frame):
    found = detect_sandwiches(swaps_frame, routers=[ROUTER])
    indexed = set(swaps_frame["transaction_hash"].to_list())
    return found, indexed


def test_the_sandwich_check_fails_on_a_miss_and_warns_only_for_hard_kinds():
    swaps_frame = through_router()
    hashes = swaps_frame.sort("transaction_index")["transaction_hash"].to_list()
    found, indexed = _check_inputs(swaps_frame)
    planted = {"block": 100, "pool": POOL, "front_tx": hashes[0], "back_tx": hashes[2]}
    good = sandwich_check(_truth(sandwiches=[planted]), "t.json", (0, 200), swaps_frame, found, indexed)
    assert good.passed and good.metadata["scored"].value and good.metadata["f1_mev_inspect"].value == 0.0
    missed_simple = sandwich_check(_truth(sandwiches=[planted]), "t.json", (0, 200), swaps_frame,
                                   found.clear(), indexed)
    assert not missed_simple.passed and missed_simple.severity.value == "ERROR"
    hard = {"kind": "router_bot", "block": 100, "pools": [POOL], "front_tx": hashes[0], "back_tx": hashes[2]}
    missed_hard = sandwich_check(_truth(hard_sandwiches=[hard]), "t.json", (0, 200), swaps_frame, found.clear(), indexed)
    assert not missed_hard.passed and missed_hard.severity.value == "WARN"
    assert missed_hard.metadata["missed_kinds"].value == "router_bot"


def test_the_sandwich_check_does_not_pretend_to_score_without_matching_truth():
    swaps_frame = through_router()
    found, indexed = _check_inputs(swaps_frame)
    nothing = sandwich_check(None, "missing.json", (0, 200), swaps_frame, found, indexed)
    assert nothing.passed and nothing.metadata["scored"].value is False
    other_chain = _truth(sandwiches=[{"block": 100, "pool": POOL, "front_tx": "0xother", "back_tx": "0xb"}])
    elsewhere = sandwich_check(other_chain, "t.json", (0, 200), swaps_frame, found, indexed)
    assert elsewhere.metadata["scored"].value is False and "another chain" in elsewhere.metadata["why"].value


def test_the_phishing_check_counts_victims_in_the_scammers_cluster():
    truth = {"phishing": [{"scammer": "0xs", "victims": ["0xv1", "0xv2", "0xv3"]}]}
    clusters = pl.DataFrame({"address": ["0xs", "0xv1", "0xv2", "0xo"], "cluster_id": ["c1", "c1", "c2", "c1"]})
    result = phishing_check(truth, "t.json", clusters, set())
    assert not result.passed and result.metadata["false_merges"].value == 1
    assert result.metadata["merged_victims"].value == "0xv1"
    clean = phishing_check(truth, "t.json", clusters.filter(pl.col("address") != "0xv1"), {"0xs"})
    assert clean.passed and clean.metadata["approval_collectors_not_linked"].value == 1
