"""Sensors: start market runs for files that land in the landing folder."""


import json
from datetime import date
from pathlib import Path

import dagster as dg

from assets.market.partitions import DAYS, SYMBOLS, range_tags
from ops.market.landing import file_spans
from ops.market.parsing import read_market_csv
from orchestration.jobs import market_job
from resources.configurable import MarketSourceResource


def file_signature(path: Path) -> str:
    """Size and modification time: a file rewritten in place is processed again, an untouched one never."""
    stat = path.stat()
    return f"{stat.st_size}-{stat.st_mtime_ns}"


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
