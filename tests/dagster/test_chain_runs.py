"""Real Dagster runs of the chain assets against a played devnet: the sensor plans ranges, runs index
them, re-runs change nothing, and a simulated reorg is detected and re-indexed."""

from __future__ import annotations

import random

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.chain.assets import CHAIN_ASSETS
from assets.chain.triggers import chain_new_blocks_sensor
from ops.chain.ranges import BlockRange
from resources.configurable import build_resources
from resources.warehouse import Warehouse

RANGE = 10
TABLES = ("chain_blocks", "chain_transactions", "chain_logs", "token_transfers", "contracts")


@pytest.fixture
def devnet(played_devnet):
    """The session's devnet, given back as it was: whatever a test mines is reverted afterwards."""
    server, truth = played_devnet
    snapshot = rpc(server, "evm_snapshot")
    yield server, truth
    assert rpc(server, "evm_revert", snapshot) is True


@pytest.fixture
def chain_settings(settings, devnet):
    return settings.model_copy(
        update={"chain_rpc_url": devnet[0].url, "chain_range_size": RANGE, "chain_confirmations": 0,
                "chain_head_range_min": 0}  # whole ranges: test_the_sensor_follows_the_head covers the rest
    )


def rpc(server, method, *params):
    return server.world.backend.call(method, list(params))


def tick(instance, resources):
    """One sensor evaluation; partitions it asks for are added, as the daemon would."""
    context = dg.build_sensor_context(instance=instance, resources=resources)
    result = chain_new_blocks_sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return result.run_requests or []
    return []


def run(instance, resources, key, tags=None):
    with set_defs_state_storage(instance.defs_state_storage):
        result = dg.materialize(CHAIN_ASSETS, instance=instance, resources=resources, partition_key=key, tags=tags)
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    return result, checks


def counts(wh: Warehouse) -> dict[str, int]:
    return {t: wh.count(t) for t in TABLES}


def test_sensor_ranges_runs_and_idempotent_reruns(instance, chain_settings, devnet):
    server, truth = devnet
    resources = build_resources(chain_settings)
    head = int(rpc(server, "eth_blockNumber"), 16)

    requests = tick(instance, resources)
    keys = [r.partition_key for r in requests]
    expected = [BlockRange(s, s + RANGE - 1).key for s in range(0, head - RANGE + 2, RANGE)]
    assert keys == expected  # every whole range up to the head, nothing past it
    assert all(r.run_key == r.partition_key for r in requests)
    assert tick(instance, resources) == []  # nothing new until the head moves

    for key in keys:
        result, checks = run(instance, resources, key)
        assert result.success
        assert checks == {"hash_chain_continuous": True, "range_complete": True, "span_has_no_gaps": True}

    wh = Warehouse(chain_settings.resolved_warehouse_url)
    indexed_to = BlockRange.parse(keys[-1]).end
    node_txs = sum(
        len(rpc(server, "eth_getBlockByNumber", hex(n), False)["transactions"]) for n in range(indexed_to + 1)
    )
    before = counts(wh)
    assert before["chain_blocks"] == indexed_to + 1
    assert before["chain_transactions"] == node_txs
    # What the scenario did is in the tables: the sandwich transactions, the proxy and the clone.
    sandwich = next(s for s in truth["sandwiches"] if s["block"] <= indexed_to)
    stored = set(wh.read("chain_transactions", {"block_number": sandwich["block"]})["hash"].to_list())
    assert {sandwich["front_tx"], *sandwich["victim_txs"], sandwich["back_tx"]} <= stored
    created = set(wh.read("contracts", columns=["address"])["address"].to_list())
    assert {p["address"] for p in truth["proxies"] + truth["clones"]} <= created
    assert wh.count("token_transfers", {"transaction_hash": sandwich["front_tx"]}) >= 2

    result, _ = run(instance, resources, keys[1])  # a re-run of a range writes the same rows
    assert result.success and counts(wh) == before
    wh.dispose()


def test_the_sensor_follows_the_head_with_one_short_range_at_a_time(instance, chain_settings, devnet):
    server, _ = devnet
    head = int(rpc(server, "eth_blockNumber"), 16)
    # No whole range below the head: with whole ranges only, nothing would be indexed for a long time.
    wide = chain_settings.model_copy(update={"chain_range_size": head + 100, "chain_head_range_min": 1})
    assert tick(instance, build_resources(wide.model_copy(update={"chain_head_range_min": 0}))) == []
    instance.add_run(dg.DagsterRun(job_name="chain_live_job", status=dg.DagsterRunStatus.STARTED))
    assert tick(instance, build_resources(wide)) == []  # a head run is running: the next takes more
    for run_id in instance.get_run_ids(dg.RunsFilter(job_name="chain_live_job")):
        instance.report_run_canceled(instance.get_run_by_id(run_id))
    [request] = tick(instance, build_resources(wide))
    assert request.partition_key == BlockRange(0, head).key  # the confirmed blocks of the open range


def test_reorg_is_detected_by_the_sensor_and_reindexed(instance, chain_settings, devnet):
    server, _ = devnet
    world = server.world
    resources = build_resources(chain_settings)
    rng = random.Random(3)
    for request in tick(instance, resources):
        assert run(instance, resources, request.partition_key)[0].success

    # Fill the next range, index it, then replace its blocks with different ones at the same heights.
    snapshot = rpc(server, "evm_snapshot")
    head = int(rpc(server, "eth_blockNumber"), 16)
    target = BlockRange((head // RANGE + 1) * RANGE, (head // RANGE + 2) * RANGE - 1)
    while int(rpc(server, "eth_blockNumber"), 16) < target.end:
        world.random_trade(rng)
        world.mine()
    [request] = tick(instance, resources)
    assert request.partition_key == target.key
    assert run(instance, resources, target.key)[0].success
    wh = Warehouse(chain_settings.resolved_warehouse_url)
    orphaned = set(wh.read("chain_transactions", ranges={"block_number": (target.start, target.end + 1)})["hash"])

    assert rpc(server, "evm_revert", snapshot) is True
    while int(rpc(server, "eth_blockNumber"), 16) < target.end:
        world.random_trade(rng)
        world.random_trade(rng)
        world.mine()

    [reorg] = tick(instance, resources)
    assert reorg.partition_key == target.key and reorg.tags.get("sextant/reorg") == "true"
    result, checks = run(instance, resources, reorg.partition_key, tags=reorg.tags)
    assert result.success and checks["hash_chain_continuous"] and checks["range_complete"]

    stored = wh.read("chain_blocks", ranges={"number": (target.start, target.end + 1)}, order_by=["number"])
    node = [rpc(server, "eth_getBlockByNumber", hex(n), False)["hash"] for n in range(target.start, target.end + 1)]
    assert stored["hash"].to_list() == node
    now = set(wh.read("chain_transactions", ranges={"block_number": (target.start, target.end + 1)})["hash"])
    gone = orphaned - now
    assert now and gone  # the reorg replaced transactions ...
    assert wh.count("chain_transactions", {"hash": sorted(gone)}) == 0  # ... and the orphans left no rows
    assert tick(instance, resources) == []  # ... and the next tick sees nothing left to fix
    wh.dispose()


def test_sensor_says_why_it_skips_when_the_node_is_down(instance, settings):
    from tests.services import free_port

    down = settings.model_copy(update={"chain_rpc_url": f"http://127.0.0.1:{free_port()}"})
    context = dg.build_sensor_context(instance=instance, resources=build_resources(down))
    result = chain_new_blocks_sensor(context)
    assert isinstance(result, dg.SkipReason) and "did not answer" in result.skip_message


def tick_with_cursor(instance, resources, cursor):
    """One sensor evaluation that carries the cursor as the daemon does: (run requests, skip reason, cursor)."""
    context = dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor)
    result = chain_new_blocks_sensor(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    skip = result.skip_reason.skip_message if result.skip_reason else None
    return result.run_requests or [], skip, result.cursor


def test_a_range_whose_run_failed_is_reindexed_by_the_sensor_with_backoff(instance, chain_settings, devnet):
    from orchestration.cli_chain import status_report
    from tests.services import free_port

    good = build_resources(chain_settings)
    down = build_resources(
        chain_settings.model_copy(update={"chain_rpc_url": f"http://127.0.0.1:{free_port()}", "chain_retry_attempts": 2})
    )
    requests, _, cursor = tick_with_cursor(instance, good, None)
    keys = [r.partition_key for r in requests]
    with set_defs_state_storage(instance.defs_state_storage):  # the node is down for the first range's run
        failed = dg.materialize(CHAIN_ASSETS, instance=instance, resources=down, partition_key=keys[0],
                                raise_on_error=False)
    assert not failed.success
    for key in keys[1:]:
        assert run(instance, good, key)[0].success

    wh = Warehouse(chain_settings.resolved_warehouse_url)
    known = [BlockRange.parse(k) for k in keys]
    report = status_report(instance, good["chain_rpc"], wh, known)
    first = BlockRange.parse(keys[0])
    assert report["failed_ranges"] == [keys[0]]
    assert report["gaps"] == [{"from": first.start, "to": first.end, "blocks": first.size}]

    [heal], _, cursor = tick_with_cursor(instance, good, cursor)  # no person: the next tick asks again
    assert heal.partition_key == keys[0] and heal.run_key.startswith(f"{keys[0]}:heal:")
    assert heal.tags["sextant/heal"] == "1"
    with set_defs_state_storage(instance.defs_state_storage):  # the retry fails too: the node is still down
        assert not dg.materialize(CHAIN_ASSETS, instance=instance, resources=down, partition_key=keys[0],
                                  tags=heal.tags, raise_on_error=False).success
    again, skip, cursor = tick_with_cursor(instance, good, cursor)
    assert again == [] and "1 failed range(s) waiting for their next retry" in skip  # backoff: 30 s first

    result, checks = run(instance, good, keys[0], tags=heal.tags)  # the retry, once it is due
    assert result.success and checks["span_has_no_gaps"]
    assert wh.count("chain_blocks") == BlockRange.parse(keys[-1]).end + 1
    after, _, cursor = tick_with_cursor(instance, good, cursor)
    assert after == [] and '"heal": {}' in cursor  # healed: it leaves the sensor's state
    assert status_report(instance, good["chain_rpc"], wh, known)["failed_ranges"] == []
    wh.dispose()
