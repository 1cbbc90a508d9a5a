"""The new-block sensor: adds block ranges as the head passes them, and re-indexes ranges a reorg changed."""


import dagster as dg

from assets.chain.partitions import CHAIN_RANGES
from ops.chain.ranges import BlockRange, next_ranges, ranges_of, stale_numbers
from orchestration.jobs import chain_job
from resources.configurable import ChainRPCResource, WarehouseResource
from resources.tables import CHAIN_BLOCKS


@dg.sensor(
    job=chain_job,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds the next block range once the head is past its end by the confirmation depth and runs it; "
    "re-runs recent ranges whose stored block hashes the node no longer has (a reorg).",
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
        return dg.SkipReason(f"chain node {chain_rpc.url} did not answer: {type(exc).__name__}: {exc}")

    new = next_ranges(
        indexed_to=known[-1].end if known else None,
        head=head,
        size=size,
        confirmations=confirmations,
        first_block=chain_rpc.first_block if not known else known[0].start,
        limit=chain_rpc.max_new_ranges,
    )
    requests = [dg.RunRequest(partition_key=r.key, run_key=r.key) for r in new]
    requests += [
        dg.RunRequest(partition_key=key, run_key=f"{key}:reorg:{canonical}", tags={"sextant/reorg": "true"})
        for key, canonical in reorged
    ]
    if not requests:
        return dg.SkipReason(f"head {head}: no range is {confirmations} blocks past its end yet, no reorg seen")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[CHAIN_RANGES.build_add_request([r.key for r in new])] if new else [],
    )


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
