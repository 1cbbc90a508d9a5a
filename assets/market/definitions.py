"""The market domain's Dagster definitions: OHLCV ETL assets, the hourly schedule, the landing sensor."""

import dagster as dg

from assets.market.assets import MARKET_ASSETS
from assets.market.triggers import market_hourly_schedule, market_job, market_landing_sensor

defs = dg.Definitions(
    assets=MARKET_ASSETS, jobs=[market_job], schedules=[market_hourly_schedule], sensors=[market_landing_sensor]
)
