"""Declarative automation, on by default.

Assets with an automation condition (the chain-intelligence assets re-run when their range of chain
data changes, e.g. after a reorg) need a sensor to evaluate it. Dagster creates a default one, but
stopped; this one targets every asset and starts running, so eager assets work out of the box.
"""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    "automation_conditions",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Evaluates every asset's automation condition (eager chain-intelligence assets, re-scoring).",
)
