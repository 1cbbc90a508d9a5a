"""`sextant devnet`: a local EVM chain on 127.0.0.1 with the seeded scenario already played.

Startup compiles the contracts (cached after the first run) and plays the scenario with a progress
bar, writes the ground truth, then serves JSON-RPC until Ctrl-C. `--live` keeps mining a block of a
few ordinary transactions every DEVNET_BLOCK_SECONDS.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from resources.settings import get_settings

devnet_app = typer.Typer(help="Serve a local EVM devnet with a seeded scenario.", invoke_without_command=True)
console = Console()


@devnet_app.callback(invoke_without_command=True)
def devnet(
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1 (default DEVNET_PORT).")] = None,
    seed: Annotated[int | None, typer.Option(help="Scenario seed (default DEVNET_SEED).")] = None,
    live: Annotated[bool, typer.Option("--live", help="Keep producing blocks at DEVNET_BLOCK_SECONDS.")] = False,
    ground_truth: Annotated[
        Path | None, typer.Option(help="Where to write the ground truth JSON (default DEVNET_GROUND_TRUTH).")
    ] = None,
    blocks: Annotated[int | None, typer.Option(help="Scenario blocks to play (default DEVNET_BLOCKS).")] = None,
) -> None:
    """Play the scenario, write its ground truth, and serve JSON-RPC until Ctrl-C."""
    from orchestration.interrupts import ctrl_c_stops
    from orchestration.simulator import scenario
    from orchestration.simulator.compiler import default_cache_dir
    from orchestration.simulator.live import LiveProducer
    from orchestration.simulator.rpc_server import JsonRpcServer

    ctrl_c_stops()
    settings = get_settings()
    seed = settings.devnet_seed if seed is None else seed
    port = settings.devnet_port if port is None else port
    blocks = settings.devnet_blocks if blocks is None else blocks
    truth_path = ground_truth or settings.resolved_devnet_ground_truth
    try:  # bind first: a busy port should fail before a minute of playing
        server = JsonRpcServer(_Late(), port=port, serialize=True)
    except OSError as error:
        console.print(f"[red]cannot listen on 127.0.0.1:{port}: {error}")
        raise typer.Exit(1) from None
    server.start()  # answers "still starting" until the scenario has played
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("devnet", total=blocks + 5)

        def report(done: int, total: int, what: str) -> None:
            progress.update(task, completed=done, total=total, description=f"seed {seed}: {what}")

        try:
            world = scenario.play(seed, blocks=blocks, cache_dir=default_cache_dir(), progress=report)
        except BaseException:  # Ctrl-C or a failure while playing: release the port on the way out
            server.stop()
            raise
    scenario.write_ground_truth(world.truth, truth_path)
    server._server.backend = world.backend
    truth = world.truth
    console.print(
        f"[green]devnet[/] chain {truth['chain_id']} at [bold]{server.url}[/], blocks 0..{truth['last_block']}: "
        f"{len(truth['sandwiches'])} sandwiches, {len(truth['arbitrages'])} arbitrages, "
        f"{len(truth['clusters'])} deposit clusters, {len(truth['scam_addresses'])} scam addresses\n"
        f"ground truth: {truth_path}\n"
        + (f"live: a block every {settings.devnet_block_seconds:g} s, "
           f"{settings.devnet_live_mev_share:.0%} of them with MEV\n" if live else "")
        + "Ctrl-C stops."
    )
    producer = None
    if live:
        producer = LiveProducer(world, settings.devnet_block_seconds, seed, mev_share=settings.devnet_live_mev_share)
        producer.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        if producer is not None:
            producer.stop()
        server.stop()
        console.print("devnet stopped")


class _Late:
    """The backend until the scenario has played: the port is held, calls get an error."""

    def call(self, method, params):
        from orchestration.simulator.rpc_server import RpcError

        raise RpcError(-32000, "the devnet is still starting")
