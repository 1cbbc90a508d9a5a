"""Jobs: asset selections that schedules, sensors and the CLI launch."""

from __future__ import annotations

import dagster as dg

from assets.chain.partitions import CHAIN_RANGES
from assets.market.partitions import MARKET_PARTITIONS

market_job = dg.define_asset_job(
    "market_job",
    selection=dg.AssetSelection.groups("market"),
    partitions_def=MARKET_PARTITIONS,
    description="Market ETL for a range of days of one symbol: raw bars, validation, features, summaries.",
)

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
