"""Approval heuristics: one's own other wallet links, a phishing drainer collecting many approvals does not."""

from __future__ import annotations

import polars as pl

from ops.intel.clusters import (
    APPROVAL_TOPIC,
    approval_collectors,
    approval_links,
    false_merges,
    wallet_clusters,
)

TOKEN = "0x" + "70" * 20
SCAMMER, OWNER, OWN_WALLET = "0x" + "5c" * 20, "0x" + "0a" * 20, "0x" + "0b" * 20
VICTIMS = ["0x" + f"{i:02x}" * 20 for i in (0xd1, 0xd2, 0xd3)]


def _topic(address: str) -> str:
    return "0x" + "0" * 24 + address[2:]


def approval(owner: str, spender: str, n: int) -> dict:
    return {"topic0": APPROVAL_TOPIC, "topic1": _topic(owner), "topic2": _topic(spender), "topic3": None,
            "transaction_hash": f"0x{n:064x}", "address": TOKEN}


def drain(owner: str, spender: str, n: int, block: int) -> dict:
    return {"token_address": TOKEN, "from_address": owner, "to_address": spender, "value": "1000",
            "transaction_hash": f"0x{n + 100:064x}", "block_number": block}


def story():
    logs = pl.DataFrame([approval(OWNER, OWN_WALLET, 1)] + [approval(v, SCAMMER, 2 + i) for i, v in enumerate(VICTIMS)])
    transfers = pl.DataFrame([drain(v, SCAMMER, i, 10 + i) for i, v in enumerate(VICTIMS)]
                             + [drain(OWNER, OWN_WALLET, 9, 20)])
    return logs, transfers


def test_a_spender_many_owners_approve_links_nobody():
    logs, _ = story()
    assert approval_collectors(logs, []) == {SCAMMER}
    links = approval_links(logs, [])
    assert links.select("address_a", "address_b").rows() == [tuple(sorted((OWNER, OWN_WALLET)))]
    # the rule as it was (any approval to an account links): every victim joins the scammer
    old = approval_links(logs, [], min_owners=10**9)
    assert {a for row in old.select("address_a", "address_b").rows() for a in row} >= {SCAMMER, *VICTIMS}


def test_phishing_victims_stay_out_of_the_scammers_cluster():
    logs, transfers = story()
    clusters, _links = wallet_clusters(transfers, logs)
    predicted = dict(clusters.select("address", "cluster_id").iter_rows())
    assert predicted[OWNER] == predicted[OWN_WALLET]
    assert false_merges(predicted, SCAMMER, VICTIMS) == []
    assert not set(VICTIMS) & set(predicted)  # nothing else linked them either
    merged = {**predicted, SCAMMER: "c", VICTIMS[0]: "c"}
    assert false_merges(merged, SCAMMER, VICTIMS) == [VICTIMS[0]]
