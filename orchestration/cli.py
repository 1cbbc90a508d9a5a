"""The `sextant` command: materialize assets, serve the API, or bring the whole local stack up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console

from orchestration.cli_chain import chain_app
from orchestration.cli_devnet import devnet_app
from orchestration.cli_intel import contract_app, mev_app
from orchestration.cli_tokens import token_app
from resources.settings import get_settings

app = typer.Typer(help="Sextant: crypto market, chain and fraud intelligence on Dagster.", no_args_is_help=True)
app.add_typer(token_app, name="token", help="API tokens: create, list, revoke.")
app.add_typer(chain_app, name="chain", help="Index block ranges by hand; status of the index (head, span, gaps).")
app.add_typer(devnet_app, name="devnet", help="Serve a local EVM devnet with a seeded scenario (port 8545).")
app.add_typer(mev_app, name="mev", help="MEV detectors over exported swaps.")
app.add_typer(contract_app, name="contract", help="Contract bytecode analysis.")
console = Console()


def _instance():
    import dagster as dg

    from orchestration.instance import prepare_dagster_home

    home = prepare_dagster_home(get_settings())
    os.environ["DAGSTER_HOME"] = str(home)  # Dagster finds its home only through the environment
    return dg.DagsterInstance.get()


@app.command()
def materialize(
    selection: Annotated[str, typer.Argument(help="Dagster asset selection, e.g. 'group:market' or 'key:ohlcv'.")] = (
        "group:market"
    ),
    symbol: Annotated[list[str] | None, typer.Option(help="Symbols (default: MARKET_SYMBOLS).")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default: --days before today).")] = None,
    end: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD (default: today).")] = None,
    days: Annotated[int, typer.Option(help="Days back from --end when --start is not given.")] = 7,
) -> None:
    """Materialize assets for a range of days, one run per symbol, with a progress bar."""
    from orchestration.demo import materialize_days

    settings = get_settings()
    symbols = symbol or settings.market_symbols
    last = date.fromisoformat(end) if end else datetime.now(UTC).date()
    first = date.fromisoformat(start) if start else last - timedelta(days=days - 1)
    if first > last:
        raise typer.BadParameter(f"--start {first} is after --end {last}")
    failed = materialize_days(_instance(), settings, console, selection, symbols, first, last)
    if failed:
        console.print(f"[red]runs failed for {', '.join(failed)}; see the Dagster UI for their logs")
        raise typer.Exit(1)
    console.print(f"[green]materialized {selection} for {', '.join(symbols)}, {first}..{last}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default API_PORT).")] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "serving.app:create_app", factory=True, host=host or settings.api_host, port=port or settings.api_port
    )


@app.command()
def up(
    days: Annotated[int, typer.Option(help="Days of market data to materialize first.")] = 7,
    dagster_port: Annotated[int, typer.Option(help="Dagster webserver port.")] = 3000,
) -> None:
    """Start the devnet and index it, materialize the market, fraud, price and NLP assets, then run Dagster
    (UI + daemon) and the API until Ctrl-C; the chain sensor indexes the devnet as it mines."""
    from orchestration.demo import first_runs, pin_market_start
    from orchestration.interrupts import ctrl_c_stops

    ctrl_c_stops()  # before the children start: they inherit what this process has

    start = pin_market_start(get_settings(), datetime.now(UTC).date() - timedelta(days=days - 1))
    settings = get_settings()  # with the pinned MARKET_START_DATE
    settings.resolved_landing_dir.mkdir(parents=True, exist_ok=True)
    devnet = _start_local_devnet(settings)  # plays its scenario while the market assets materialize
    try:
        first_runs(_instance(), settings, console, days=days, index_devnet=_is_local_devnet(settings),
                   since=date.fromisoformat(start))
    except BaseException:
        if devnet is not None:  # never leave the child behind
            devnet.send_signal(signal.SIGINT)
            devnet.wait(timeout=20)
        raise
    from orchestration.instance import REPO_ROOT

    # Absolute paths: the children do not share our working directory.
    env = {**os.environ, "DAGSTER_HOME": str(settings.dagster_home), "SEXTANT_HOME": str(settings.resolved_home)}
    workspace = str(REPO_ROOT / "workspace.yaml")
    dagster_dev = [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", "127.0.0.1", "-p", str(dagster_port)]
    # Each child logs to a file of its own (Dagster's coloured text, the API's JSON lines), so the
    # terminal keeps only what is said here and a log stays parseable.
    dagster_log, api_log = _log_path(settings, "dagster"), _log_path(settings, "api")
    children = [devnet] if devnet else []
    children += [
        # Run from the home, where its dagster.yaml is (the repository's copy is only the template).
        _logged(dagster_dev, dagster_log, env=env, cwd=settings.dagster_home),
        _logged([sys.executable, "-m", "orchestration.cli", "serve"], api_log, env=env),
    ]
    api = f"http://{settings.api_host}:{settings.api_port}"
    chain_note = " (local devnet, --live: the chain sensor indexes it)" if devnet else ""
    console.print(
        f"\n[bold green]Sextant is up[/]\n"
        f"  Dagster UI (assets, checks, lineage, schedules, sensors): http://127.0.0.1:{dagster_port}\n"
        f"  API:  {api}/api/docs   health: {api}/api/health/ready   dashboard: {api}/api/dashboard/html\n"
        f"  API token: .venv/bin/sextant token create --client me --scopes read\n"
        f"  Landing folder for market CSV files: {settings.resolved_landing_dir}\n"
        f"  Chain node: {settings.chain_rpc_url}{chain_note}\n"
        f"  Logs: {dagster_log} (Dagster), {api_log} (API, JSON lines), devnet.log beside them\n"
        f"Ctrl-C stops everything."
    )
    try:
        while all(child.poll() is None for child in children):
            time.sleep(1)
        ended = next(child for child in children if child.poll() is not None)
        console.print(f"[red]{' '.join(map(str, ended.args[:4]))} exited with {ended.returncode}; stopping the rest")
        for path in (dagster_log, api_log):
            console.print(f"[dim]last lines of {path}:")
            console.print("\n".join(path.read_text(errors="replace").splitlines()[-10:]), markup=False, highlight=False)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()


def _log_path(settings, child: str):
    """`<home>/logs/<child>.log`."""
    logs = settings.resolved_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{child}.log"


def _logged(command: list[str], log, **popen) -> subprocess.Popen:
    """A child whose stdout and stderr go to `log` (appended: a restart keeps the earlier run's lines)."""
    with open(log, "ab") as sink:  # the child holds its own descriptor
        return subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, **popen)


def _is_local_devnet(settings) -> bool:
    """CHAIN_RPC_URL names the devnet's own port on this machine."""
    from urllib.parse import urlparse

    url = urlparse(settings.chain_rpc_url)
    return url.hostname in ("127.0.0.1", "localhost") and url.port == settings.devnet_port


def _start_local_devnet(settings) -> subprocess.Popen | None:
    """`sextant devnet --live` in a child process when CHAIN_RPC_URL is the local devnet and nothing answers there.

    With a real node configured (or a devnet already running) nothing is started.
    """
    import socket

    if not _is_local_devnet(settings):
        return None
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", settings.devnet_port)) == 0:
            console.print(f"a chain node already answers on port {settings.devnet_port}; using it")
            return None
    env = {**os.environ, "SEXTANT_HOME": str(settings.resolved_home)}
    return _logged([sys.executable, "-m", "orchestration.cli", "devnet", "--live"], _log_path(settings, "devnet"), env=env)


if __name__ == "__main__":
    app()
