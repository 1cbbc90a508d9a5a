"""`sextant mev scan` and `sextant contract analyze`: the detectors on data from anywhere, no node needed.

    sextant mev scan --swaps swaps.json          # or swaps.csv; columns in the README
    sextant contract analyze 0x363d3d37...       # or a file holding the hex (or raw bytes)
"""

from __future__ import annotations

import json
import string
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


def _shown(text: str) -> str:
    """The argument as an error message shows it: one line, at most ~40 characters."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 40 else flat[:20] + "…" + flat[-12:])


def _read_code(code: str) -> str | bytes:
    """The bytecode an argument stands for: a file holding hex text or raw bytes, else hex text itself.

    Every way this can go wrong is a ``typer.BadParameter`` (one line, exit code 2), never a
    traceback: a hex string too long to be a file name is not tried as one, a directory or an
    unreadable file says so, and text that is neither hex nor a file is named as such.
    """
    if not code.strip():
        raise typer.BadParameter("no bytecode given", param_hint="HEX_OR_FILE")
    try:
        path = Path(code)
        exists = path.exists()
    except (OSError, ValueError):  # too long for a file name, or a NUL in it: not a path
        exists = False
    if exists:
        if path.is_dir():
            raise typer.BadParameter(f"{_shown(code)} is a directory", param_hint="HEX_OR_FILE")
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {_shown(code)}: {exc.strerror or exc}", param_hint="HEX_OR_FILE") from None
        if not raw.strip():
            raise typer.BadParameter(f"{_shown(code)} is empty", param_hint="HEX_OR_FILE")
        try:
            text = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            return raw  # raw bytecode
        digits = text[2:] if text[:2].lower() == "0x" else text
        return text if all(c in string.hexdigits or c.isspace() for c in digits) else raw
    digits = code.strip()
    digits = digits[2:] if digits[:2].lower() == "0x" else digits
    if not all(c in string.hexdigits or c.isspace() for c in digits):
        raise typer.BadParameter(f"{_shown(code)}: not hex, and no such file", param_hint="HEX_OR_FILE")
    return code


@contract_app.command("analyze")
def analyze_command(
    code: Annotated[str, typer.Argument(help="Bytecode (runtime or creation) as hex, or a file holding it (hex text or raw bytes).")],
) -> None:
    """Print the analysis of bytecode: proxy kind and target or slot, selectors, flags, interfaces, compiler.

    Creation code is welcome: its proxy kind is that of the runtime it returns.
    """
    from ops.intel.contracts import analyze

    source = _read_code(code)
    try:
        result = analyze(source)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="HEX_OR_FILE") from None
    typer.echo(json.dumps(result.as_dict(), indent=2))
