"""`sextant mev scan` and `sextant contract analyze`: the detectors on data from anywhere, no node needed.

    sextant mev scan --swaps swaps.json          # or swaps.csv; columns in the README
    sextant contract analyze 0x363d3d37...       # or a file holding the hex (or raw bytes)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

mev_app = typer.Typer(help="MEV detectors over swaps exported from anywhere.", no_args_is_help=True)
contract_app = typer.Typer(help="Contract bytecode analysis.", no_args_is_help=True)
err = Console(stderr=True)


def _read_swaps(path: Path):
    import polars as pl

    from ops.intel.swaps import normalize_swaps, swaps_from_rows

    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a file", param_hint="--swaps")
    try:
        if path.suffix.lower() == ".csv":
            return normalize_swaps(pl.read_csv(path, infer_schema_length=0))  # every column as text first
        text = path.read_text()
        rows = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines() if x.strip()]
        return swaps_from_rows(rows)
    except (ValueError, pl.exceptions.PolarsError) as exc:
        raise typer.BadParameter(f"{path}: {exc}", param_hint="--swaps") from None


@mev_app.command("scan")
def scan(
    swaps: Annotated[Path, typer.Option("--swaps", help="JSON (array or lines) or CSV file of swaps.")],
    routers: Annotated[list[str] | None, typer.Option("--router", help="Known router addresses (repeatable).")] = None,
) -> None:
    """Run the sandwich and arbitrage detectors and print what they find as JSON."""
    import polars as pl

    from ops.intel.mev import detect_arbitrages, detect_sandwiches

    with err.status(f"reading {swaps}"):
        frame = _read_swaps(swaps)
        frame = frame.with_columns(pl.col(c).cast(pl.Int64) for c in ("block_number", "transaction_index", "log_index"))
    with err.status(f"scanning {frame.height} swaps"):
        sandwiches = detect_sandwiches(frame, routers=routers)
        arbitrages = detect_arbitrages(frame)
    err.print(f"{frame.height} swaps: {sandwiches.height} sandwiches, {arbitrages.height} arbitrages")
    typer.echo(json.dumps({"swaps": frame.height, "sandwiches": sandwiches.to_dicts(),
                           "arbitrages": arbitrages.to_dicts()}, indent=2))


@contract_app.command("analyze")
def analyze_command(
    code: Annotated[str, typer.Argument(help="Runtime bytecode as hex, or a file holding it (hex text or raw bytes).")],
) -> None:
    """Print the analysis of runtime bytecode: proxy kind and target or slot, selectors, flags, interfaces, compiler."""
    from ops.intel.contracts import analyze

    source: str | bytes = code
    path = Path(code)
    if len(code) < 4096 and path.is_file():
        raw = path.read_bytes()
        try:
            source = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            source = raw
    try:
        result = analyze(source)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="HEX_OR_FILE") from None
    typer.echo(json.dumps(result.as_dict(), indent=2))
