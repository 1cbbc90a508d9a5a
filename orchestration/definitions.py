"""The Definitions root: every domain's definitions merged, the cross-domain sensors, resources from settings.

Each domain (assets/<domain>/definitions.py) owns its assets, checks, jobs, schedules and sensors;
this module only merges them and adds what spans domains: the automation sensor, run tracing,
the instance's hygiene job, and the resources built from one set of settings.
"""

from __future__ import annotations

import dagster as dg

# The domains' modules, not their `defs`: Dagster loads this module's one Definitions object and
# refuses a module scope holding several.
from assets.chain import definitions as chain
from assets.fraud import definitions as fraud
from assets.intel import definitions as intel
from assets.market import definitions as market
from assets.nlp import definitions as nlp
from assets.price import definitions as price
from orchestration.automation import automation_sensor
from orchestration.hygiene import HYGIENE_JOBS, HYGIENE_SCHEDULES
from orchestration.tracing import run_tracing_sensors
from resources.configurable import build_resources
from resources.settings import Settings, get_settings

DOMAINS = (market, chain, intel, fraud, nlp, price)


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    """All of Sextant's Dagster definitions for one set of settings (tests pass their own)."""
    settings = settings or get_settings()
    shared = dg.Definitions(
        jobs=HYGIENE_JOBS,
        schedules=HYGIENE_SCHEDULES,
        sensors=[automation_sensor, *run_tracing_sensors(settings)],
        resources=build_resources(settings),
    )
    return dg.Definitions.merge(*(domain.defs for domain in DOMAINS), shared)


defs = build_definitions()
