"""Benchmark: indexing a mainnet-like chain over JSON-RPC, ours against ethereum-etl (and cryo).

1. Data: one synthetic, seeded, mainnet-like chain (default 2,000 blocks of about 150 transactions):
   full transaction objects (EIP-1559 mostly, signatures, calldata), receipts with logs blooms,
   about 40 % of transactions emitting 1-4 logs (most of them ERC-20 Transfers, a few ERC-721, the
   rest other events), 16 withdrawals per block, a few contract creations with runtime code.
2. Server: a subprocess (this script re-invoked through multiprocessing, so the server does not
   share the GIL with the clients) generates the chain straight into a ``ReplayBackend`` (answers
   pre-encoded) behind one ``JsonRpcServer`` on 127.0.0.1; generation shows progress and is
   bounded by ``--generate-timeout``.
3. Ours: ``ChainRPC`` (batches of ``--batch-size``, ``--workers`` in flight, eth_getBlockReceipts)
   + ``ops.chain.decode`` through ``index_range``, range by range (``--range-size`` blocks, 1000 as a
   mainnet partition), each range's five tables written as CSV files to a temporary folder with
   polars -- the same kind of sink as ethereum-etl's exports, so both pay for writing their output.
4. Baseline: ethereum-etl 2.4.2 from PyPI in its own virtual environment under ``--cache-dir``
   (created on first use: ``pip install ethereum-etl==2.4.2`` then ``parsimonious==0.10.0``, without
   which it does not import on Python 3.11), run as its documented CSV pipeline against the same
   server with the same batch size and workers: ``export_blocks_and_transactions``,
   ``extract_csv_column`` (transaction hashes), ``export_receipts_and_logs`` (per-transaction
   eth_getTransactionReceipt batches: it has no eth_getBlockReceipts) and ``extract_token_transfers``.
   Its time is the wall time of the four commands less their start-up (``ethereumetl --help``,
   timed after a warm-up, once per command), as ours is timed after its imports.
5. Second baseline (reported, not in the ratio): cryo 0.3.2 from PyPI, its own venv, collecting
   blocks, transactions, logs and ERC-20 transfers into parquet over the same server (its own
   concurrency; it does not batch), when it installs and works.

Both sides' row counts are checked against what the generator made (transactions, logs, token
transfers); a mismatch marks the figures invalid. Prints a table and, as the very last line, one
JSON object: blocks per second, ours / ethereum-etl.

Usage: python bench/chain_index.py [--blocks N] [--txs N] [--seed S] [--batch-size B] [--workers W]
                                   [--range-size R] [--cache-dir DIR] [--no-cryo] [--no-etl]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

ETL_VERSION = "2.4.2"
CRYO_VERSION = "0.3.2"
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
FIRST_BLOCK = 17_000_000
FIRST_TIMESTAMP = 1_681_000_000
console = Console(stderr=True)


# --- the synthetic chain -------------------------------------------------------------------------


class ChainGenerator:
    """Deterministic mainnet-like blocks: ``blocks()`` yields (block, receipts, {address: code})."""

    def __init__(self, n_blocks: int, txs_per_block: int, seed: int) -> None:
        self.n_blocks = n_blocks
        self.txs_per_block = txs_per_block
        self.rng = random.Random(seed)
        r = self.rng
        self.eoas = [self._address() for _ in range(20_000)]
        self.contracts = [self._address() for _ in range(3_000)]
        self.tokens = self.contracts[:400]
        self.nfts = self.contracts[400:460]
        self.builders = self.eoas[:12]
        self.events = [self._word() for _ in range(60)]
        self.selectors = [f"0x{r.getrandbits(32):08x}" for _ in range(300)]
        self.counts = {"transactions": 0, "logs": 0, "erc20": 0, "erc721": 0, "contracts": 0}

    def _word(self) -> str:
        return f"0x{self.rng.getrandbits(256):064x}"

    def _address(self) -> str:
        return f"0x{self.rng.getrandbits(160):040x}"

    @staticmethod
    def _topic(address: str) -> str:
        return "0x" + "0" * 24 + address[2:]

    def _logs(self, tx_hash: str, tx_index: str, block: dict[str, Any], first_index: int) -> list[dict]:
        r = self.rng
        logs = []
        for i in range(r.randint(1, 4)):
            kind = r.random()
            if kind < 0.55:
                address = r.choice(self.tokens)
                topics = [TRANSFER_TOPIC, self._topic(r.choice(self.eoas)), self._topic(r.choice(self.eoas))]
                data = f"0x{r.getrandbits(r.choice((40, 64, 80, 96))):064x}"
                self.counts["erc20"] += 1
            elif kind < 0.58:
                address = r.choice(self.nfts)
                topics = [
                    TRANSFER_TOPIC,
                    self._topic(r.choice(self.eoas)),
                    self._topic(r.choice(self.eoas)),
                    f"0x{r.getrandbits(16):064x}",
                ]
                data = "0x"
                self.counts["erc721"] += 1
            else:
                address = r.choice(self.contracts)
                topics = [r.choice(self.events)] + [self._word() for _ in range(r.randint(0, 3))]
                data = "0x" + "%064x" * (n := r.randint(0, 4)) % tuple(r.getrandbits(256) for _ in range(n))
            logs.append(
                {
                    "address": address,
                    "topics": topics,
                    "data": data,
                    "blockNumber": block["number"],
                    "transactionHash": tx_hash,
                    "transactionIndex": tx_index,
                    "blockHash": block["hash"],
                    "logIndex": hex(first_index + i),
                    "removed": False,
                }
            )
        self.counts["logs"] += len(logs)
        return logs

    def blocks(self) -> Iterator[tuple[dict[str, Any], list[dict], dict[str, str]]]:
        r = self.rng
        parent = self._word()
        base_fee = 30_000_000_000
        for offset in range(self.n_blocks):
            number = FIRST_BLOCK + offset
            n_txs = r.randint(int(self.txs_per_block * 0.7), int(self.txs_per_block * 1.3))
            base_fee = max(1_000_000_000, int(base_fee * r.uniform(0.9, 1.11)))
            block: dict[str, Any] = {
                "number": hex(number),
                "hash": self._word(),
                "parentHash": parent,
                "nonce": "0x0000000000000000",
                "mixHash": self._word(),
                "sha3Uncles": EMPTY_UNCLES,
                "logsBloom": f"0x{r.getrandbits(2048):0512x}",
                "transactionsRoot": self._word(),
                "stateRoot": self._word(),
                "receiptsRoot": self._word(),
                "miner": r.choice(self.builders),
                "difficulty": "0x0",
                "totalDifficulty": "0xc70d815d562d3cfa955",
                "extraData": "0x" + b"synthetic-builder".hex(),
                "size": hex(r.randint(40_000, 200_000)),
                "gasLimit": hex(30_000_000),
                "timestamp": hex(FIRST_TIMESTAMP + 12 * offset),
                "baseFeePerGas": hex(base_fee),
                "withdrawalsRoot": self._word(),
                "withdrawals": [
                    {
                        "index": hex(offset * 16 + i),
                        "validatorIndex": hex(r.randint(0, 900_000)),
                        "address": r.choice(self.eoas),
                        "amount": hex(r.randint(10_000_000, 60_000_000)),
                    }
                    for i in range(16)
                ],
                "uncles": [],
            }
            parent = block["hash"]
            txs, receipts, codes = [], [], {}
            cumulative = 0
            log_index = 0
            for index in range(n_txs):
                tx, receipt, code = self._transaction(block, index, base_fee, log_index)
                cumulative += int(receipt["gasUsed"], 16)
                receipt["cumulativeGasUsed"] = hex(cumulative)
                log_index += len(receipt["logs"])
                txs.append(tx)
                receipts.append(receipt)
                if code is not None:
                    codes[receipt["contractAddress"]] = code
            block["gasUsed"] = hex(cumulative)
            block["transactions"] = txs
            self.counts["transactions"] += n_txs
            self.counts["contracts"] += len(codes)
            yield block, receipts, codes

    def _transaction(
        self, block: dict[str, Any], index: int, base_fee: int, log_index: int
    ) -> tuple[dict, dict, str | None]:
        r = self.rng
        tx_hash = self._word()
        tx_index = hex(index)
        kind = r.random()
        tx_type = 2 if kind < 0.85 else (0 if kind < 0.98 else 1)
        creation = r.random() < 0.003
        plain_transfer = not creation and r.random() < 0.3
        sender = r.choice(self.eoas)
        to = None if creation else (r.choice(self.eoas) if plain_transfer else r.choice(self.contracts))
        if plain_transfer:
            calldata = "0x"
        else:
            words = r.randint(40, 200) if creation else r.randint(1, 10)
            calldata = r.choice(self.selectors) + "%064x" * words % tuple(
                r.getrandbits(256) for _ in range(words)
            )
        tip = r.randint(0, 3_000_000_000)
        gas = r.randint(21_000, 600_000)
        used = 21_000 if plain_transfer else r.randint(21_000, gas)
        price = base_fee + tip
        tx: dict[str, Any] = {
            "blockHash": block["hash"],
            "blockNumber": block["number"],
            "from": sender,
            "gas": hex(gas),
            "gasPrice": hex(price),
            "hash": tx_hash,
            "input": calldata,
            "nonce": hex(r.randint(0, 200_000)),
            "to": to,
            "transactionIndex": tx_index,
            "value": "0x0" if r.random() < 0.5 else hex(r.getrandbits(r.choice((50, 60, 70)))),
            "type": hex(tx_type),
            "v": hex(r.randint(0, 1)) if tx_type else hex(37 + r.randint(0, 1)),
            "r": self._word(),
            "s": self._word(),
        }
        if tx_type:
            tx["chainId"] = "0x1"
            tx["accessList"] = []
            tx["yParity"] = tx["v"]
        if tx_type == 2:
            tx["maxFeePerGas"] = hex(base_fee * 2 + tip)
            tx["maxPriorityFeePerGas"] = hex(tip)
        logs = (
            self._logs(tx_hash, tx_index, block, log_index) if r.random() < 0.4 and not plain_transfer else []
        )
        contract = self._address() if creation else None
        receipt = {
            "blockHash": block["hash"],
            "blockNumber": block["number"],
            "contractAddress": contract,
            "cumulativeGasUsed": "0x0",
            "effectiveGasPrice": hex(price),
            "from": sender,
            "gasUsed": hex(used),
            "logs": logs,
            "logsBloom": f"0x{r.getrandbits(2048):0512x}" if logs else "0x" + "0" * 512,
            "status": "0x1" if r.random() < 0.97 else "0x0",
            "to": to,
            "transactionHash": tx_hash,
            "transactionIndex": tx_index,
            "type": hex(tx_type),
        }
        code = f"0x{r.getrandbits(8 * (n := r.randint(2_000, 12_000))):0{2 * n}x}" if creation else None
        return tx, receipt, code


def _serve(n_blocks: int, txs: int, seed: int, messages: Any) -> None:
    """Server process: generate the chain into a replay backend, then serve it until terminated."""
    from orchestration.simulator.replay import ReplayBackend
    from orchestration.simulator.rpc_server import JsonRpcServer

    generator = ChainGenerator(n_blocks, txs, seed)
    backend = ReplayBackend(chain_id=1)
    for done, (block, receipts, codes) in enumerate(generator.blocks(), start=1):
        backend.add_block(block, receipts)
        for address, code in codes.items():
            backend.add_code(address, code)
        if done % 10 == 0 or done == n_blocks:
            messages.put(("progress", done))
    server = JsonRpcServer(backend)
    messages.put(("ready", server.url, generator.counts))
    server.serve_forever()


def start_server(n_blocks: int, txs: int, seed: int, timeout: float) -> tuple[Any, str, dict[str, int]]:
    ctx = mp.get_context("spawn")
    messages = ctx.Queue()
    process = ctx.Process(target=_serve, args=(n_blocks, txs, seed, messages), daemon=True)
    process.start()
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("generating the chain"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("generate", total=n_blocks)
        while True:
            try:
                message = messages.get(timeout=max(0.1, min(5.0, deadline - time.monotonic())))
            except queue.Empty:
                if not process.is_alive():
                    raise RuntimeError("the server process died while generating") from None
                if time.monotonic() > deadline:
                    process.terminate()
                    raise TimeoutError(
                        f"generation took longer than {timeout:.0f} s; try fewer --blocks"
                    ) from None
                continue
            if message[0] == "progress":
                progress.update(task, completed=message[1])
            else:
                return process, message[1], message[2]


# --- ours ----------------------------------------------------------------------------------------


def run_ours(url: str, n_blocks: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from assets.chain.indexing import index_range
    from ops.chain.decode import ChainFrames
    from resources.chain_rpc import ChainRPC

    rows = dict.fromkeys(ChainFrames.TABLES, 0)
    rpc = ChainRPC(url, batch_size=args.batch_size, workers=args.workers)  # imports web3: not timed
    start = time.perf_counter()
    with (
        rpc,
        Progress(
            TextColumn("ours"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress,
    ):
        task = progress.add_task("ours", total=n_blocks)
        for first in range(FIRST_BLOCK, FIRST_BLOCK + n_blocks, args.range_size):
            last = min(first + args.range_size, FIRST_BLOCK + n_blocks) - 1
            frames = index_range(rpc, first, last)
            for name in rows:
                frame = getattr(frames, name)
                frame.write_csv(out / f"{name}_{first:010d}_{last:010d}.csv")
                rows[name] += frame.height
            progress.update(task, advance=last - first + 1)
        requests = rpc.http_requests
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": rows, "http_requests": requests}


# --- baselines in their own virtual environments -------------------------------------------------


def ensure_venv(cache_dir: Path, name: str, packages: list[list[str]]) -> Path:
    """A venv under the cache dir with ``packages`` pip-installed in order (each list one pip call)."""
    venv = cache_dir / name
    marker = venv / ".sextant-installed"
    if marker.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    console.print(f"installing {name} into {venv} (once) ...")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    for spec in packages:
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *spec],
            check=True,
        )
    marker.touch()
    return venv


def _csv_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(0, sum(1 for _ in handle) - 1)


def run_etl(url: str, n_blocks: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    venv = ensure_venv(
        args.cache_dir,
        f"ethereum-etl-{ETL_VERSION}",
        [[f"ethereum-etl=={ETL_VERSION}"], ["parsimonious==0.10.0"]],
    )
    etl = str(venv / "bin" / "ethereumetl")
    first, last = FIRST_BLOCK, FIRST_BLOCK + n_blocks - 1
    common = ["--provider-uri", url, "--batch-size", str(args.batch_size), "--max-workers", str(args.workers)]
    steps = [
        (
            "export_blocks_and_transactions",
            [
                etl,
                "export_blocks_and_transactions",
                "--start-block",
                str(first),
                "--end-block",
                str(last),
                *common,
                "--blocks-output",
                str(out / "blocks.csv"),
                "--transactions-output",
                str(out / "transactions.csv"),
            ],
        ),
        (
            "extract_csv_column",
            [
                etl,
                "extract_csv_column",
                "--input",
                str(out / "transactions.csv"),
                "--column",
                "hash",
                "--output",
                str(out / "transaction_hashes.txt"),
            ],
        ),
        (
            "export_receipts_and_logs",
            [
                etl,
                "export_receipts_and_logs",
                "--transaction-hashes",
                str(out / "transaction_hashes.txt"),
                *common,
                "--receipts-output",
                str(out / "receipts.csv"),
                "--logs-output",
                str(out / "logs.csv"),
            ],
        ),
        (
            "extract_token_transfers",
            [
                etl,
                "extract_token_transfers",
                "--logs",
                str(out / "logs.csv"),
                "--max-workers",
                str(args.workers),
                "--output",
                str(out / "token_transfers.csv"),
            ],
        ),
    ]
    # Its start-up (Python + web3 imports, paid once per command) is measured on the side, after a
    # warm-up, and left out of the rate the ratio uses: the ratio compares indexing, not imports.
    subprocess.run([etl, "--help"], capture_output=True, check=True)
    startups = []
    for _ in range(2):
        began = time.perf_counter()
        subprocess.run([etl, "--help"], capture_output=True, check=True)
        startups.append(time.perf_counter() - began)
    step_seconds = {}
    start = time.perf_counter()
    with Progress(
        TextColumn("ethereum-etl: {task.description}"), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("starting", total=None)
        for name, command in steps:
            progress.update(task, description=name)
            began = time.perf_counter()
            done = subprocess.run(
                command, check=False, capture_output=True, text=True, timeout=args.baseline_timeout
            )
            if done.returncode != 0:
                raise RuntimeError(f"ethereum-etl {name} failed:\n{done.stderr[-3000:]}")
            step_seconds[name] = time.perf_counter() - began
    seconds = time.perf_counter() - start
    rows = {
        "blocks": _csv_rows(out / "blocks.csv"),
        "transactions": _csv_rows(out / "transactions.csv"),
        "receipts": _csv_rows(out / "receipts.csv"),
        "logs": _csv_rows(out / "logs.csv"),
        "token_transfers": _csv_rows(out / "token_transfers.csv"),
    }
    startup = min(startups) * len(steps)
    return {
        "seconds": seconds - startup,
        "seconds_total": seconds,
        "startup": startup,
        "rows": rows,
        "steps": step_seconds,
    }


CRYO_SCRIPT = """
import json, os, sys, time
import cryo
url, first, last, out, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
start = time.perf_counter()
cryo.freeze(["blocks", "transactions", "logs", "erc20_transfers"], blocks=[f"{first}:{last + 1}"], rpc=url,
            output_dir=out, max_concurrent_requests=workers * 4, chunk_size=100, verbose=False)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds}), flush=True)
os._exit(0)  # cryo 0.3.2 sometimes segfaults in interpreter teardown, after its files are written
"""


def run_cryo(url: str, n_blocks: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    venv = ensure_venv(args.cache_dir, f"cryo-{CRYO_VERSION}", [[f"cryo=={CRYO_VERSION}"]])
    first, last = FIRST_BLOCK, FIRST_BLOCK + n_blocks - 1
    with Progress(
        TextColumn("cryo: blocks, transactions, logs"), TimeElapsedColumn(), console=console
    ) as progress:
        progress.add_task("cryo", total=None)
        done = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-c",
                CRYO_SCRIPT,
                url,
                str(first),
                str(last),
                str(out),
                str(args.workers),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=args.baseline_timeout,
        )
    if done.returncode != 0:
        raise RuntimeError(f"cryo failed:\n{(done.stderr or done.stdout)[-2000:]}")
    seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]  # its own timing: no start-up
    import polars as pl

    rows: dict[str, int] = {}
    for path in out.rglob("*.parquet"):
        dataset = path.name.split("__")[1]
        rows[dataset] = rows.get(dataset, 0) + pl.scan_parquet(path).select(pl.len()).collect().item()
    return {"seconds": seconds, "rows": rows}


# --- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--txs", type=int, default=150, help="mean transactions per block")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=50, help="JSON-RPC calls per batch (both sides)")
    parser.add_argument("--workers", type=int, default=4, help="requests in flight (both sides)")
    parser.add_argument(
        "--range-size", type=int, default=1000, help="blocks per index_range call (ours): a mainnet partition"
    )
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "sextant-bench")
    parser.add_argument("--generate-timeout", type=float, default=900.0)
    parser.add_argument("--baseline-timeout", type=float, default=1800.0)
    parser.add_argument("--no-etl", action="store_true", help="skip ethereum-etl (no ratio line)")
    parser.add_argument("--no-cryo", action="store_true")
    args = parser.parse_args()
    args.cache_dir.mkdir(parents=True, exist_ok=True)

    began = time.perf_counter()
    process, url, made = start_server(args.blocks, args.txs, args.seed, args.generate_timeout)
    console.print(
        f"chain: {args.blocks} blocks, {made['transactions']:,} transactions, {made['logs']:,} logs, "
        f"{made['erc20'] + made['erc721']:,} token transfers, {made['contracts']} contracts "
        f"(generated in {time.perf_counter() - began:.0f} s), served at {url}"
    )
    problems: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="sextant-chain-bench-") as tmp:
            for name, runner, enabled in (
                ("ours", run_ours, True),
                ("ethereum-etl", run_etl, not args.no_etl),
                ("cryo", run_cryo, not args.no_cryo),
            ):
                if not enabled:
                    continue
                out = Path(tmp) / name
                out.mkdir()
                try:
                    results[name] = runner(url, args.blocks, args, out)
                except Exception as error:  # a failing second baseline is reported, not fatal
                    if name != "cryo":
                        raise
                    results[name] = {"error": f"{type(error).__name__}: {str(error).strip()[-600:]}"}
                shutil.rmtree(out, ignore_errors=True)
    finally:
        process.terminate()
        process.join(timeout=10)

    expected = {
        "transactions": made["transactions"],
        "logs": made["logs"],
        "token_transfers": made["erc20"] + made["erc721"],
    }
    for name in ("ours", "ethereum-etl"):
        rows = results.get(name, {}).get("rows", {})
        for table, want in expected.items():
            if name in results and rows.get(table) != want:
                problems.append(f"{name}: {rows.get(table)} {table}, the chain has {want}")
        if name in results and rows.get("blocks") != args.blocks:
            problems.append(f"{name}: {rows.get('blocks')} blocks, the chain has {args.blocks}")

    cryo_rows = results.get("cryo", {}).get("rows")
    if cryo_rows is not None:
        for dataset, want in (
            ("transactions", made["transactions"]),
            ("logs", made["logs"]),
            ("erc20_transfers", made["erc20"]),
        ):
            if cryo_rows.get(dataset) != want:
                problems.append(f"cryo: {cryo_rows.get(dataset)} {dataset}, the chain has {want}")
    table = Table(
        title=f"chain indexing: {args.blocks} blocks, batch {args.batch_size}, {args.workers} workers"
    )
    for column in ("indexer", "seconds", "blocks/s", "tx/s", "notes"):
        table.add_column(column, justify="right" if column not in ("indexer", "notes") else "left")
    rate: dict[str, float] = {}
    for name, result in results.items():
        if "error" in result:
            table.add_row(name, "-", "-", "-", result["error"][:200])
            continue
        rate[name] = args.blocks / result["seconds"]
        if name == "ours":
            notes = f"{result['http_requests']} HTTP requests; rows {result['rows']}"
        elif name == "ethereum-etl":
            notes = ", ".join(f"{k} {v:.1f}s" for k, v in result["steps"].items())
            notes += f"; {result['seconds_total']:.1f}s in all, less {result['startup']:.1f}s of start-up"
        else:
            notes = f"parquet rows {result['rows']} (erc20 only: no ERC-721 step)"
        table.add_row(
            name,
            f"{result['seconds']:.1f}",
            f"{rate[name]:.1f}",
            f"{made['transactions'] / result['seconds']:,.0f}",
            notes,
        )
    console.print(table)
    if "cryo" in rate and "ours" in rate:
        console.print(f"cryo (second baseline): ours / cryo = {rate['ours'] / rate['cryo']:.2f}")
    for problem in problems:
        console.print(f"[red]{problem}[/red]")
    if problems:
        console.print("[red]the figures are not valid[/red]")
    if "ethereum-etl" not in rate:
        return
    print(
        json.dumps(
            {
                "bench": "chain_index",
                "metric": "blocks per second indexed over JSON-RPC (fetch + decode + write CSV)",
                "unit": "blocks/s",
                "ours": round(rate["ours"], 2),
                "baseline": round(rate["ethereum-etl"], 2),
                "baseline_name": f"ethereum-etl {ETL_VERSION} (blocks+transactions, receipts+logs, token transfers)",
                "ratio": round(rate["ours"] / rate["ethereum-etl"], 3),
            }
        )
    )


if __name__ == "__main__":
    os.environ.setdefault("POLARS_MAX_THREADS", "2")
    main()
