"""The Definitions root: every asset, check, job, schedule and sensor, with resources from settings."""

from __future__ import annotations

import dagster as dg

from assets.market.assets import MARKET_ASSETS
from orchestration.jobs import market_job
from orchestration.schedules import market_hourly_schedule
from orchestration.sensors import market_landing_sensor
from resources.configurable import build_resources
from resources.settings import Settings, get_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All of Sextant's Dagster definitions for one set of settings (tests pass their own)."""
    settings = settings or get_settings()
    return dg.Definitions(
        assets=MARKET_ASSETS,
        jobs=[market_job],
        schedules=[market_hourly_schedule],
        sensors=[market_landing_sensor],
        resources=build_resources(settings),
    )


defs = build_definitions()
