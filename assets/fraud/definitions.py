"""The fraud domain's Dagster definitions: features, models, evaluation, scores, drift check and triggers."""

import dagster as dg

from assets.fraud.assets import FRAUD_ASSETS, FRAUD_CHECKS
from assets.fraud.triggers import fraud_daily_schedule, fraud_job, fraud_rescore_sensor, fraud_scoring_job

defs = dg.Definitions(
    assets=FRAUD_ASSETS,
    asset_checks=FRAUD_CHECKS,
    jobs=[fraud_job, fraud_scoring_job],
    schedules=[fraud_daily_schedule],
    sensors=[fraud_rescore_sensor],
)
