"""Chain partitions: dynamic block ranges, added by the new-block sensor as the head moves past them.

Keys are `BlockRange.key` strings ("0000001000-0000001999"); see `ops.chain.ranges`.
"""

import dagster as dg

from ops.chain.ranges import BlockRange

CHAIN_RANGES = dg.DynamicPartitionsDefinition(name="chain_ranges")


def partition_range(context: dg.AssetExecutionContext) -> BlockRange:
    """The block range of the run: one range, or the span of a multi-range backfill."""
    keys = context.partition_keys
    first, last = BlockRange.parse(keys[0]), BlockRange.parse(keys[-1])
    return BlockRange(first.start, last.end)
