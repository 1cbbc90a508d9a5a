"""The Definitions root: every domain's definitions merged, the cross-domain sensors, resources from settings.

Each domain (assets/<domain>/definitions.py) owns its assets, checks, jobs, schedules and sensors;
this module only merges them and adds what spans domains: the automation sensor, run tracing,
the instance's hygiene job, and the resources built from one set of settings.
"""

from __future__ import annotations

import dagster as dg

from assets.chain.definitions import defs as chain_defs
from assets.fraud.definitions import defs as fraud_defs
from assets.intel.definitions import defs as intel_defs
from assets.market.definitions import defs as market_defs
from assets.nlp.definitions import defs as nlp_defs
from assets.price.definitions import defs as price_defs
from orchestration.automation import automation_sensor
from orchestration.hygiene import HYGIENE_JOBS, HYGIENE_SCHEDULES
from orchestration.tracing import run_tracing_sensors
from resources.configurable import build_resources
from resources.settings import Settings, get_settings

DOMAINS = (market_defs, chain_defs, intel_defs, fraud_defs, nlp_defs, price_defs)


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All of Sextant's Dagster definitions for one set of settings (tests pass their own)."""
    settings = settings or get_settings()
    shared = dg.Definitions(
        jobs=HYGIENE_JOBS,
        schedules=HYGIENE_SCHEDULES,
        sensors=[automation_sensor, *run_tracing_sensors(settings)],
        resources=build_resources(settings),
    )
    return dg.Definitions.merge(*DOMAINS, shared)


defs = build_definitions()
