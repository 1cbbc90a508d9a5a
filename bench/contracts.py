"""Benchmark: our whole contract analysis against calling evmole alone on the same bytecode.

Compiles the devnet's Vyper contracts and assembles proxies, clones and larger synthetic dispatchers
(so sizes range from 45 bytes to ~20 KB), then times `ops.intel.contracts.analyze` (evmole selectors
and state mutability, plus our sweep, flags, interfaces, compiler tail and proxy detection) and
`evmole.contract_info(code, selectors=True, state_mutability=True)` alone, best of 3 passes each.
Prints as its last line one JSON object; ratio = our throughput / evmole's (goal: at least 0.5).

Usage: python bench/contracts.py [--copies N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console
from rich.table import Table

from ops.intel.contracts import analyze
from ops.intel.proxy import EIP1967_IMPLEMENTATION

CONTRACTS = REPO_ROOT / "resources" / "devnet" / "contracts"


def _dispatcher(n: int, rng: random.Random) -> bytes:
    """A solc-shaped dispatcher with `n` functions, each with a body of arithmetic and storage."""
    code = bytearray(bytes.fromhex("6080604052348015600f57600080fd5b5060043610"))
    code += bytes.fromhex("60003560e01c")
    holes = []
    for _ in range(n):
        code += b"\x80\x63" + rng.randbytes(4) + b"\x14\x61"
        holes.append(len(code))
        code += b"\x00\x00\x57"
    code += b"\x00"
    for hole in holes:
        code[hole : hole + 2] = len(code).to_bytes(2, "big")
        code += b"\x5b" + bytes.fromhex("6004356000556001546024350160015560") + bytes([rng.randrange(256)]) + b"\x50\x00"
    return bytes(code)


def corpus() -> list[bytes]:
    from vyper.compiler import compile_code

    rng = random.Random(7)
    codes = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(CONTRACTS.glob("*.vy")):
            runtime = compile_code(path.read_text(), output_formats=["bytecode_runtime"])["bytecode_runtime"]
            codes.append(bytes.fromhex(runtime[2:]))
    codes.append(bytes.fromhex("363d3d373d3d3d363d73" + "ab" * 20 + "5af43d82803e903d91602b57fd5bf3"))
    codes.append(bytes.fromhex("365f5f375f5f365f7f" + EIP1967_IMPLEMENTATION[2:] + "545af43d5f5f3e3d5f5f3e6036573d5ffd5b3d5ff3"))
    codes += [_dispatcher(n, rng) for n in (10, 40, 150, 400)]
    return codes


def _best(fn, codes: list[bytes]) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for code in codes:
            fn(code)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=5, help="How many times the corpus is analysed per pass.")
    args = parser.parse_args()
    import evmole

    console = Console(stderr=True)
    with console.status("compiling the corpus"):
        codes = corpus() * args.copies
    size = sum(len(c) for c in codes)
    with console.status(f"timing {len(codes)} contracts ({size / 1e3:.0f} KB)"):
        ours = _best(analyze, codes)
        alone = _best(lambda c: evmole.contract_info(c, selectors=True, state_mutability=True), codes)
    table = Table("analysis", "seconds", "contracts/s", "KB/s")
    for name, took in (("ours (evmole + sweep, flags, proxy, interfaces, compiler)", ours), ("evmole alone", alone)):
        table.add_row(name, f"{took:.3f}", f"{len(codes) / took:,.0f}", f"{size / 1e3 / took:,.0f}")
    console.print(table)
    print(json.dumps({
        "bench": "contracts", "metric": "contracts analysed per second", "unit": "contracts/s",
        "ours": round(len(codes) / ours, 1), "baseline": round(len(codes) / alone, 1),
        "baseline_name": "evmole.contract_info(selectors, state_mutability) alone", "ratio": round(alone / ours, 3),
    }))


if __name__ == "__main__":
    main()
