"""How long a block of the live devnet takes to reach a WebSocket client as events.

The stack `make run` starts, on the embedded defaults (SQLite, local folders, the in-process
cache), in a temporary home: `sextant devnet --live` mining a block every DEVNET_BLOCK_SECONDS
(every block pays a newcomer; with DEVNET_LIVE_MEV_SHARE 1 each holds a sandwich or an arbitrage),
the first runs (the scenario indexed, the fraud models trained), then the Dagster daemon (its
sensors and automation) and the API. A stream client subscribes to `blocks`, `mev` and `risk`.

For every block mined after the warm-up, its latency is the time from this process first seeing it
at the node (polled every 50 ms) to:
- blocks: its `blocks` event (indexing);
- mev:    its first `mev` event (indexing and detection in the same run), for blocks that hold MEV
          (a transaction from the scenario's sandwich bot or arbitrage owner);
- risk:   the `risk` event of the newcomer it paid (then the re-scoring sensor's run), with
          STREAM_RISK_MIN_SCORE 0 so that a first score is a change.

It prints p50/p95/max per topic, the blocks each missed, the goal (p95 <= 30 s for MEV and risk),
and the ratio of MEV's p95 to the blocks topic's p95 (what detection adds to indexing, in the same
run). Absolute seconds depend on the machine; the ratio and the goal line are the claims.

    .venv/bin/python bench/freshness.py                 # 50 MEV blocks, ~6 min on 2 cores
    .venv/bin/python bench/freshness.py --mev-blocks 60 --block-seconds 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.harness import Server, free_port, start, stop, wait_http, wait_until

TOPICS = ("blocks", "mev", "risk")
GOAL_P95_SECONDS = 30.0


def rpc(url: str, method: str, params: list) -> object:
    import httpx

    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=5).json()
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["result"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _rounded(value: float, digits: int = 2) -> float | None:
    """For the JSON line: None (null) where nothing was measured, not NaN (which JSON has not)."""
    return round(value, digits) if math.isfinite(value) else None


class Chain:
    """Polls the node: when each block was first seen, the newcomer it paid, whether it holds MEV."""

    def __init__(self, url: str, mev_senders: set[str]):
        self.url, self.mev_senders = url, mev_senders
        self.seen: dict[int, float] = {}
        self.newcomer_of: dict[str, int] = {}
        self.has_mev: set[int] = set()
        self.known: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, from_block: int) -> None:
        for n in range(from_block + 1):  # addresses before the measurement are not newcomers
            self._note(n, record=False)
        self.head = from_block
        self._thread.start()

    def _note(self, number: int, record: bool) -> None:
        block = rpc(self.url, "eth_getBlockByNumber", [hex(number), True])
        for tx in block["transactions"]:
            to, sender = (tx.get("to") or "").lower(), tx["from"].lower()
            if record and sender in self.mev_senders:
                self.has_mev.add(number)
            if record and to and int(tx["value"], 16) > 0 and to not in self.known:
                self.newcomer_of[to] = number
            self.known.update({to, sender})

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                head = int(rpc(self.url, "eth_blockNumber", []), 16)
            except Exception:  # noqa: BLE001, S112 - a busy node answers next time
                continue
            now = time.time()
            for number in range(self.head + 1, head + 1):
                self.seen[number] = now
                self._note(number, record=True)
            self.head = max(self.head, head)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Listener:
    """A stream client: the arrival time of every event, per topic."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        self.arrivals: list[tuple[float, str, dict]] = []
        self.closed: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        from websockets.sync.client import connect

        cursor = None
        while not self._stop.is_set():
            try:
                with connect(self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                             open_timeout=10) as ws:  # fmt: skip
                    ws.send(json.dumps({"type": "subscribe", "topics": list(TOPICS),
                                        **({"cursor": cursor} if cursor is not None else {})}))
                    while not self._stop.is_set():
                        try:
                            message = json.loads(ws.recv(timeout=1))
                        except TimeoutError:
                            continue
                        if message["type"] == "heartbeat":
                            ws.send(json.dumps({"type": "pong"}))
                        elif message["type"] == "event":
                            self.arrivals.append((time.time(), message["topic"], message["data"]))
                        if "cursor" in message:
                            cursor = message["cursor"]
            except Exception as exc:  # noqa: BLE001 - reconnect from the cursor, as a client should
                self.closed = f"{type(exc).__name__}: {exc}"
                time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def latencies(chain: Chain, listener: Listener, first: int) -> dict[str, dict[int, float]]:
    """topic -> {block number: seconds from seen to its first event}, for blocks after `first`."""
    out: dict[str, dict[int, float]] = {topic: {} for topic in TOPICS}
    for at, topic, data in sorted(listener.arrivals, key=lambda a: a[0]):
        if topic == "blocks":
            number = data.get("number")
        elif topic == "mev":
            number = data.get("block_number")
        else:
            number = chain.newcomer_of.get(str(data.get("address", "")).lower())
        if number is None or number <= first or number not in chain.seen:
            continue
        out[topic].setdefault(number, at - chain.seen[number])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mev-blocks", type=int, default=50, help="MEV blocks to measure (at least 50 for the claim)")
    parser.add_argument("--block-seconds", type=float, default=2.0)
    parser.add_argument("--scenario-blocks", type=int, default=80, help="devnet scenario played before --live "
                        "(80, as make run: enough labelled addresses to train the fraud models)")
    parser.add_argument("--warmup-blocks", type=int, default=5, help="live blocks not measured (the stack settling)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds for the whole measurement")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (logs, Dagster runs)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="sextant-freshness-"))
    devnet_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "SEXTANT_HOME": str(home),
        "CHAIN_RPC_URL": f"http://127.0.0.1:{devnet_port}",
        "DEVNET_PORT": str(devnet_port),
        "DEVNET_BLOCKS": str(args.scenario_blocks),
        "DEVNET_BLOCK_SECONDS": str(args.block_seconds),
        "DEVNET_LIVE_MEV_SHARE": "1",
        "STREAM_RISK_MIN_SCORE": "0",
        "API_PORT": str(api_port),
        "CACHE_URL": "mem://",
        "DAGSTER_HOME": str(home / "dagster"),
    }
    for name in ("WAREHOUSE_URL", "DAGSTER_PG_URL", "MODEL_STORE_URL"):
        env.pop(name, None)  # the embedded defaults
    os.environ.clear()
    os.environ.update(env)

    import dagster as dg
    from rich.console import Console
    from rich.table import Table

    from orchestration.demo import index_chain, materialize_group
    from orchestration.instance import REPO_ROOT, prepare_dagster_home
    from resources.settings import get_settings
    from resources.tokens import TokenStore
    from resources.warehouse import Warehouse

    console = Console()
    settings = get_settings()
    prepare_dagster_home(settings)
    children: list[Server] = []
    logs = home / "logs"
    chain = listener = None
    try:
        devnet = start("devnet", [sys.executable, "-m", "orchestration.cli", "devnet", "--live"], logs / "devnet.log",
                       port=devnet_port, cwd=REPO, env=env)  # fmt: skip
        children.append(devnet)
        url = settings.chain_rpc_url
        wait_until(devnet, lambda: int(rpc(url, "eth_blockNumber", []), 16) > args.scenario_blocks, 600, "playing")
        instance = dg.DagsterInstance.get()
        with console.status("first runs: the scenario indexed, the fraud models trained"):
            if not index_chain(instance, settings, console):
                raise SystemExit(f"indexing the devnet failed; logs under {home}")
            materialize_group(instance, settings, console, "fraud")
        truth = json.loads(settings.resolved_devnet_ground_truth.read_text())
        bots = {truth["accounts"]["sandwich_bot"].lower(), truth["accounts"]["arbitrage_owner"].lower()}

        workspace = str(REPO_ROOT / "workspace.yaml")
        daemon = str(Path(sys.executable).with_name("dagster-daemon"))
        children.append(start("daemon", [daemon, "run", "-w", workspace], logs / "daemon.log",
                              cwd=settings.dagster_home, env=env))  # fmt: skip
        api = start("api", [sys.executable, "-m", "orchestration.cli", "serve"], logs / "api.log", port=api_port,
                    cwd=REPO, env=env)  # fmt: skip
        children.append(api)
        wait_http(api, "/api/health/live", 120)
        token = TokenStore(Warehouse(settings.resolved_warehouse_url)).create("freshness", "read").token

        listener = Listener(f"ws://127.0.0.1:{api_port}/api/v1/stream", token)
        listener.start()
        head = int(rpc(url, "eth_blockNumber", []), 16)
        first = head + args.warmup_blocks
        chain = Chain(url, bots)
        chain.start(head)
        console.print(f"measuring blocks after {first} (head {head}); home {home}")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            got = latencies(chain, listener, first)
            mev_done = sum(1 for n in got["mev"] if n in chain.has_mev)
            console.print(f"[dim]head {chain.head}: {len(got['blocks'])} blocks, {mev_done} MEV blocks, "
                          f"{len(got['risk'])} newcomers scored", highlight=False)
            if mev_done >= args.mev_blocks:
                break
            for child in children:
                if child.process.poll() is not None:
                    raise SystemExit(f"{child.name} exited with {child.process.returncode}; see {child.log_path}")
            time.sleep(10)
        last_block = chain.head  # blocks mined later are not counted
        time.sleep(60)  # what is in flight arrives
        got = latencies(chain, listener, first)
        records = instance.get_run_records()
        failed_runs = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.FAILURE]
        # Per job: runs, median wait from the request to the run's first step (queue, process start,
        # code load) and median run time after that.
        by_job: dict[str, list[tuple[float, float]]] = {}
        for record in records:
            if record.start_time and record.end_time:
                by_job.setdefault(record.dagster_run.job_name, []).append(
                    (record.start_time - record.create_timestamp.timestamp(), record.end_time - record.start_time))
    finally:
        for part in (listener, chain):
            if part is not None:
                part.stop()
        for child in reversed(children):
            stop(child, signal.SIGINT, timeout=30)  # what Ctrl-C does: the CLIs and the daemon stop cleanly

    measured = [n for n in range(first + 1, last_block + 1) if n in chain.seen]
    expected = {"blocks": measured, "mev": [n for n in measured if n in chain.has_mev],
                "risk": sorted(n for n in chain.newcomer_of.values() if first < n <= last_block)}
    table = Table(title=f"block seen at the node -> first event on the stream, blocks {first + 1}-{last_block}")
    for column in ("topic", "blocks", "missed", "p50 s", "p95 s", "max s"):
        table.add_column(column, justify="right" if column != "topic" else "left")
    summary: dict[str, object] = {"bench": "freshness", "blocks": len(expected["blocks"]),
                                  "block_seconds": args.block_seconds}  # fmt: skip
    p95 = {}
    for topic in TOPICS:
        values = [got[topic][n] for n in expected[topic] if n in got[topic]]
        missed = len(expected[topic]) - len(values)
        p50, p95[topic] = percentile(values, 0.5), percentile(values, 0.95)
        table.add_row(topic, str(len(values)), str(missed), f"{p50:.1f}", f"{p95[topic]:.1f}",
                      f"{max(values) if values else float('nan'):.1f}")
        summary |= {f"{topic}_p50_s": _rounded(p50), f"{topic}_p95_s": _rounded(p95[topic]), f"{topic}_missed": missed}
    console.print(table)
    runs = Table(title="Dagster runs while measuring (and the first runs)")
    for column in ("job", "runs", "wait p50 s", "run p50 s"):
        runs.add_column(column, justify="right" if column != "job" else "left")
    for job, times in sorted(by_job.items()):
        runs.add_row(job, str(len(times)), f"{percentile([w for w, _ in times], 0.5):.1f}",
                     f"{percentile([r for _, r in times], 0.5):.1f}")
    console.print(runs)
    console.print(f"failed runs: {len(failed_runs)}")
    for topic in ("mev", "risk"):
        verdict = "met" if p95[topic] <= GOAL_P95_SECONDS else "NOT met"
        console.print(f"goal {topic} p95 <= {GOAL_P95_SECONDS:.0f} s: {p95[topic]:.1f} s, {verdict}")
    console.print(f"ratio mev p95 / blocks p95 (detection over indexing, same runs): {p95['mev'] / p95['blocks']:.2f}")
    if listener.closed:
        console.print(f"[yellow]the stream client reconnected at least once (last: {listener.closed})")
    if args.keep:
        console.print(f"home kept: {home}")
    else:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    summary["goal_met"] = all(p95[t] <= GOAL_P95_SECONDS for t in ("mev", "risk"))
    summary["failed_runs"] = len(failed_runs)
    summary["ratio"] = _rounded(p95["mev"] / p95["blocks"], 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
