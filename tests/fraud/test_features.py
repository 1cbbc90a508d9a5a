"""Chain features against hand-computed values, and against a plain recount on real mainnet blocks."""

from __future__ import annotations

import json
from collections import defaultdict

import polars as pl
import pytest

from ops.fraud.features import address_features
from ops.fraud.schema import ADDRESS_FEATURES_SCHEMA, FEATURES
from tests.fraud.conftest import A, B, C, K, chain_frames


@pytest.fixture(scope="module")
def features() -> dict[str, dict]:
    f = chain_frames()
    out = address_features(f["chain_transactions"], f["token_transfers"], f["contracts"])
    assert out.schema == pl.Schema(ADDRESS_FEATURES_SCHEMA)
    return {row["address"]: row for row in out.iter_rows(named=True)}


def test_every_address_once_in_any_spelling(features):
    assert sorted(features) == sorted([A, B, C, K])  # the upper-case spelling of A is the same account


def test_sender_with_a_contract_creation_and_tokens(features):
    a = features[A]
    expected = {
        "sent_tx": 3, "received_tx": 0, "created_contracts": 1, "total_transactions": 4,
        "unique_sent_to": 2, "unique_received_from": 0,
        "min_value_sent": 1.0, "max_value_sent": 3.0, "avg_value_sent": 2.0, "total_ether_sent": 6.0,
        "total_ether_received": 0.0, "total_ether_balance": -6.0,
        "avg_min_between_sent_tx": 30.0,  # 1000 -> 1600 -> 4600 s: 3600 s over two gaps
        "time_diff_first_last_min": 60.0,  # 1000 -> 4600 s, the creation included
        "erc20_total_tx": 3, "erc20_total_sent": 6.0, "erc20_min_val_sent": 1.0, "erc20_max_val_sent": 5.0,
        "erc20_avg_val_sent": 3.0, "erc20_uniq_sent_addr": 2, "erc20_total_sent_contract": 1.0,
        "erc20_uniq_sent_contract_addr": 1, "erc20_uniq_sent_token": 1,
        "erc20_total_received": 2.0, "erc20_uniq_rec_addr": 1, "erc20_uniq_rec_contract_addr": 1,
        "erc20_uniq_rec_token": 1, "erc20_avg_val_rec": 2.0,
        "first_block": 1, "last_block": 6,
    }
    assert {k: a[k] for k in expected} == pytest.approx(expected)


def test_receiver_that_pays_a_contract(features):
    c = features[C]
    expected = {
        "sent_tx": 1, "received_tx": 2, "unique_received_from": 2, "unique_sent_to": 1,
        "min_value_received": 0.5, "max_value_received": 2.0, "avg_value_received": 1.25,
        "total_ether_received": 2.5, "total_ether_sent": 2.0, "total_ether_balance": 0.5,
        "min_value_sent_to_contract": 2.0, "max_value_sent_to_contract": 2.0, "avg_value_sent_to_contract": 2.0,
        "total_ether_sent_contracts": 2.0, "avg_min_between_received_tx": 40.0, "time_diff_first_last_min": 40.0,
        "avg_min_between_sent_tx": 0.0, "erc20_total_tx": 1, "erc20_total_sent": 2.0,
    }
    assert {k: c[k] for k in expected} == pytest.approx(expected)
    b = features[B]
    assert (b["avg_min_between_received_tx"], b["total_ether_balance"], b["erc20_total_received"]) == (10.0, 3.5, 5.0)
    # the contract only ever received: no sends, no averages of nothing
    k = features[K]
    assert (k["received_tx"], k["sent_tx"], k["avg_value_sent"], k["avg_min_between_received_tx"]) == (1, 0, 0.0, 0.0)


def test_only_the_addresses_asked_for():
    f = chain_frames()
    out = address_features(f["chain_transactions"], f["token_transfers"], f["contracts"],
                           addresses=[B, "0x" + "9" * 40])
    assert out["address"].to_list() == sorted([B, "0x" + "9" * 40])
    unknown = out.filter(pl.col("address") == "0x" + "9" * 40).row(0, named=True)
    assert all(unknown[name] == 0.0 for name in FEATURES)


def test_real_mainnet_blocks_match_a_plain_recount(shared_data):
    """Two real blocks as ethereum-etl exported them: our counts and sums equal a dict-based recount."""
    folder = shared_data / "chain" / "ethereum-etl_blocks_17173049_17173050"
    txs = [json.loads(line) for line in (folder / "expected_transactions.json").read_text().splitlines() if line]
    tts = [json.loads(line) for line in (folder / "expected_token_transfers.json").read_text().splitlines() if line]
    frame = pl.DataFrame(txs, infer_schema_length=None).with_columns(pl.col("value").cast(pl.Utf8))
    transfers = pl.DataFrame(tts, infer_schema_length=None).with_columns(pl.col("value").cast(pl.Utf8))
    out = address_features(frame, transfers, None)
    got = {row["address"]: row for row in out.iter_rows(named=True)}

    sent, received, ether_sent, sent_to = defaultdict(int), defaultdict(int), defaultdict(int), defaultdict(set)
    erc20 = defaultdict(int)
    for t in txs:
        if t["to_address"] is None:
            continue
        sent[t["from_address"]] += 1
        received[t["to_address"]] += 1
        ether_sent[t["from_address"]] += int(t["value"])
        sent_to[t["from_address"]].add(t["to_address"])
    for t in tts:
        erc20[t["from_address"]] += 1
        erc20[t["to_address"]] += 1
    busiest = sorted(set(sent) | set(received), key=lambda a: -(sent[a] + received[a]))[:8]
    for address in busiest:
        row = got[address]
        assert (row["sent_tx"], row["received_tx"], row["unique_sent_to"], row["erc20_total_tx"]) == (
            sent[address], received[address], len(sent_to[address]), erc20[address]
        ), address
        assert row["total_ether_sent"] == pytest.approx(ether_sent[address] / 10**18)
    assert len(got) >= len(set(sent) | set(received))
