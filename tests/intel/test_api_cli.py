"""The chain-intelligence endpoints (both warehouse backends) and the two CLI commands."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from ops.intel.contracts import analysis_frame, analysis_row, analyze
from ops.intel.mev import bundle_costs, detect_arbitrages, detect_sandwiches
from orchestration.cli import app
from resources.tables import (
    CHAIN_TRANSACTIONS,
    CONTRACT_ANALYSIS,
    MEV_ARBITRAGES,
    MEV_SANDWICHES,
    WALLET_CLUSTERS,
)
from tests.intel.conftest import minimal_proxy, slot_proxy
from tests.intel.test_mev import BOT, BOT_EOA, POOL, POOL2, TKN, WETH, frame, hop, swap, victim

API = "/api/v1/chain"
IMPL = "0x" + "ab" * 20
CLONE = "0x" + "c1" * 20
VICTIM = "0x" + "d1" * 20


@pytest.fixture
def seeded(warehouse):
    swaps = frame(
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, sender=BOT, recipient=BOT, block=100),
        victim(1, who=VICTIM, block=100),
        swap(2, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, sender=BOT, recipient=BOT, block=100),
        hop(1, POOL, WETH, 10**18, TKN, 5000, block=105), hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17, block=105),
    )
    warehouse.upsert(MEV_SANDWICHES, detect_sandwiches(swaps, routers=["0x" + "7a" * 20]))
    warehouse.upsert(MEV_ARBITRAGES, detect_arbitrages(swaps))
    txs = pl.DataFrame({"hash": swaps["transaction_hash"].unique().to_list()}).join(
        swaps.select(pl.col("transaction_hash").alias("hash"), pl.col("tx_from").alias("from_address"),
                     "block_number", "transaction_index").unique("hash"), on="hash")
    full = txs.with_columns([pl.lit(None, dtype=d).alias(c) for c, d in CHAIN_TRANSACTIONS.schema.items()
                             if c not in txs.columns])
    warehouse.upsert(CHAIN_TRANSACTIONS, full.select(list(CHAIN_TRANSACTIONS.schema)))
    clone = analysis_row(CLONE, analyze(minimal_proxy(IMPL)), block_number=3)
    impl = analysis_row(IMPL, analyze(slot_proxy("0x" + "11" * 32) + b"\x00"), analysed_as="implementation")
    warehouse.upsert(CONTRACT_ANALYSIS, analysis_frame([clone, impl]))
    warehouse.upsert(WALLET_CLUSTERS, pl.DataFrame([
        {"address": VICTIM, "cluster_id": "cl_x", "cluster_size": 2, "heuristics": "deposit_reuse", "labels": "",
         "behaviour_cluster": 1, "outlier_score": 0.1},
        {"address": "0x" + "d9" * 20, "cluster_id": "cl_x", "cluster_size": 2, "heuristics": "deposit_reuse",
         "labels": "", "behaviour_cluster": 1, "outlier_score": 0.2},
    ], schema=WALLET_CLUSTERS.schema))


def test_contract_endpoint(client, seeded):
    body = client.get(f"{API}/contract/{CLONE.upper().replace('0X', '0x')}").json()
    assert body["proxy_kind"] == "eip1167" and body["implementation"] == IMPL and body["selectors"] == []
    assert body["implementation_analysis"]["address"] == IMPL
    missing = client.get(f"{API}/contract/0x{'00' * 20}")
    assert missing.status_code == 404 and "not been analysed" in missing.json()["detail"]
    bad = client.get(f"{API}/contract/0x123")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "address"]


def test_mev_answers_gross_mev_inspect_and_net_profit_side_by_side(client, warehouse):
    swaps = frame(
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, block=300),
        victim(1, block=300),
        swap(2, TKN, 5_000, WETH, 3 * 10**18, tx_from=BOT_EOA, block=300),  # sells back half
    )
    found = detect_sandwiches(swaps)
    miner = "0x" + "c0" * 20
    txs = pl.DataFrame([
        {"hash": h, "block_number": 300, "from_address": BOT_EOA, "to_address": "0x" + "7a" * 20, "value": "0",
         "gas_price": 10**10, "receipt_gas_used": 100_000, "receipt_effective_gas_price": 10**10, "receipt_status": 1}
        for h in (found["front_transaction_hash"][0], found["back_transaction_hash"][0])
    ])
    costed, _ = bundle_costs(found, detect_arbitrages(swaps), txs, pl.DataFrame({"number": [300], "miner": [miner]}),
                             native_tokens=[WETH])
    warehouse.upsert(MEV_SANDWICHES, costed)
    row = client.get(f"{API}/mev", params={"from_block": 300, "to_block": 300, "kind": "sandwich"}).json()["sandwiches"][0]
    assert row["profit"] == pytest.approx(0.5 * 10**18) and row["profit_mev_inspect"] == pytest.approx(-2 * 10**18)
    assert row["gas_cost_wei"] == 2 * 100_000 * 10**10 and row["coinbase_transfer_wei"] == 0
    assert row["net_profit"] == pytest.approx(0.5 * 10**18 - 2 * 10**15)


def test_mev_endpoint_filters_by_block_and_kind(client, seeded):
    body = client.get(f"{API}/mev", params={"from_block": 100, "to_block": 110}).json()
    assert len(body["sandwiches"]) == 1 and len(body["arbitrages"]) == 1
    assert body["sandwiches"][0]["victim_count"] == 1 and body["arbitrages"][0]["hops"] == 2
    only = client.get(f"{API}/mev", params={"from_block": 101, "to_block": 110, "kind": "arbitrage"}).json()
    assert "sandwiches" not in only and len(only["arbitrages"]) == 1
    assert client.get(f"{API}/mev", params={"from_block": 0, "to_block": 99}).json()["sandwiches"] == []
    assert body["to_block"] == 110 and body["next_from_block"] is None
    assert client.get(f"{API}/mev", params={"from_block": 1}).status_code == 422
    assert client.get(f"{API}/mev", params={"from_block": 1, "to_block": 2, "kind": "x"}).status_code == 422


def test_mev_reversed_span_is_empty(client, seeded):
    for kind, keys in (("all", {"sandwiches", "arbitrages"}), ("sandwich", {"sandwiches"})):
        response = client.get(f"{API}/mev", params={"from_block": 110, "to_block": 100, "kind": kind})
        assert response.status_code == 200, kind
        body = response.json()
        assert (body["from_block"], body["to_block"], body["next_from_block"]) == (110, 100, None)
        assert {key: body[key] for key in keys} == {key: [] for key in keys}, kind
        assert keys | {"from_block", "to_block", "next_from_block", "kind"} == set(body), kind


def test_mev_long_span_answers_its_first_blocks_and_where_to_continue(client, seeded):
    from serving.routers.chain_intel import MAX_MEV_SPAN

    body = client.get(f"{API}/mev", params={"from_block": 100, "to_block": 100 + 3 * MAX_MEV_SPAN}).json()
    assert (body["from_block"], body["to_block"]) == (100, 100 + MAX_MEV_SPAN - 1)
    assert body["next_from_block"] == 100 + MAX_MEV_SPAN
    assert len(body["sandwiches"]) == 1 and len(body["arbitrages"]) == 1
    rest = client.get(f"{API}/mev", params={"from_block": body["next_from_block"], "to_block": 100 + 3 * MAX_MEV_SPAN})
    assert rest.json()["sandwiches"] == [] and rest.json()["next_from_block"] == 100 + 2 * MAX_MEV_SPAN
    # Exactly MAX_MEV_SPAN blocks is answered whole, and so is the last part of a span.
    whole = client.get(f"{API}/mev", params={"from_block": 100, "to_block": 100 + MAX_MEV_SPAN - 1}).json()
    assert (whole["to_block"], whole["next_from_block"]) == (100 + MAX_MEV_SPAN - 1, None)
    # A different to_block beyond the span is a different question, even for the same blocks covered.
    assert body["next_from_block"] != whole["next_from_block"]


def test_mev_and_cluster_limits_are_in_the_schema(client, seeded):
    from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING
    from serving.routers.chain_intel import MAX_MEV_SPAN

    operations = client.app.openapi()["paths"]
    mev = operations[f"{API}/mev"]["get"]
    bounds = {p["name"]: (p["schema"].get("minimum"), p["schema"].get("maximum")) for p in mev["parameters"]}
    assert bounds["from_block"] == bounds["to_block"] == (0, MAX_QUERY_INT)
    assert f"{MAX_MEV_SPAN:,}" in mev["description"] and "next_from_block" in mev["description"]
    answer = mev["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/MevSpan"}
    assert "next_from_block" in client.app.openapi()["components"]["schemas"]["MevSpan"]["properties"]
    clusters = {p["name"]: p["schema"] for p in operations[f"{API}/clusters"]["get"]["parameters"]}
    assert clusters["limit"]["maximum"] == PAGE_SIZE_CEILING
    assert clusters["offset"]["maximum"] == clusters["min_size"]["maximum"] == MAX_QUERY_INT
    # Every value the schema allows is answered; one past it is refused.
    deepest = client.get(f"{API}/clusters", params={"limit": PAGE_SIZE_CEILING, "offset": MAX_QUERY_INT,
                                                    "min_size": MAX_QUERY_INT})
    assert deepest.status_code == 200 and deepest.json()["clusters"] == []
    huge = client.get(f"{API}/clusters", params={"min_size": 2786593687768831817666265088})
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["query", "min_size"]
    last = client.get(f"{API}/mev", params={"from_block": MAX_QUERY_INT, "to_block": MAX_QUERY_INT})
    assert last.status_code == 200 and last.json()["sandwiches"] == []
    assert client.get(f"{API}/mev", params={"from_block": 0, "to_block": MAX_QUERY_INT + 1}).status_code == 422


def test_address_endpoint_cluster_labels_roles_and_links(client, seeded):
    victim_body = client.get(f"{API}/address/{VICTIM}").json()
    assert victim_body["cluster"]["cluster_id"] == "cl_x" and victim_body["cluster"]["size"] == 2
    assert victim_body["mev"]["roles"] == ["sandwich_victim"]
    assert victim_body["links"]["transfers"] == f"/api/v1/chain/address/{VICTIM}/transfers"
    bot = client.get(f"{API}/address/{BOT_EOA}").json()
    assert "arbitrageur" in bot["mev"]["roles"]
    contract = client.get(f"{API}/address/{CLONE}").json()
    assert {"contract", "proxy"} <= set(contract["labels"])
    assert client.get(f"{API}/address/0x{'42' * 20}").status_code == 404


def test_endpoints_404_before_materialization(client):
    assert client.get(f"{API}/contract/{CLONE}").status_code == 404
    assert client.get(f"{API}/mev", params={"from_block": 1, "to_block": 2}).status_code == 404


def test_cli_contract_analyze_hex_and_file(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["contract", "analyze", "0x" + minimal_proxy(IMPL).hex()])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["proxy"] == {"kind": "eip1167", "target": IMPL, "slot": None}
    raw = tmp_path / "code.bin"
    raw.write_bytes(bytes.fromhex("32ff"))
    body = json.loads(runner.invoke(app, ["contract", "analyze", str(raw)]).stdout)
    assert body["flags"]["origin"] and body["risky"]
    assert runner.invoke(app, ["contract", "analyze", "0xzz"]).exit_code != 0


def test_cli_mev_scan_json_and_csv(tmp_path):
    rows = [
        swap(0, WETH, 5 * 10**18, TKN, 10_000, tx_from=BOT_EOA, sender=BOT, recipient=BOT),
        victim(1),
        swap(2, TKN, 10_000, WETH, 6 * 10**18, tx_from=BOT_EOA, sender=BOT, recipient=BOT),
        hop(1, POOL, WETH, 10**18, TKN, 5000), hop(2, POOL2, TKN, 5000, WETH, 11 * 10**17),
    ]
    as_json = tmp_path / "swaps.json"
    as_json.write_text(json.dumps(rows))
    runner = CliRunner()
    result = runner.invoke(app, ["mev", "scan", "--swaps", str(as_json), "--router", "0x" + "7a" * 20])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["swaps"] == 5 and len(body["sandwiches"]) == 1 and len(body["arbitrages"]) == 1
    as_csv = tmp_path / "swaps.csv"
    pl.DataFrame(rows).write_csv(as_csv)
    body = json.loads(runner.invoke(app, ["mev", "scan", "--swaps", str(as_csv)]).stdout)
    assert len(body["sandwiches"]) == 1 and len(body["arbitrages"]) == 1
    broken = tmp_path / "broken.csv"
    broken.write_text("block_number,pool\n1,0x01\n")
    failed = runner.invoke(app, ["mev", "scan", "--swaps", str(broken)])
    assert failed.exit_code != 0 and "missing column" in failed.output


def test_clusters_listing_largest_first_with_heuristics_and_pages(client, warehouse, seeded):
    big = [
        {"address": f"0x{i:040x}", "cluster_id": "cl_big", "cluster_size": 3,
         "heuristics": h, "labels": lab, "behaviour_cluster": None, "outlier_score": None}
        for i, (h, lab) in enumerate([("deposit_reuse", "hot_wallet"), ("self_authorization", ""),
                                      ("deposit_reuse,self_authorization", "deposit_address")], start=1)
    ]
    single = {"address": "0x" + "e5" * 20, "cluster_id": "cl_one", "cluster_size": 1, "heuristics": "",
              "labels": "", "behaviour_cluster": None, "outlier_score": None}
    warehouse.upsert(WALLET_CLUSTERS, pl.DataFrame([*big, single], schema=WALLET_CLUSTERS.schema))

    body = client.get(f"{API}/clusters").json()
    assert [c["cluster_id"] for c in body["clusters"]] == ["cl_big", "cl_x"]  # singletons left out by default
    first = body["clusters"][0]
    assert first["size"] == 3 and first["heuristics"] == ["deposit_reuse", "self_authorization"]
    assert first["labels"] == ["deposit_address", "hot_wallet"] and len(first["members_sample"]) == 3
    assert body["total"] == 2 and body["next_offset"] is None

    page = client.get(f"{API}/clusters", params={"limit": 1, "min_size": 1}).json()
    assert [c["cluster_id"] for c in page["clusters"]] == ["cl_big"] and page["total"] == 3
    assert page["next_offset"] == 1
    last = client.get(f"{API}/clusters", params={"limit": 1, "min_size": 1, "offset": 2}).json()
    assert [c["cluster_id"] for c in last["clusters"]] == ["cl_one"] and last["next_offset"] is None
    for bad in ({"limit": 0}, {"limit": 10**6}, {"limit": 5001}, {"offset": -1}, {"offset": 10**19}, {"min_size": "x"}):
        response = client.get(f"{API}/clusters", params=bad)
        assert response.status_code == 422, bad


def test_clusters_listing_is_404_before_clustering(client):
    response = client.get(f"{API}/clusters")
    assert response.status_code == 404
