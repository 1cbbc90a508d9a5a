"""The first runs `sextant up` makes, so every endpoint answers from the start.

Each is one run of a whole asset group (the chain: one run per block range, up to the devnet's
confirmed head, then fraud on the devnet's labelled addresses). A failed run is reported and not
fatal: the other domains still come up (the forecast API then answers with the persistence
baseline until the daily schedule or the drift sensor trains a model; translation waits for the
`nlp` group's next run; fraud for its daily schedule, and its re-scoring sensor says so).
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

#: A sample NLP landing file, dropped into an empty landing folder so the UI shows inputs,
#: detections and translations right away.
DEMO_INPUTS = Path(__file__).resolve().parents[1] / "ops" / "nlp" / "corpus" / "demo_inputs.jsonl"

#: Run config of the CLI's in-process runs: warnings only, so the progress bars stay readable.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}

#: group -> (what the spinner says, what failure means for the user)
GROUPS = {
    "price_model": (
        "training the LSTM and the ensemble, walk-forward evaluation",
        "the API serves the persistence baseline",
    ),
    "nlp": (
        "translation model (trained once, then reused), detections, translations",
        "see the Dagster UI for its logs",
    ),
    "fraud": (
        "address features, fraud and anomaly models on the devnet's labelled addresses, risk scores",
        "the fraud routes answer 404 until the daily schedule trains a model",
    ),
}


def index_chain(instance, settings, console, wait_seconds: float = 300) -> bool:
    """Index the node up to its confirmed head (waiting for a starting devnet); True when every range ran."""
    from assets.chain.partitions import CHAIN_RANGES
    from ops.chain.ranges import BlockRange, plan_ranges
    from orchestration.cli_chain import index_ranges
    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    chain_rpc = defs.resources["chain_rpc"]
    deadline = time.monotonic() + wait_seconds
    with console.status(f"[bold]waiting for the chain node at {chain_rpc.shown} ..."):
        while True:
            try:
                head = chain_rpc.probe_client.head()
                break
            except Exception:  # noqa: BLE001 - a starting devnet refuses connections until its scenario is played
                if time.monotonic() > deadline:
                    console.print(f"[yellow]no chain node answered at {chain_rpc.shown}; the chain sensor will index it later")
                    return False
                time.sleep(2)
    known = sorted(BlockRange.parse(k) for k in instance.get_dynamic_partitions(CHAIN_RANGES.name))
    first = known[-1].end + 1 if known else settings.chain_first_block
    last = head - chain_rpc.resolved_confirmations()
    if last < first:
        return True
    planned = plan_ranges(first, last, size=chain_rpc.resolved_range_size(), first_block=settings.chain_first_block,
                          known=known)
    failed = index_ranges(instance, defs, planned, known, console)
    if failed:
        console.print(f"[yellow]{len(failed)} chain range(s) failed ({', '.join(failed)}); the sensor retries them")
        return False
    console.print(f"[green]chain indexed to block {last} in {len(planned)} range(s)")
    return _analyse_ranges(instance, defs, [r.key for r in planned], console)


def _analyse_ranges(instance, defs, keys: list[str], console) -> bool:
    """The chain_intel group over ranges indexed before the daemon runs: the automation sensor's first
    evaluation counts what it finds already materialized as handled, so it would never analyse them."""
    import dagster as dg

    graph = defs.resolve_asset_graph()
    intel = [n.key for n in graph.asset_nodes if n.group_name == "chain_intel"]
    per_range = [k for k in intel if graph.get(k).partitions_def is not None]
    whole = [k for k in intel if graph.get(k).partitions_def is None]
    assets = list(defs.assets or [])
    ok = True
    with console.status("[bold]chain_intel: contracts, swaps, MEV per range, then wallet clusters ..."):
        for key in keys:
            ok &= dg.materialize(assets, instance=instance, resources=defs.resources, selection=per_range,
                                 partition_key=key, run_config=QUIET_RUN_CONFIG, raise_on_error=False).success
        ok &= dg.materialize(assets, instance=instance, resources=defs.resources, selection=whole,
                             run_config=QUIET_RUN_CONFIG, raise_on_error=False).success
    console.print("[green]chain_intel analysed" if ok else "[yellow]a chain_intel run failed; see the Dagster UI")
    return ok


def materialize_group(instance, settings, console, group: str) -> bool:
    """Materialize every asset of `group` once in `instance`; True when the run succeeded."""
    import dagster as dg

    from orchestration.definitions import build_definitions

    if group == "nlp":
        landing = settings.resolved_nlp_landing_dir
        landing.mkdir(parents=True, exist_ok=True)
        if not any(landing.glob("*.jsonl")):
            shutil.copy(DEMO_INPUTS, landing / DEMO_INPUTS.name)
    doing, if_failed = GROUPS[group]
    defs = build_definitions(settings)
    started = time.monotonic()
    with console.status(f"[bold]{group}: {doing} ..."):
        result = dg.materialize(
            list(defs.assets or []),
            instance=instance,
            resources=defs.resources,
            selection=dg.AssetSelection.groups(group),
            run_config=QUIET_RUN_CONFIG,
            raise_on_error=False,
        )
    seconds = time.monotonic() - started
    if result.success:
        console.print(f"[green]{group} assets materialized in {seconds:.0f} s")
    else:
        console.print(f"[yellow]{group} run failed after {seconds:.0f} s; {if_failed}")
    return result.success


def materialize_days(instance, settings, console, selection: str, symbols: list[str], first: date, last: date) -> list[str]:
    """One run of `selection` per symbol over days first..last, with a progress bar; the symbols that failed."""
    import dagster as dg
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from assets.market.partitions import SYMBOLS, range_tags
    from orchestration.definitions import build_definitions

    instance.add_dynamic_partitions(SYMBOLS.name, symbols)
    defs = build_definitions(settings)
    assets = list(defs.assets or [])
    failed = []
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task(f"{selection} {first}..{last}", total=len(symbols))
        for sym in symbols:
            progress.update(task, description=f"{selection} {sym} {first}..{last}")
            result = dg.materialize(
                assets,
                instance=instance,
                resources=defs.resources,
                selection=dg.AssetSelection.from_string(selection),
                tags=range_tags(sym, first, last),
                run_config=QUIET_RUN_CONFIG,
                raise_on_error=False,
            )
            if not result.success:
                failed.append(sym)
            progress.advance(task)
    return failed


#: Where a home keeps the first day of its market partitions (see `pin_market_start`).
MARKET_START_FILE = "market_start_date"


def pin_market_start(settings, first_day: date) -> str:
    """The market partitions' first day for this home: MARKET_START_DATE when set, else the day pinned
    in the home on its first start (`first_day`, the first day `sextant up` materializes).

    The daily partitions then cover only the data the home holds, so the UI's "filled" share is the
    truth, and it stays the same across restarts. The day goes into this process's environment
    (inherited by the Dagster and API children), so call this before anything imports the market
    partitions.
    """
    from resources.settings import get_settings

    if "market_start_date" in settings.model_fields_set:
        return settings.market_start_date
    pin = settings.resolved_home / MARKET_START_FILE
    if pin.exists():
        day = pin.read_text().strip()
    else:
        day = first_day.isoformat()
        pin.parent.mkdir(parents=True, exist_ok=True)
        pin.write_text(day + "\n")
    os.environ["MARKET_START_DATE"] = day
    get_settings.cache_clear()
    return day


def first_unmaterialized_day(instance, symbols: list[str], since: date, until: date) -> date:
    """The first day in since..until where some symbol's `ohlcv` partition is not materialized (else `until`):
    a restart after downtime fills the gap, so no day of the partitions is left empty."""
    import dagster as dg

    from assets.market.partitions import partition_key

    done = instance.get_materialized_partitions(dg.AssetKey("ohlcv"))
    day = since
    while day < until and all(str(partition_key(day, sym)) in done for sym in symbols):
        day += timedelta(days=1)
    return day


def first_runs(instance, settings, console, *, days: int = 7, index_devnet: bool = True,
               since: date | None = None) -> None:
    """What `sextant up` materializes before Dagster starts: the market's last `days` (from `since` when
    an earlier day is still missing), the devnet indexed (then fraud on its labelled addresses), the price
    model and the NLP group."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    if since is not None:
        first = min(first, first_unmaterialized_day(instance, settings.market_symbols, since, today))
    failed = materialize_days(instance, settings, console, "group:market", settings.market_symbols, first, today)
    if failed:
        console.print(f"[yellow]market runs failed for {', '.join(failed)}; see the Dagster UI for their logs")
    # A real node's history is the chain sensor's to walk, in bounded steps; the devnet is indexed now.
    if index_devnet and index_chain(instance, settings, console):
        materialize_group(instance, settings, console, "fraud")
    for group in ("price_model", "nlp"):  # so the forecast and translation endpoints answer from the start
        materialize_group(instance, settings, console, group)
