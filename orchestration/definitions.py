"""The Definitions root: every asset, check, job, schedule and sensor, with resources from settings."""

from __future__ import annotations

import dagster as dg

from assets.chain.assets import CHAIN_ASSETS
from assets.market.assets import MARKET_ASSETS
from orchestration.chain_sensors import chain_new_blocks_sensor
from orchestration.jobs import chain_job, market_job
from orchestration.schedules import market_hourly_schedule
from orchestration.sensors import market_landing_sensor
from resources.configurable import build_resources
from resources.settings import Settings, get_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All of Sextant's Dagster definitions for one set of settings (tests pass their own)."""
    settings = settings or get_settings()
    return dg.Definitions(
        assets=[*MARKET_ASSETS, *CHAIN_ASSETS],
        jobs=[market_job, chain_job],
        schedules=[market_hourly_schedule],
        sensors=[market_landing_sensor, chain_new_blocks_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions()
