"""When the market assets run: the hourly refresh and a run per new landing file.

- `market_job`: the market group for a range of days of one symbol.
- `market_hourly_schedule`: every hour, yesterday and today of every symbol (the last hour of
  yesterday closes after midnight).
- `market_landing_sensor`: one run per (file, symbol) of each new or rewritten landing file.
"""

import json
from datetime import date, timedelta

import dagster as dg

from assets.market.partitions import DAYS, MARKET_PARTITIONS, SYMBOLS, range_tags
from ops.market.landing import file_spans
from resources.configurable import MarketSourceResource
from resources.files import file_signature
from resources.market_files import read_market_csv

market_job = dg.define_asset_job(
    "market_job",
    selection=dg.AssetSelection.groups("market"),
    partitions_def=MARKET_PARTITIONS,
    description="Market ETL for a range of days of one symbol: raw bars, validation, features, summaries.",
)


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


@dg.sensor(
    job=market_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One run per symbol of each new landing file, over the span of days it covers; the run "
    "lands every row of the file for its symbol, rows dated outside the partitions as rejects.",
)
def market_landing_sensor(context: dg.SensorEvaluationContext, market_source: MarketSourceResource):
    """One run per (file, symbol), over the days of that symbol's rows that a partition can hold.

    That run owns every row of the file for its symbol (`ops.market.landing`): a row dated
    before the partitions' first day, after today or not at all is read and rejected by it
    with a reason, and no other run of the tick reads it, so each row lands exactly once.
    """
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    earliest = date.fromisoformat(DAYS.get_first_partition_key())
    latest = date.fromisoformat(DAYS.get_last_partition_key())
    known = set(context.instance.get_dynamic_partitions(SYMBOLS.name))
    run_requests, new_symbols = [], set()
    for path in market_source.client.landing_files():
        signature = file_signature(path)
        if seen.get(path.name) == signature:
            continue
        seen[path.name] = signature
        try:
            raw = read_market_csv(path)
        except (ValueError, OSError) as exc:
            context.log.warning(f"landing file {path.name} is not a market file and was left alone: {exc}")
            continue
        for span in file_spans(raw, earliest, latest):
            if span.symbol not in known:
                new_symbols.add(span.symbol)
            run_requests.append(
                dg.RunRequest(
                    run_key=f"{path.name}:{signature}:{span.symbol}",
                    run_config={"ops": {"raw_ohlcv": {"config": {"files": [str(path)]}}}},
                    tags={**range_tags(span.symbol, span.first_day, span.last_day), "landing_file": path.name},
                )
            )
    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[SYMBOLS.build_add_request(sorted(new_symbols))] if new_symbols else [],
        cursor=json.dumps(seen, sort_keys=True),
    )
