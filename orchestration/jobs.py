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
