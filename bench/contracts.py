"""Benchmark: our whole contract analysis against calling evmole alone on the same bytecode.

Compiles the devnet's Vyper contracts and assembles proxies, clones and larger synthetic dispatchers
(so sizes range from 45 bytes to ~20 KB), then times `ops.intel.contracts.analyze` (evmole selectors
and state mutability, plus our sweep, flags, interfaces, compiler tail and proxy detection) and
`evmole.contract_info(code, selectors=True, state_mutability=True)` alone, best of 3 passes each.
Then scores proxy detection on the labelled set of real bytecode in tests/intel/data/bytecodes.jsonl
(npm artifacts and documented clone bytes; see SOURCES.md there): precision and recall of the proxy
kind, and of kind plus target/slot (goal: 1.0 each), each with its Wilson 95 % interval (47
contracts cannot show more than that), beside a baseline that calls any contract with a
DELEGATECALL instruction a proxy, and times that set the same way.
Prints as its last line one JSON object; ratio = our throughput / evmole's on the synthetic corpus
(goal: at least 0.5); labelled_ratio is the same on the labelled set.

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
from ops.intel.evm import disassemble
from ops.intel.proxy import EIP1967_IMPLEMENTATION
from ops.intervals import proportion, wilson

DELEGATECALL = 0xF4

CONTRACTS = REPO_ROOT / "orchestration" / "simulator" / "contracts"
LABELLED = REPO_ROOT / "tests" / "intel" / "data" / "bytecodes.jsonl"


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


def labelled() -> list[dict]:
    """The labelled records, each with its code as bytes under "code"."""
    rows = [json.loads(line) for line in LABELLED.read_text().splitlines() if line.strip()]
    for row in rows:
        row["code"] = bytes.fromhex(row["hex"][2:])
    return rows


def score(rows: list[dict]) -> tuple[dict[str, float], Table]:
    """Precision and recall of the proxy kind, and of kind with target/slot, over `rows`.

    A prediction counts when the detector names a kind; it is right when the kind (and, for the
    second pair, the target and slot too) equals the label. Non-proxies enter through precision.
    """
    per_kind: dict[str, list[int]] = {}  # kind -> [labelled, predicted, kind right, all right]
    for row in rows:
        got = analyze(row["code"]).proxy
        row["got"] = got
        for kind in {row["kind"], got.kind} - {None}:
            per_kind.setdefault(kind, [0, 0, 0, 0])
        if row["kind"] is not None:
            per_kind[row["kind"]][0] += 1
        if got.kind is not None:
            per_kind[got.kind][1] += 1
            if got.kind == row["kind"]:
                per_kind[got.kind][2] += 1
                per_kind[got.kind][3] += (got.target, got.slot) == (row["target"], row["slot"])
    table = Table("proxy kind", "labelled", "detected", "kind right", "target/slot right", "precision", "recall")
    totals = [sum(v[i] for v in per_kind.values()) for i in range(4)]
    for kind, (want, got, right, exact) in [*sorted(per_kind.items()), ("all", totals)]:
        table.add_row(kind, str(want), str(got), str(right), str(exact),
                      f"{right / got:.2f}" if got else "-", f"{right / want:.2f}" if want else "-")
    want, got, right, exact = totals
    figures = {
        "kind_precision_ci95": [round(v, 3) for v in wilson(right, got)],
        "kind_recall_ci95": [round(v, 3) for v in wilson(right, want)],
        "kind_precision": round(right / got, 3) if got else 0.0, "kind_recall": round(right / want, 3) if want else 0.0,
        "target_precision": round(exact / got, 3) if got else 0.0,
        "target_recall": round(exact / want, 3) if want else 0.0,
    }
    return figures, table


def is_proxy_table(rows: list[dict]) -> tuple[dict[str, float], Table]:
    """Proxy or not, ours against the DELEGATECALL-opcode baseline, precision and recall with 95 % intervals."""
    table = Table("is it a proxy?", "precision [95 % CI]", "recall [95 % CI]")
    figures = {}
    labelled = [row["kind"] is not None for row in rows]
    for name, said in (
        ("ours", [row["got"].kind is not None for row in rows]),
        ("baseline: any DELEGATECALL", [any(i.opcode == DELEGATECALL for i in disassemble(row["code"])) for row in rows]),
    ):
        hits = sum(s and t for s, t in zip(said, labelled, strict=True))
        table.add_row(name, proportion(hits, sum(said)), proportion(hits, sum(labelled)))
        key = "ours" if name == "ours" else "baseline"
        figures[f"proxy_precision_{key}"] = round(hits / sum(said), 3) if sum(said) else 0.0
        figures[f"proxy_recall_{key}"] = round(hits / sum(labelled), 3) if sum(labelled) else 0.0
    return figures, table


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
    rows = labelled()
    figures, scored = score(rows)
    console.print(scored)
    proxy_figures, proxy_table = is_proxy_table(rows)
    figures.update(proxy_figures)
    console.print(proxy_table)
    for row in rows:
        got = row["got"]
        if (got.kind, got.target, got.slot) != (row["kind"], row["target"], row["slot"]):
            console.print(f"[red]wrong[/red] {row['name']}: {got.as_dict()} (labelled {row['kind']})")
    real = [row["code"] for row in rows] * args.copies
    with console.status(f"timing the {len(rows)} labelled contracts"):
        ours_real = _best(analyze, real)
        alone_real = _best(lambda c: evmole.contract_info(c, selectors=True, state_mutability=True), real)
    console.print(f"labelled set: ours {len(real) / ours_real:,.0f} contracts/s, evmole alone "
                  f"{len(real) / alone_real:,.0f} contracts/s")
    print(json.dumps({
        "bench": "contracts", "metric": "contracts analysed per second", "unit": "contracts/s",
        "ours": round(len(codes) / ours, 1), "baseline": round(len(codes) / alone, 1),
        "baseline_name": "evmole.contract_info(selectors, state_mutability) alone", "ratio": round(alone / ours, 3),
        "labelled": len(rows), **figures, "labelled_ratio": round(alone_real / ours_real, 3),
    }))


if __name__ == "__main__":
    main()
