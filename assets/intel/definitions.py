"""The chain-intelligence domain's Dagster definitions: swaps, MEV, contract analysis, wallet clusters.

They run on eager automation (the automation sensor, orchestration/automation.py) and, for a new
range at the head, in the chain domain's `chain_live_job`.
"""

import dagster as dg

from assets.intel.assets import INTEL_ASSETS

defs = dg.Definitions(assets=INTEL_ASSETS)
