"""Schedules: the hourly market refresh."""


from datetime import timedelta

import dagster as dg

from assets.market.partitions import SYMBOLS, range_tags
from orchestration.jobs import market_job
from resources.configurable import MarketSourceResource


@dg.schedule(
    job=market_job,
    cron_schedule="5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour, refresh yesterday and today for every symbol (the last hour of yesterday "
    "closes after midnight).",
)
def market_hourly_schedule(context: dg.ScheduleEvaluationContext, market_source: MarketSourceResource):
    known = set(context.instance.get_dynamic_partitions(SYMBOLS.name))
    configured = set(market_source.symbols) if market_source.kind == "synthetic" else set()
    missing = sorted(configured - known)
    if missing:  # a schedule cannot return partition requests, so it adds the configured symbols itself
        context.instance.add_dynamic_partitions(SYMBOLS.name, missing)
    today = context.scheduled_execution_time.date()
    symbols = sorted(known | configured)
    if not symbols:
        return dg.SkipReason("no market symbols yet: configure MARKET_SYMBOLS or drop a file in the landing folder")
    hour = f"{context.scheduled_execution_time:%Y-%m-%dT%H}"
    return [  # several requests from one tick: Dagster needs a run key on each
        dg.RunRequest(run_key=f"market-hourly-{symbol}-{hour}", tags=range_tags(symbol, today - timedelta(days=1), today))
        for symbol in symbols
    ]
