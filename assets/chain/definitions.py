"""The chain domain's Dagster definitions: the indexer's assets and checks, its jobs, the new-block sensor."""

import dagster as dg

from assets.chain.assets import CHAIN_ASSETS
from assets.chain.triggers import chain_job, chain_live_job, chain_new_blocks_sensor

defs = dg.Definitions(assets=CHAIN_ASSETS, jobs=[chain_job, chain_live_job], sensors=[chain_new_blocks_sensor])
