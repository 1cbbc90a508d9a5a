"""When the chain assets run: the jobs over block ranges and the new-block sensor.

- `chain_job`: the chain group for one range (what `sextant chain index` runs).
- `chain_live_job`: a range's blocks and its MEV in one run (what the sensor runs).
- `chain_new_blocks_sensor`: adds block ranges as the head passes them, re-indexes ranges a reorg
  changed, and re-runs ranges whose indexing failed (with backoff), so a gap heals without a person.
"""

import json
import time

import dagster as dg

from assets.chain.partitions import CHAIN_RANGES
from assets.runs_in_flight import in_flight
from ops.chain.ranges import BlockRange, HealState, heal_schedule, next_ranges, ranges_of, stale_numbers
from resources.configurable import ChainRPCResource, WarehouseResource
from resources.tables import CHAIN_BLOCKS

chain_job = dg.define_asset_job(
    "chain_job",
    selection=dg.AssetSelection.groups("chain"),
    partitions_def=CHAIN_RANGES,
    description="Index one block range: blocks, transactions with receipts, logs, token transfers, contracts.",
)

#: The new-block sensor's job: a range's blocks and its MEV in one run, in one process. Left to the
#: automation sensor, MEV would wait for its next tick and a second run's start-up: most of a block's
#: way to the live stream. Eager automation does not run them again (they are newer than their inputs).
chain_live_job = dg.define_asset_job(
    "chain_live_job",
    selection=dg.AssetSelection.groups("chain") | dg.AssetSelection.assets("dex_swaps", "mev_sandwiches",
                                                                           "mev_arbitrages"),
    partitions_def=CHAIN_RANGES,
    executor_def=dg.in_process_executor,
    description="Index one block range and detect its MEV in the same run (what the new-block sensor starts).",
)


@dg.sensor(
    job=chain_live_job,
    minimum_interval_seconds=3,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the next block range once the head is past its end by the confirmation depth (at the "
    "head, the confirmed part of the open range) and runs it with its MEV detection; "
    "re-runs recent ranges whose stored block hashes the node no longer has (a reorg), and ranges whose last "
    "run failed (first retry at once, then 30 s doubling to an hour, 8 attempts).",
)
def chain_new_blocks_sensor(
    context: dg.SensorEvaluationContext, chain_rpc: ChainRPCResource, warehouse: WarehouseResource
):
    known = sorted(BlockRange.parse(k) for k in context.instance.get_dynamic_partitions(CHAIN_RANGES.name))
    try:
        head = chain_rpc.probe_client.head()
        size, confirmations = chain_rpc.resolved_range_size(), chain_rpc.resolved_confirmations()
        reorged = _reorged_ranges(chain_rpc, warehouse, known)
    except Exception as exc:  # noqa: BLE001 - node down or unreachable: say so in the UI, retry next tick
        return dg.SkipReason(f"chain node {chain_rpc.shown} did not answer: {type(exc).__name__}: {exc}")

    new = next_ranges(
        indexed_to=known[-1].end if known else None,
        head=head,
        size=size,
        confirmations=confirmations,
        first_block=chain_rpc.first_block if not known else known[0].start,
        limit=chain_rpc.max_new_ranges,
        # One short head range at a time: while its run is queued or running, the open range grows
        # and the next run takes all of it, so under load there are fewer, longer runs, not a queue.
        head_min=0 if in_flight(context.instance, chain_live_job.name) else chain_rpc.resolved_head_range_min(),
    )
    requests = [dg.RunRequest(partition_key=r.key, run_key=r.key) for r in new]
    requests += [
        dg.RunRequest(partition_key=key, run_key=f"{key}:reorg:{canonical}", tags={"sextant/reorg": "true"})
        for key, canonical in reorged
    ]
    now = time.time()
    busy = {key for key, _ in reorged}
    heal, given_up, heal_state = heal_schedule(
        broken_ranges(context.instance, known, busy), _read_heal_state(context.cursor), now
    )
    requests += [
        dg.RunRequest(
            partition_key=key,
            run_key=f"{key}:heal:{int(now)}",
            tags={"sextant/heal": str(heal_state[key].attempts)},
        )
        for key in heal
    ]
    if given_up:
        context.log.warning(
            f"{len(given_up)} range(s) still fail after {heal_state[given_up[0]].attempts} attempts and are "
            f"left for a person: {', '.join(given_up[:10])} (re-run them from the UI or `sextant chain index`)"
        )
    cursor = _write_heal_state(heal_state)
    if not requests:
        waiting = f"; {len(heal_state)} failed range(s) waiting for their next retry" if heal_state else ""
        return dg.SensorResult(
            skip_reason=f"head {head}: no range is {confirmations} blocks past its end yet, no reorg seen{waiting}",
            cursor=cursor,
        )
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[CHAIN_RANGES.build_add_request([r.key for r in new])] if new else [],
        cursor=cursor,
    )


#: How many of the newest ranges the sensor checks for a failed latest run.
HEAL_LOOKBACK = 2000


def broken_ranges(instance: dg.DagsterInstance, known: list[BlockRange], busy: set[str]) -> list[str]:
    """Known ranges (the newest ``HEAL_LOOKBACK``) whose latest attempt to materialize chain_blocks failed,
    whichever run made it (the sensor's, the CLI's, the UI's); downstream runs on the same
    partitions (chain intelligence) do not count."""
    keys = [r.key for r in known[-HEAL_LOOKBACK:] if r.key not in busy]
    if not keys:
        return []
    status = instance.get_status_by_partition(dg.AssetKey("chain_blocks"), keys, CHAIN_RANGES) or {}
    return [key for key in keys if status.get(key) == dg.AssetPartitionStatus.FAILED]


def _read_heal_state(cursor: str | None) -> dict[str, HealState]:
    if not cursor:
        return {}
    try:
        return {key: HealState(int(a), float(t)) for key, (a, t) in json.loads(cursor).get("heal", {}).items()}
    except (ValueError, TypeError, AttributeError):  # a cursor from an older version: start afresh
        return {}


def _write_heal_state(state: dict[str, HealState]) -> str:
    return json.dumps({"heal": {key: [s.attempts, s.next_at] for key, s in sorted(state.items())}})


def _reorged_ranges(
    chain_rpc: ChainRPCResource, warehouse: WarehouseResource, known: list[BlockRange]
) -> list[tuple[str, str]]:
    """(range key, node's hash of the first changed block) for recent ranges whose stored hashes changed."""
    db = warehouse.client
    recent = known[-chain_rpc.reorg_window :] if chain_rpc.reorg_window > 0 else []
    if not recent or not db.has_table(CHAIN_BLOCKS.name):
        return []
    rows = db.read(
        CHAIN_BLOCKS.name, ranges={"number": (recent[0].start, recent[-1].end + 1)}, columns=["number", "hash"]
    )
    stored = dict(rows.iter_rows())
    if not stored:
        return []
    canonical = chain_rpc.probe_client.block_hashes(sorted(stored))
    stale = stale_numbers(stored, canonical)
    keys = ranges_of(stale, [r.key for r in recent])
    return [(key, canonical[min(n for n in stale if n in BlockRange.parse(key))]) for key in keys]
