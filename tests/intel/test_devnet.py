"""The chain_intel assets on a played devnet, scored against the scenario's ground truth.

One module fixture plays the seeded scenario (about a minute: it is the slowest part of this folder),
indexes it with the chain indexer into a SQLite warehouse, and materializes the intel assets with
real Dagster runs against the devnet's JSON-RPC server (proxy slots are read with eth_getStorageAt).
"""

from __future__ import annotations

import dagster as dg
import polars as pl
import pytest

from assets.intel.assets import INTEL_ASSETS
from ops.chain.ranges import BlockRange
from ops.intel.clusters import pairwise_scores
from orchestration.simulator.scenario import write_ground_truth
from resources.configurable import ChainRPCResource, WarehouseResource
from resources.tables import (
    CHAIN_BLOCKS,
    CHAIN_LOGS,
    CHAIN_TRANSACTIONS,
    CONTRACT_ANALYSIS,
    CONTRACTS,
    DEX_POOLS,
    DEX_SWAPS,
    MEV_ARBITRAGES,
    MEV_SANDWICHES,
    TOKEN_TRANSFERS,
    WALLET_CLUSTERS,
)
from resources.warehouse import Warehouse


def _precision_recall(found: set, expected: set) -> tuple[float, float]:
    hit = len(found & expected)
    return hit / len(found) if found else 1.0, hit / len(expected) if expected else 1.0


@pytest.fixture(scope="module")
def devnet(tmp_path_factory, played_devnet):
    from assets.chain.indexing import index_range
    from resources.chain_rpc import ChainRPC

    folder = tmp_path_factory.mktemp("intel_devnet")
    server, truth = played_devnet  # the session's devnet: read only here
    warehouse = Warehouse(f"sqlite:///{folder / 'warehouse.sqlite'}")
    try:
        rpc = ChainRPC(server.url)
        frames = index_range(rpc, 0, truth["last_block"])
        rpc.close()
        for spec, frame in ((CHAIN_BLOCKS, frames.blocks), (CHAIN_TRANSACTIONS, frames.transactions),
                            (CHAIN_LOGS, frames.logs), (TOKEN_TRANSFERS, frames.token_transfers),
                            (CONTRACTS, frames.contracts)):
            warehouse.upsert(spec, frame)
        key = BlockRange(0, truth["last_block"]).key
        resources = {"warehouse": WarehouseResource(url=warehouse.url), "chain_rpc": ChainRPCResource(url=server.url)}
        truth_file = write_ground_truth(truth, folder / "ground_truth.json")
        config = {"config": {"ground_truth": str(truth_file)}}
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("chain_ranges", [key])
            ranged = [a for a in INTEL_ASSETS if a.partitions_def is not None]
            first = dg.materialize(ranged, instance=instance, resources=resources, partition_key=key,
                                   run_config={"ops": {"mev": config}})
            clusters = [a for a in INTEL_ASSETS if a.partitions_def is None]
            second = dg.materialize(clusters, instance=instance, resources=resources,
                                    run_config={"ops": {"wallet_clusters": config}})
            yield truth, warehouse, first, second
    finally:
        warehouse.dispose()


def test_runs_succeed_with_passing_checks(devnet):
    _truth, _wh, first, second = devnet
    assert first.success and second.success
    checks = [c for r in (first, second) for c in r.get_asset_check_evaluations()]
    assert {c.check_name: c.passed for c in checks} == {
        "every_swap_decoded": True, "sandwich_shape": True, "proxies_resolved": True, "one_cluster_per_address": True,
        "planted_sandwiches_found": True, "no_false_merges_on_approvals": True,
    }
    scored = {c.check_name: c.metadata for c in checks}
    planted = scored["planted_sandwiches_found"]
    assert planted["scored"].value is True and planted["false_reports"].value == 0
    assert planted["planted"].value == len(_truth["sandwiches"]) + len(_truth["hard_sandwiches"])
    # the baselines, run in the same check, miss what only the bot contract ties together
    assert planted["f1"].value == 1.0 > planted["f1_naive"].value > planted["f1_mev_inspect"].value
    assert scored["no_false_merges_on_approvals"]["false_merges"].value == 0
    # the rule before approval collectors merged every victim into the scammer's cluster
    assert scored["no_false_merges_on_approvals"]["baseline_false_merges"].value == len(_truth["phishing"][0]["victims"])
    assert scored["no_false_merges_on_approvals"]["victims"].value == len(_truth["phishing"][0]["victims"])


def test_pool_tokens_are_cached_and_right(devnet):
    truth, wh, *_ = devnet
    pools = {p: (t0, t1) for p, t0, t1 in wh.read(DEX_POOLS.name).select("pool", "token0", "token1").iter_rows()}
    assert pools == {p["address"]: (p["token0"], p["token1"]) for p in truth["pools"]}
    swaps = wh.read(DEX_SWAPS.name)
    assert swaps.height == wh.count(CHAIN_LOGS.name, {"topic0": "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"})


def test_sandwiches_precision_and_recall(devnet):
    truth, wh, *_ = devnet
    found = {(r["front_transaction_hash"], r["back_transaction_hash"], r["attacker"] in (
        truth["accounts"]["sandwich_bot"], r["attacker"])) for r in wh.read(MEV_SANDWICHES.name).iter_rows(named=True)}
    found = {(f, b) for f, b, _ in found}
    planted = truth["sandwiches"] + truth["hard_sandwiches"]
    expected = {(s["front_tx"], s["back_tx"]) for s in planted}
    precision, recall = _precision_recall(found, expected)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    non = {tuple(n["txs"]) for n in truth["non_sandwiches"]}
    assert not (found & non)  # the lone buy-then-sell trades stay out
    assert not (found & {(s["front_tx"], s["back_tx"]) for s in truth["failed_sandwiches"]})  # reverted back-run
    victims = {v for r in wh.read(MEV_SANDWICHES.name).iter_rows(named=True)
               for v in r["victim_transaction_hashes"].split(",")}
    assert victims == {v for s in planted for v in s["victim_txs"]}


def test_every_hard_case_is_found_with_its_pools_and_actor(devnet):
    truth, wh, *_ = devnet
    rows = wh.read(MEV_SANDWICHES.name)
    kinds = {case["kind"] for case in truth["hard_sandwiches"]}
    assert kinds == {"multi_pool", "multi_hop", "router_bot", "contract_bot", "partial_backrun"}
    for case in truth["hard_sandwiches"]:
        mine = rows.filter((pl.col("front_transaction_hash") == case["front_tx"])
                           & (pl.col("back_transaction_hash") == case["back_tx"]))
        assert sorted(mine["pool"].to_list()) == sorted(case["pools"]), case["kind"]
        if case["kind"] in ("router_bot", "contract_bot", "multi_pool"):
            assert set(mine["attacker"].to_list()) == {case["attacker"]}  # the contract, whoever sent
        if case["kind"] == "contract_bot":
            # A tip paid inside the call is the blind spot of costs from logs and transactions alone:
            # it went to the coinbase, but no log and no top-level transfer shows it (traces would).
            assert int(case["coinbase_internal_wei"]) > 0
            assert set(mine["coinbase_transfer_wei"].to_list()) == {0.0}
        if case["kind"] == "partial_backrun":
            row = mine.row(0, named=True)
            assert row["matched_fraction"] == pytest.approx(case["sold_fraction"], rel=1e-6)
            # mev-inspect-py's figure charges the whole front-run against the part sold back
            assert row["profit_mev_inspect"] == pytest.approx(int(case["raw_profit"]), rel=1e-9)
            assert row["profit_mev_inspect"] < row["profit"]


def test_net_profit_is_gross_minus_gas_and_coinbase_tip(devnet):
    truth, wh, *_ = devnet
    weth = next(t["address"] for t in truth["tokens"] if t["symbol"] == "WETH")
    rows = {r["front_transaction_hash"]: r for r in wh.read(MEV_SANDWICHES.name).iter_rows(named=True)}
    tipped = 0
    for s in truth["sandwiches"]:
        row = rows[s["front_tx"]]
        assert row["profit_mev_inspect"] == pytest.approx(int(s["profit"]), rel=1e-9)
        assert row["gas_cost_wei"] == pytest.approx(int(s["gas_cost_wei"]), rel=1e-12)
        assert row["coinbase_transfer_wei"] == pytest.approx(int(s["coinbase_wei"]), rel=1e-12)
        tipped += int(s["coinbase_wei"]) > 0
        cost = int(s["gas_cost_wei"]) + int(s["coinbase_wei"])
        if s["token_in"] == weth:
            assert row["net_profit"] == pytest.approx(row["profit"] - cost, rel=1e-9)
        else:  # a WETH pair paid in the other token: costs converted at the front-run's price
            rate = row["front_amount_in"] / row["front_amount_out"]
            assert row["net_profit"] == pytest.approx(row["profit"] - cost * rate, rel=1e-9)
    assert tipped >= 1  # the story tips the coinbase in some bundles
    arbs = wh.read(MEV_ARBITRAGES.name)
    assert arbs["gas_cost_wei"].null_count() == 0 and (arbs["gas_cost_wei"] > 0).all()
    netted = arbs.filter(pl.col("start_token") == weth)
    assert (netted["net_profit"] == netted["profit"] - netted["gas_cost_wei"]).all()


def test_arbitrages_precision_and_recall(devnet):
    truth, wh, *_ = devnet
    rows = wh.read(MEV_ARBITRAGES.name)
    found = {(r["transaction_hash"], r["pools"]) for r in rows.iter_rows(named=True)}
    expected = {(a["tx"], ",".join(a["pools"])) for a in truth["arbitrages"]}
    precision, recall = _precision_recall(found, expected)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    profits = dict(zip(rows["transaction_hash"], rows["profit"], strict=True))
    for arb in truth["arbitrages"]:
        assert profits[arb["tx"]] == pytest.approx(int(arb["profit"]), rel=1e-9)


def test_every_proxy_clone_and_risky_contract_is_found(devnet):
    truth, wh, *_ = devnet
    analysis = {r["address"]: r for r in wh.read(CONTRACT_ANALYSIS.name).iter_rows(named=True)}
    for proxy in truth["proxies"]:
        row = analysis[proxy["address"]]
        assert row["proxy_kind"] == "eip1967" and row["implementation"] == proxy["implementation"]
    for clone in truth["clones"]:
        row = analysis[clone["address"]]
        assert row["proxy_kind"] == "eip1167" and row["implementation"] == clone["implementation"]
        assert row["selector_count"] == 0
    for risky in truth["risky_contracts"]:
        row = analysis[risky["address"]]
        for flag in risky["flags"]:
            if flag in ("eip1967_proxy", "eip1167_clone"):
                assert row["proxy_kind"] == flag.split("_")[0]
            else:
                assert row[f"has_{flag}"], (risky, flag)
        if not row["proxy_kind"]:
            assert row["risky"]
    implementation = analysis[truth["proxies"][0]["implementation"]]
    assert "erc20" in implementation["interfaces"]  # the token logic behind both, analysed too


def test_wallet_clusters_pairwise_scores(devnet):
    truth, wh, *_ = devnet
    clusters = wh.read(WALLET_CLUSTERS.name)
    predicted = dict(clusters.select("address", "cluster_id").iter_rows())
    expected = {m: c["deposit_address"] for c in truth["clusters"] for m in c["members"]}
    precision, recall = pairwise_scores(predicted, expected)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    labels = dict(clusters.select("address", "labels").iter_rows())
    assert labels[truth["accounts"]["hot_wallet"]] == "hot_wallet"
    for approval in truth["approvals_to_eoas"]:  # self-authorization links owner and spender
        assert predicted[approval["owner"]] == predicted[approval["spender"]]
    phishing = truth["phishing"][0]
    assert len(phishing["victims"]) >= 2
    for victim in phishing["victims"]:  # approving a scammer does not make one the scammer
        assert victim not in predicted or predicted[victim] != predicted.get(phishing["scammer"])


def test_cluster_ids_are_stable_across_runs(devnet):
    _truth, wh, *_ = devnet
    before = wh.read(WALLET_CLUSTERS.name).sort("address")
    with dg.instance_for_test() as instance:
        again = dg.materialize([a for a in INTEL_ASSETS if a.partitions_def is None], instance=instance,
                               resources={"warehouse": WarehouseResource(url=wh.url),
                                          "chain_rpc": ChainRPCResource(url="http://127.0.0.1:9")})
    assert again.success
    after = wh.read(WALLET_CLUSTERS.name).sort("address")
    assert before.select("address", "cluster_id").equals(after.select("address", "cluster_id"))
    assert pl.Series(before["cluster_id"]).n_unique() >= 1


def test_every_detection_is_an_event_on_the_live_stream(devnet):
    """The mev asset appends its detections to the stream log: one `mev` event per row, keyed like the row."""
    import json

    from resources.tables import STREAM_EVENTS

    _truth, wh, *_ = devnet
    events = wh.read(STREAM_EVENTS.name, {"topic": "mev"}).to_dicts()
    sandwiches = wh.read(MEV_SANDWICHES.name).to_dicts()
    arbitrages = wh.read(MEV_ARBITRAGES.name).to_dicts()
    assert sandwiches and arbitrages
    assert len(events) == len(sandwiches) + len(arbitrages)
    kinds = [json.loads(e["payload"])["kind"] for e in events]
    assert kinds.count("sandwich") == len(sandwiches) and kinds.count("arbitrage") == len(arbitrages)
    keys = {e["key"] for e in events}
    assert all(any(r["front_transaction_hash"] in k for k in keys) for r in sandwiches)


def test_clusters_folded_range_by_range_equal_the_full_computation(tmp_path, played_devnet):
    """The devnet indexed in three ranges, wallet_clusters run after each (real Dagster runs): the clusters
    equal one computation over everything (same ids, same members), and a run with nothing new writes nothing."""
    from assets.chain.indexing import index_range
    from assets.intel.assets import dex_swaps
    from ops.intel.clusters import APPROVAL_TOPIC, native_transfers, wallet_clusters
    from ops.intel.mev import find_routers
    from resources.chain_rpc import ChainRPC

    server, truth = played_devnet
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    last = truth["last_block"]
    cuts = [(0, last // 3), (last // 3 + 1, 2 * last // 3), (2 * last // 3 + 1, last)]
    resources = {"warehouse": WarehouseResource(url=warehouse.url), "chain_rpc": ChainRPCResource(url=server.url)}
    clusters_asset = [a for a in INTEL_ASSETS if a.partitions_def is None]
    try:
        with dg.instance_for_test() as instance:
            rpc = ChainRPC(server.url)
            for start, end in cuts:
                frames = index_range(rpc, start, end)
                for spec, frame in ((CHAIN_BLOCKS, frames.blocks), (CHAIN_TRANSACTIONS, frames.transactions),
                                    (CHAIN_LOGS, frames.logs), (TOKEN_TRANSFERS, frames.token_transfers),
                                    (CONTRACTS, frames.contracts)):
                    warehouse.upsert(spec, frame)
                key = BlockRange(start, end).key
                instance.add_dynamic_partitions("chain_ranges", [key])
                assert dg.materialize([dex_swaps], instance=instance, resources=resources, partition_key=key).success
                run = dg.materialize(clusters_asset, instance=instance, resources=resources)
                assert run.success
                assert all(c.passed for c in run.get_asset_check_evaluations())
                folded = run.asset_materializations_for_node("wallet_clusters")[0].metadata["folded_blocks"].value
                assert folded == f"{start}..{end}"
            rpc.close()
            again = dg.materialize(clusters_asset, instance=instance, resources=resources)
            assert again.asset_materializations_for_node("wallet_clusters")[0].metadata["rows_rebuilt"].value == 0
            columns = ["address", "cluster_id", "cluster_size", "heuristics", "labels"]
            before = warehouse.read(WALLET_CLUSTERS.name).select(columns).sort("address")
            refold = dg.materialize(clusters_asset, instance=instance, resources=resources,
                                    run_config={"ops": {"wallet_clusters": {"config": {"full": True}}}})
            assert refold.success
            assert warehouse.read(WALLET_CLUSTERS.name).select(columns).sort("address").equals(before)
        moves = pl.concat([warehouse.read(TOKEN_TRANSFERS.name).select(
            "token_address", "from_address", "to_address", "value", "transaction_hash", "block_number"),
            native_transfers(warehouse.read(CHAIN_TRANSACTIONS.name))])
        swaps = warehouse.read(DEX_SWAPS.name)
        full, _ = wallet_clusters(moves, warehouse.read(CHAIN_LOGS.name, {"topic0": APPROVAL_TOPIC}),
                                  warehouse.read(CONTRACTS.name)["address"].to_list(),
                                  exclude=set(swaps["pool"].to_list()) | find_routers(swaps))
        folded_rows = warehouse.read(WALLET_CLUSTERS.name).select(columns).sort("address")
        assert full.height > 10
        assert folded_rows.equals(full.select(columns).sort("address"))
    finally:
        warehouse.dispose()
