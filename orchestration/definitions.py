"""The Definitions root: every asset, check, job, schedule and sensor, with resources from settings."""

from __future__ import annotations

import dagster as dg

from assets.chain.assets import CHAIN_ASSETS
from assets.fraud.assets import FRAUD_ASSETS, FRAUD_CHECKS
from assets.fraud.triggers import FRAUD_JOBS, FRAUD_SCHEDULES, FRAUD_SENSORS
from assets.intel.assets import INTEL_ASSETS
from assets.market.assets import MARKET_ASSETS
from assets.nlp.assets import NLP_ASSETS
from assets.nlp.sensors import NLP_JOBS, NLP_SENSORS
from assets.price.assets import PRICE_ASSETS
from assets.price.triggers import PRICE_JOBS, PRICE_SCHEDULES, PRICE_SENSORS
from orchestration.automation import automation_sensor
from orchestration.chain_sensors import chain_new_blocks_sensor
from orchestration.hygiene import HYGIENE_JOBS, HYGIENE_SCHEDULES
from orchestration.jobs import chain_job, chain_live_job, market_job
from orchestration.schedules import market_hourly_schedule
from orchestration.sensors import market_landing_sensor
from orchestration.tracing import run_tracing_sensors
from resources.configurable import build_resources
from resources.settings import Settings, get_settings


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All of Sextant's Dagster definitions for one set of settings (tests pass their own)."""
    settings = settings or get_settings()
    return dg.Definitions(
        assets=[*MARKET_ASSETS, *CHAIN_ASSETS, *INTEL_ASSETS, *FRAUD_ASSETS, *NLP_ASSETS, *PRICE_ASSETS],
        asset_checks=[*FRAUD_CHECKS],
        jobs=[market_job, chain_job, chain_live_job, *FRAUD_JOBS, *NLP_JOBS, *PRICE_JOBS, *HYGIENE_JOBS],
        schedules=[market_hourly_schedule, *FRAUD_SCHEDULES, *PRICE_SCHEDULES, *HYGIENE_SCHEDULES],
        sensors=[
            market_landing_sensor,
            chain_new_blocks_sensor,
            automation_sensor,
            *FRAUD_SENSORS,
            *NLP_SENSORS,
            *PRICE_SENSORS,
            *run_tracing_sensors(settings),
        ],
        resources=build_resources(settings),
    )

defs = build_definitions()
