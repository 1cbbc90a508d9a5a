"""The price domain's Dagster definitions: training set, models, forecasts, the daily retrain and drift sensor."""

import dagster as dg

from assets.price.assets import PRICE_ASSETS
from assets.price.triggers import price_daily_schedule, price_drift_sensor, price_model_job

defs = dg.Definitions(
    assets=PRICE_ASSETS, jobs=[price_model_job], schedules=[price_daily_schedule], sensors=[price_drift_sensor]
)
