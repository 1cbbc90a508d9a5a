"""`sextant chain index` and `sextant chain status`: index a block range by hand, and see what is indexed.

    sextant chain index --from 0 --to 199     # real Dagster runs of chain_job, one per range partition
    sextant chain status                      # head, indexed span, gaps, failed ranges, reorgs seen
    sextant chain status --json

`index` plans the same partitions the sensor would (aligned to the range size, existing ranges
re-indexed whole), so the runs, their checks and the lineage show in the Dagster UI like any other.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from resources.settings import get_settings

chain_app = typer.Typer(help="Index block ranges from the node and report what is indexed.", no_args_is_help=True)
console = Console(stderr=True)


def _context():
    """(settings, Dagster instance, definitions, chain resource, known ranges), the CLI's one set-up."""
    from assets.chain.partitions import CHAIN_RANGES
    from ops.chain.ranges import BlockRange
    from orchestration.cli import _instance
    from orchestration.definitions import build_definitions

    settings = get_settings()
    instance = _instance()
    defs = build_definitions(settings)
    chain_rpc = defs.resources["chain_rpc"]
    known = sorted(BlockRange.parse(k) for k in instance.get_dynamic_partitions(CHAIN_RANGES.name))
    return settings, instance, defs, chain_rpc, known


def _head(chain_rpc) -> int:
    try:
        return chain_rpc.probe_client.head()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the node is reported the same way
        console.print(f"[red]the chain node at {chain_rpc.shown} did not answer: {type(exc).__name__}: {exc}")
        raise typer.Exit(1) from None


@chain_app.command("index")
def index_command(
    first: Annotated[int, typer.Option("--from", min=0, help="First block to index.")],
    last: Annotated[int, typer.Option("--to", min=0, help="Last block to index (inclusive, at most the head).")],
) -> None:
    """Index blocks FROM..TO into the warehouse: one chain_job run per range partition, with a progress bar."""
    from ops.chain.ranges import plan_ranges

    settings, instance, defs, chain_rpc, known = _context()
    head = _head(chain_rpc)
    if last > head:
        raise typer.BadParameter(f"block {last} is past the node's head {head}", param_hint="--to")
    try:
        planned = plan_ranges(
            first, last, size=chain_rpc.resolved_range_size(), first_block=settings.chain_first_block, known=known
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    failed = index_ranges(instance, defs, planned, known, console)
    if failed:
        console.print(f"[red]{len(failed)} of {len(planned)} range(s) failed: {', '.join(failed)}; their logs are "
                      "in the Dagster UI (the new-block sensor retries them with backoff)")
        raise typer.Exit(1)
    console.print(f"[green]indexed blocks {planned[0].start}-{planned[-1].end} in {len(planned)} range(s)")


def index_ranges(instance, defs, planned, known, out: Console) -> list[str]:
    """Run chain_job once per planned range (new ones added as partitions first); the keys that failed."""
    from assets.chain.partitions import CHAIN_RANGES
    from orchestration.demo import QUIET_RUN_CONFIG

    instance.add_dynamic_partitions(CHAIN_RANGES.name, [r.key for r in planned if r not in known])
    job = defs.resolve_job_def("chain_job")
    failed = []
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=out
    ) as progress:
        task = progress.add_task("blocks", total=sum(r.size for r in planned))
        for block_range in planned:
            progress.update(task, description=f"blocks {block_range.start}-{block_range.end}")
            result = job.execute_in_process(
                instance=instance,
                partition_key=block_range.key,
                run_config=QUIET_RUN_CONFIG,
                raise_on_error=False,
            )
            if not result.success:
                failed.append(block_range.key)
            progress.advance(task, block_range.size)
    return failed


def status_report(instance, chain_rpc, warehouse, known) -> dict[str, Any]:
    """What `chain status` shows, as plain data (the CLI prints it as a table or JSON)."""
    import dagster as dg

    from assets.chain.span import indexed_span
    from assets.chain.triggers import broken_ranges
    from resources.chain_capabilities import BLOCK_RECEIPTS, WarehouseCapabilityStore, endpoint_id

    try:
        head: int | None = chain_rpc.probe_client.head()
        node_error = None
    except Exception as exc:  # noqa: BLE001 - reported, not raised: the warehouse side still has answers
        head, node_error = None, f"{type(exc).__name__}: {exc}"
    span = indexed_span(warehouse, known)
    failed = broken_ranges(instance, known, set())
    pending = [r.key for r in known if span is None or r.start > span.end]
    receipts = WarehouseCapabilityStore(warehouse).load(endpoint_id(chain_rpc.endpoint)).get(BLOCK_RECEIPTS)
    return {
        "node": chain_rpc.shown,
        "head": head,
        "node_error": node_error,
        "indexed_span": None if span is None else {"from": span.start, "to": span.end, "stored_blocks": span.stored},
        "behind_head": None if head is None or span is None else head - span.end,
        "gaps": [] if span is None else [{"from": g.start, "to": g.end, "blocks": g.size} for g in span.gaps],
        "ranges": len(known),
        "failed_ranges": failed,
        "pending_ranges": pending,
        "reorgs_seen": instance.get_runs_count(filters=dg.RunsFilter(tags={"sextant/reorg": "true"})),
        "block_receipts": {True: "supported", False: "unsupported"}.get(receipts, "not yet learnt"),
    }


@chain_app.command("status")
def status_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """The node's head, the indexed span and its gaps, failed and pending ranges, reorgs seen."""
    from resources.warehouse import Warehouse

    settings, instance, _, chain_rpc, known = _context()
    warehouse = Warehouse(settings.resolved_warehouse_url)
    try:
        report = status_report(instance, chain_rpc, warehouse, known)
    finally:
        warehouse.dispose()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title="chain index", show_header=False)
    span = report["indexed_span"]
    rows = [
        ("node", report["node"]),
        ("head", str(report["head"]) if report["head"] is not None else f"[red]unreachable: {report['node_error']}"),
        ("indexed span", f"{span['from']}-{span['to']} ({span['stored_blocks']} blocks stored)" if span else "nothing"),
        ("behind head", str(report["behind_head"]) if report["behind_head"] is not None else "-"),
        ("gaps", ", ".join(f"{g['from']}-{g['to']}" for g in report["gaps"]) or "none"),
        ("ranges", str(report["ranges"])),
        ("failed ranges", ", ".join(report["failed_ranges"]) or "none"),
        ("pending ranges", ", ".join(report["pending_ranges"][:10]) or "none"),
        ("reorgs seen", str(report["reorgs_seen"])),
        ("eth_getBlockReceipts", report["block_receipts"]),
    ]
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)
