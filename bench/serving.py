"""Benchmark: the API's cached, authenticated, rate-limited read against a bare FastAPI endpoint.

Seeds a temporary SQLite warehouse with synthetic bars (3 symbols x 2 intervals x 60 days), creates
a read token in it, then starts two servers in subprocesses (this script re-invoked with `--serve`),
each uvicorn on 127.0.0.1 with `--log-level warning --no-access-log` and `--workers` worker
processes (1 by default, the same number for both, so the ratio stays fair):

- ours: `serving.app.create_app(settings)` (bearer auth, per-client rate limit with a budget so
  large it never refuses, response cache on CACHE_URL, circuit breaker);
- bare: a FastAPI app with one `GET /hello` returning {"hello": "world"};
- with `--slow-path`, also slow: the same API with its fast path (`serving.fastpath`, which answers
  repeated cached reads without FastAPI's routing) switched off, measured in the same turns: the
  before and after of the fast path in one run.

Load generator (`--load`): `wrk` (C, epoll) when it is on PATH, one thread (so it takes at most
about one core) and 8 keep-alive connections by default, with a small Lua script that counts the
answers by status and `X-Cache` header; otherwise (or with `--load httpx`) asyncio +
httpx.AsyncClient in this process, which spends more CPU per request than the bare server and so
caps the baseline and inflates latencies on a small machine.

1. throughput: `GET /api/v1/data/ohlcv/BTC-USD?interval=1h&limit=50` with the bearer header, warmed so
   every measured request is a cache hit (with several workers, each has its own memory cache:
   the warm-up opens fresh connections several times so every worker gets its copy), against
   `GET /hello`, in alternating turns (ours, bare, bare, ours) so both meet the same background
   load; the ratio is ours / bare. wrk runs each turn for `--seconds / --rounds` seconds; httpx
   sends `--requests` requests per side, capped at that time. The CPU time each server (all its
   processes, from /proc) spent per request is shown too: unlike requests/s, it does not depend on
   how much of the shared cores the load generator took;
2. latency: p50 and p99 of that cache-hit read at the same concurrency (measured in phase 1). wrk
   reports percentiles per turn, not the raw latencies: across turns, p99 is the worst turn's
   (conservative) and p50 the request-weighted mean of the turns';
3. Zipf replay: a fixed-seed Zipf(s=1.1) draw over 1,000 distinct page requests (symbol x interval
   x offset x limit), replayed twice on a cache that held none of them; the hit rate is counted
   from the `X-Cache` header of the answers (with wrk, by a generated Lua script that sends the
   drawn requests in order). Cold: the first pass, over an empty cache; every first request of a
   key misses, so it cannot beat 1 - keys drawn/requests. Steady state: a second pass of fresh
   draws from the same distribution, on the cache the first pass warmed (the figure the JSON
   calls `zipf_hit_rate`; the cold one is `zipf_hit_rate_cold`).

Prints a table and, as the very last line, one JSON object with the figures.

Usage: python bench/serving.py [--load wrk|httpx] [--workers N] [--seconds S] [--requests N]
                               [--concurrency C] [--zipf-seconds S] [--slow-path]
                               [--cache-url mem://|redis://127.0.0.1:6379/14] [--profile FILE]

`--profile FILE` runs the ours server (one worker) under cProfile, switched on only during its
measured cache-hit turns, and prints where that time went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.harness import Server, free_port, start, stop, wait_http

SYMBOLS = ("BTC-USD", "ETH-USD", "SOL-USD")
INTERVALS = ("1h", "1d")
DAYS = 60
#: Bars end here (a fixed past day, so every run seeds the same rows and none is in the future).
SEED_END = datetime(2024, 6, 1, tzinfo=UTC)
SEED = 42

HOT_PATH = "/api/v1/data/ohlcv/BTC-USD"
HOT_PARAMS = {"interval": "1h", "limit": "50"}
BARE_PATH = "/hello"
#: What the wrk Zipf script sends once every drawn request is out (answers without X-Cache, not counted).
FILLER_PATH = "/api/health/live"

#: The measured time (or requests) of each side is split into this many turns, alternating ours and bare.
ROUNDS = 4
#: Measured seconds per side (wrk: split into ROUNDS turns of 5 s; httpx: a time cap).
SECONDS = 20.0

LOAD_GENERATORS = ("wrk", "httpx")
#: wrk warm-up: this many runs of WRK_WARMUP_SECONDS per server, each on fresh connections, so that
#: with several workers every one of them gets connections (and its own copy of the hot entry).
WRK_WARMUP_RUNS = 3
WRK_WARMUP_SECONDS = 1
#: How long past its duration a wrk run may take before it is killed.
WRK_GRACE_S = 15.0

#: Limit so high the limiter counts every request but never refuses one. Per second, not per minute:
#: the moving window keeps one timestamp per request inside the window, so a minute-long window at
#: these rates would hold ~400,000 entries for the one client, a list no real budget grows (the
#: default, 100/minute, holds at most 100); one second keeps it to the last second's requests.
RATE_LIMIT = "1000000/second"

ZIPF_S = 1.1
ZIPF_DISTINCT = 1000
ZIPF_REQUESTS = 5000
ZIPF_SEED = 20240601
#: Time cap of each Zipf replay: misses read SQLite, so a replay is slower than the hot read.
ZIPF_SECONDS = 30.0
#: Time cap of each warm-up.
WARMUP_SECONDS = 10.0
#: Page sizes of the Zipf requests (50 is left out: that key is the one phase 1 warmed).
ZIPF_LIMITS = (10, 20, 40, 100, 200)
#: Offset step per interval, so most pages of a 60-day series are inside it.
ZIPF_OFFSET_STEP = {"1h": 40, "1d": 1}

GOAL_RATIO = 0.4
GOAL_P99_MS = 10.0
GOAL_HIT_RATE = 0.95

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

#: The servers `--serve` starts: the API, the API with its fast path off, the bare baseline.
SERVER_KINDS = ("ours", "slow", "bare")

#: The `--serve` process passes the server's settings to the app factories below in this variable
#: (uvicorn needs an import string, not an app object, to start several workers).
SERVE_ENV = "SEXTANT_BENCH_SERVE"


# -- servers (subprocess side) --------------------------------------------------------------------
def _serve_config() -> dict:
    return json.loads(os.environ[SERVE_ENV])


def ours_app():
    """The API as the bench configures it (uvicorn factory `bench.serving:ours_app`).

    A factory, as `uvicorn serving.app:create_app --factory` runs it: the app is built after
    uvicorn configured its logging, so the app's logging setup is the one that stays.
    """
    from resources.settings import Settings
    from serving.app import create_app

    config = _serve_config()
    warehouse_path = Path(config["warehouse"])
    settings = Settings(
        _env_file=None,
        SEXTANT_HOME=warehouse_path.parent / "home",
        WAREHOUSE_URL=f"sqlite:///{warehouse_path}",
        CACHE_URL=config["cache_url"],
        RATE_LIMIT_DEFAULT=config["rate_limit"],
        SERVING_DOMAINS="data",
        SERVICE_NAME=config["namespace"],
    )
    return create_app(settings)


def slow_app():
    """The API with its fast path switched off (uvicorn factory `bench.serving:slow_app`): every read
    goes through FastAPI's routing and dependencies, as before `serving.fastpath` existed."""
    app = ours_app()
    app.state.fast_path.enabled = False
    return app


def bare_app():
    """The baseline: a FastAPI app with one JSON endpoint (uvicorn factory `bench.serving:bare_app`)."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(BARE_PATH)
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


def serve(
    kind: str,
    port: int,
    workers: int,
    warehouse_path: str | None,
    cache_url: str,
    namespace: str,
    rate_limit: str,
    profile: str | None,
) -> int:
    """Run one server until SIGTERM (the `--serve` mode of this script).

    With `profile`, the (single) worker runs under cProfile, switched on by SIGUSR1 and off by
    SIGUSR2, so the stats cover only the requests the parent chose; written on exit.
    """
    import uvicorn

    if kind in ("ours", "slow") and not warehouse_path:
        raise SystemExit(f"--serve {kind} needs --warehouse")
    if kind not in SERVER_KINDS:
        raise SystemExit(f"unknown server kind {kind!r}")
    if profile and workers != 1:
        raise SystemExit("--profile needs one worker")
    os.environ[SERVE_ENV] = json.dumps(
        {
            "warehouse": warehouse_path,
            "cache_url": cache_url,
            "namespace": namespace,
            "rate_limit": rate_limit,
        }
    )
    config = {
        "host": "127.0.0.1",
        "port": port,
        "workers": workers,
        "log_level": "warning",
        "access_log": False,
        "factory": True,
    }
    target = f"bench.serving:{kind}_app"

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it
    # found: make that handler exit normally, so the profile below is written.
    def exit_normally(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_normally)
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        signal.signal(signal.SIGUSR1, lambda signum, frame: profiler.enable())
        signal.signal(signal.SIGUSR2, lambda signum, frame: profiler.disable())
        try:
            uvicorn.run(target, **config)
        finally:
            profiler.disable()
            profiler.dump_stats(profile)
    else:
        uvicorn.run(target, **config)
    return 0


# -- servers (parent side) ------------------------------------------------------------------------
def quiet_missing_sniffio() -> None:
    """Make the load generator's `import sniffio` fail fast when sniffio is not installed.

    httpcore (under httpx.AsyncClient) runs `import sniffio` several times per request; anyio 4.16
    no longer pulls sniffio in, and a failed import searches every sys.path entry again each time
    (about 1 ms of client CPU per request on this class of machine, more than the bare server
    spends answering). A None in sys.modules fails the same way (ImportError, so httpcore assumes
    asyncio, as it does now) without the search. Nothing changes when sniffio is installed.
    """
    try:
        import sniffio  # noqa: F401
    except ImportError:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is [0], ppid [1]); None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and all its descendants (Linux /proc); None elsewhere.

    uvicorn with several workers is a supervisor and one child process per worker.
    """
    children: dict[int, list[int]] = {}
    try:
        entries = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for child in entries:
        fields = _proc_stat(child)
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(child)
    total, todo, found = 0.0, [pid], False
    while todo:
        current = todo.pop()
        fields = _proc_stat(current)
        if fields is None:
            continue
        try:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (ValueError, IndexError):
            return None
        found = True
        todo.extend(children.get(current, []))
    return total if found else None


def children_cpu_seconds() -> float:
    """CPU seconds of this process's finished (waited-for) children, e.g. every wrk run so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def start_server(kind: str, workdir: Path, extra: Sequence[str]) -> Server:
    """This script in `--serve kind` mode on a free port."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", kind, "--port", str(port), *extra]
    return start(kind, command, workdir / f"{kind}.log", port=port, cwd=REPO_ROOT)


def readiness_checks(server: Server) -> dict[str, str]:
    """The `checks` of the readiness probe (tells whether the cache answered from its configured store)."""
    import httpx

    try:
        return httpx.get(f"{server.base_url}/api/health/ready", timeout=10.0).json().get("checks", {})
    except (httpx.HTTPError, ValueError):
        return {}


def set_profiling(server: Server, on: bool) -> None:
    """Switch the server's cProfile on (SIGUSR1) or off (SIGUSR2); see `serve`."""
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGUSR1 if on else signal.SIGUSR2)


# -- data and token -------------------------------------------------------------------------------
def seed_warehouse(path: Path) -> tuple[str, int]:
    """Seed bars into the SQLite file at `path`; return (a read token, rows written)."""
    from ops.market.cleaning import clean_ohlcv
    from ops.market.synthetic import generate_ohlcv
    from resources.tables import OHLCV
    from resources.tokens import TokenStore
    from resources.warehouse import Warehouse

    warehouse = Warehouse(f"sqlite:///{path}")
    try:
        rows = 0
        for interval in INTERVALS:
            raw = generate_ohlcv(SYMBOLS, interval, SEED_END - timedelta(days=DAYS), SEED_END, seed=SEED)
            clean, rejects = clean_ohlcv(raw, now=SEED_END)
            if rejects.height:
                raise RuntimeError(f"{rejects.height} synthetic {interval} bars rejected by the cleaner")
            rows += warehouse.upsert(OHLCV, clean)
        token = TokenStore(warehouse).create("bench", "read").token
    finally:
        warehouse.dispose()
    return token, rows


def zipf_requests(n_distinct: int, n_requests: int, s: float, seed: int, passes: int = 2):
    """(the distinct requests as (path, params), `passes` draw sequences of `n_requests` indices).

    Requests are the (symbol, interval, limit, offset) pages in a fixed-seed shuffled order, so the
    popular ranks are spread over every series; rank k is drawn with probability ~ k^-s.
    """
    import numpy as np

    pages = []
    per_series = -(-n_distinct // (len(SYMBOLS) * len(INTERVALS)))
    for symbol in SYMBOLS:
        for interval in INTERVALS:
            step = ZIPF_OFFSET_STEP[interval]
            combos = [(limit, k * step) for k in range(per_series) for limit in ZIPF_LIMITS][:per_series]
            for limit, offset in combos:
                params = {"interval": interval, "limit": str(limit), "offset": str(offset)}
                pages.append((f"/api/v1/data/ohlcv/{symbol}", params))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(pages))[:n_distinct]
    distinct = [pages[i] for i in order]
    ranks = np.arange(1, n_distinct + 1, dtype=float)
    p = ranks**-s
    p /= p.sum()
    draws = [rng.choice(n_distinct, size=n_requests, p=p).tolist() for _ in range(passes)]
    return distinct, draws


# -- results --------------------------------------------------------------------------------------
@dataclass
class PhaseResult:
    name: str
    completed: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, one per completed request (httpx)
    #: wrk: (requests, {percentile: ms}) of each turn (wrk reports percentiles, not raw latencies).
    turn_percentiles: list[tuple[int, dict[float, float]]] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    x_cache: Counter = field(default_factory=Counter)
    rate_limit_header: str | None = None
    capped_by_time: bool = False
    server_cpu: float | None = None  # CPU seconds the server processes spent during the phase
    client_cpu: float | None = None  # CPU seconds the load generator spent during the phase

    @property
    def server_cpu_us(self) -> float:
        """Server CPU microseconds per request (nan when unknown)."""
        if self.server_cpu is None or not self.completed:
            return float("nan")
        return self.server_cpu / self.completed * 1e6

    @property
    def client_cpu_us(self) -> float:
        if self.client_cpu is None or not self.completed:
            return float("nan")
        return self.client_cpu / self.completed * 1e6

    @property
    def rps(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The q-th latency percentile in ms.

        From the raw latencies when there are (httpx); from wrk's per-turn percentiles otherwise:
        a tail percentile (q >= 90) is the worst turn's, which never flatters a goal, and a lower
        one the request-weighted mean of the turns'.
        """
        import numpy as np

        if self.latencies:
            return float(np.percentile(np.asarray(self.latencies), q) * 1000)
        turns = [(n, pct[q]) for n, pct in self.turn_percentiles if q in pct and n > 0]
        if not turns:
            return float("nan")
        if q >= 90:
            return max(value for _, value in turns)
        return sum(n * value for n, value in turns) / sum(n for n, _ in turns)

    def turn_range_ms(self, q: float) -> str:
        """The q-th percentile of each wrk turn, as "min-max" ms ("" for httpx or one turn)."""
        values = [pct[q] for _, pct in self.turn_percentiles if q in pct]
        if len(values) < 2:
            return ""
        return f"{min(values):.2f}-{max(values):.2f}"

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def merge(parts: Sequence[PhaseResult]) -> PhaseResult:
    """One result from the turns of one side: counts, times and CPU add up, latencies pool."""
    out = PhaseResult(parts[0].name)
    for part in parts:
        out.completed += part.completed
        out.elapsed += part.elapsed
        out.latencies.extend(part.latencies)
        out.turn_percentiles.extend(part.turn_percentiles)
        out.statuses.update(part.statuses)
        out.x_cache.update(part.x_cache)
        out.rate_limit_header = out.rate_limit_header or part.rate_limit_header
        out.capped_by_time = out.capped_by_time or part.capped_by_time
        for attr in ("server_cpu", "client_cpu"):
            a, b = getattr(out, attr), getattr(part, attr)
            setattr(out, attr, None if b is None else (b if a is None else a + b))
    for attr in ("server_cpu", "client_cpu"):
        if any(getattr(part, attr) is None for part in parts):
            setattr(out, attr, None)
    return out


@dataclass
class Figures:
    ours: PhaseResult
    bare: PhaseResult
    zipf_cold: PhaseResult
    zipf_warm: PhaseResult
    zipf_cold_distinct: int
    zipf_warm_new: int
    #: The API with its fast path off (`--slow-path`), measured in the same turns as ours and bare.
    slow: PhaseResult | None = None


# -- load generator: httpx ------------------------------------------------------------------------
async def run_phase(
    client,
    name: str,
    request_for: Callable[[int], tuple[str, dict]],
    n: int,
    seconds: float,
    concurrency: int,
    server_pid: int | None = None,
) -> PhaseResult:
    """`n` requests (`request_for(i)` -> (path, params)) over `concurrency` workers, capped at `seconds`.

    With `server_pid`, the server's CPU time over the phase is recorded too (and this process's).
    """
    import httpx

    result = PhaseResult(name)
    next_index = 0
    server_cpu0 = process_tree_cpu_seconds(server_pid) if server_pid else None
    client_cpu0 = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal next_index
        while True:
            if next_index >= n:
                return
            if clock() >= deadline:
                result.capped_by_time = True
                return
            i = next_index
            next_index += 1
            path, params = request_for(i)
            t0 = clock()
            try:
                response = await client.get(path, params=params)
            except httpx.HTTPError as exc:  # counted, and it makes the figures invalid (check_valid)
                result.statuses[exc.__class__.__name__] += 1
                continue
            result.latencies.append(clock() - t0)
            result.statuses[response.status_code] += 1
            result.x_cache[response.headers.get("x-cache", "-")] += 1
            if result.rate_limit_header is None and "x-ratelimit-limit" in response.headers:
                result.rate_limit_header = response.headers["x-ratelimit-limit"]

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - start
    result.client_cpu = time.process_time() - client_cpu0
    server_cpu1 = process_tree_cpu_seconds(server_pid) if server_pid else None
    if server_cpu0 is not None and server_cpu1 is not None:
        result.server_cpu = server_cpu1 - server_cpu0
    result.completed = len(result.latencies)
    return result


def turn_order(names: Sequence[str], turn: int) -> Sequence[str]:
    """The sides of one turn: in order on even turns, reversed on odd ones (ours, bare, bare, ours, ...)."""
    return names if turn % 2 == 0 else tuple(reversed(names))


async def load_httpx(args, ours: Server, bare: Server, token: str, slow: Server | None = None) -> Figures:
    from contextlib import AsyncExitStack

    import httpx

    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    timeout = httpx.Timeout(10.0)
    auth = {"Authorization": f"Bearer {token}"}
    hot = lambda i: (HOT_PATH, HOT_PARAMS)
    hello = lambda i: (BARE_PATH, {})
    warmup = max(1, min(args.requests // 5, 500))
    warmup_seconds = min(args.seconds, WARMUP_SECONDS)
    servers = {"ours": (ours, hot), "bare": (bare, hello)}
    if slow is not None:
        servers["slow"] = (slow, hot)
    async with AsyncExitStack() as stack:
        sides = {}
        for name, (server, request_for) in servers.items():
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.base_url, headers=auth, limits=limits, timeout=timeout)
            )
            sides[name] = (client, request_for, server.process.pid)
        ours_client = sides["ours"][0]
        # Warm-up: opens the keep-alive connections, fills the cache entry, memoizes the token.
        for name, (client, request_for, _pid) in sides.items():
            await run_phase(client, f"warm-up {name}", request_for, warmup, warmup_seconds, args.concurrency)
        # Measured in turns (ours, bare, bare, ours, ...), so every side sees the same background load.
        parts: dict[str, list[PhaseResult]] = {name: [] for name in sides}
        for turn in range(args.rounds):
            n = args.requests // args.rounds + (turn < args.requests % args.rounds)
            for name in turn_order(tuple(sides), turn):
                client, request_for, pid = sides[name]
                if args.profile and name == "ours":
                    set_profiling(ours, True)
                try:
                    parts[name].append(
                        await run_phase(
                            client, name, request_for, n, args.seconds / args.rounds, args.concurrency, pid
                        )
                    )
                finally:
                    if args.profile and name == "ours":
                        set_profiling(ours, False)
        ours_result, bare_result = merge(parts["ours"]), merge(parts["bare"])
        slow_result = merge(parts["slow"]) if "slow" in parts else None

        distinct, (cold_draws, warm_draws) = zipf_requests(
            args.zipf_distinct, args.zipf_requests, ZIPF_S, ZIPF_SEED
        )
        cold = await run_phase(
            ours_client,
            "zipf cold",
            lambda i: distinct[cold_draws[i]],
            len(cold_draws),
            args.zipf_seconds,
            args.concurrency,
            ours.process.pid,
        )
        warm = await run_phase(
            ours_client,
            "zipf steady",
            lambda i: distinct[warm_draws[i]],
            len(warm_draws),
            args.zipf_seconds,
            args.concurrency,
            ours.process.pid,
        )
    # Only the requests actually sent count (a time cap may stop a replay early).
    cold_seen = set(cold_draws[: cold.completed])
    warm_new = len(set(warm_draws[: warm.completed]) - cold_seen)
    return Figures(ours_result, bare_result, cold, warm, len(cold_seen), warm_new, slow_result)


# -- load generator: wrk --------------------------------------------------------------------------
#: Per-thread counters of the answers, and the one line `done()` prints for `parse_wrk`. setup()
#: and done() run in an environment of their own: they reach each thread's globals through
#: thread:get(), so the counters must be globals.
WRK_COUNT_LUA = r"""
threads = {}
statuses = {}
x_cache = {}
rate_limit = nil

function setup(thread)
  table.insert(threads, thread)
end

function count(status, headers)
  statuses[status] = (statuses[status] or 0) + 1
  local x = headers["x-cache"] or headers["X-Cache"] or "-"
  x_cache[x] = (x_cache[x] or 0) + 1
  if rate_limit == nil then
    rate_limit = headers["x-ratelimit-limit"] or headers["X-RateLimit-Limit"]
  end
end

function done(summary, latency, requests)
  local out = {"sextant-wrk", "requests=" .. summary.requests, "duration_us=" .. summary.duration}
  for _, kind in ipairs({"connect", "read", "write", "status", "timeout"}) do
    table.insert(out, "errors_" .. kind .. "=" .. summary.errors[kind])
  end
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses") or {}) do
      table.insert(out, "status:" .. status .. "=" .. n)
    end
    for value, n in pairs(thread:get("x_cache") or {}) do
      table.insert(out, "x-cache:" .. string.gsub(value, "[%s=]", "_") .. "=" .. n)
    end
    local limit = thread:get("rate_limit")
    if limit then
      table.insert(out, "rate-limit=" .. string.gsub(limit, "[%s=]", "_"))
    end
  end
  io.write(table.concat(out, " ") .. "\n")
end
"""

#: Throughput turns: count every answer.
WRK_THROUGHPUT_LUA = (
    WRK_COUNT_LUA
    + r"""
function response(status, headers, body)
  count(status, headers)
end
"""
)

#: Zipf replay: send the drawn requests in order (pre-formatted in init), count the answers of the
#: data requests (they carry X-Cache; the filler sent once every draw is out does not), and when
#: all are in, stop the thread and touch the marker file (the bench then ends wrk with SIGINT).
WRK_REPLAY_LUA = (
    WRK_COUNT_LUA
    + r"""
answered = 0
sent = 0

function init(args)
  prepared = {}
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format(nil, path)
  end
  filler = wrk.format(nil, filler_path)
end

-- wrk calls request() once before the run, to count pipelined requests, and does not send that
-- one: the first call returns the filler, so every draw goes out whichever way that works.
function request()
  sent = sent + 1
  if sent > 1 and sent <= #draws + 1 then
    return prepared[draws[sent - 1]]
  end
  return filler
end

function response(status, headers, body)
  if answered >= #draws then
    return
  end
  if status == 200 and headers["x-cache"] == nil and headers["X-Cache"] == nil then
    return
  end
  answered = answered + 1
  count(status, headers)
  if answered == #draws then
    local f = io.open(marker, "w")
    if f then
      f:write("done\n")
      f:close()
    end
    wrk.thread:stop()
  end
end
"""
)

_WRK_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_WRK_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\d+(?:\.\d+)?)(us|ms|s|m|h)\s*$", re.MULTILINE)
_WRK_RPS = re.compile(r"^Requests/sec:\s+(\d+(?:\.\d+)?)", re.MULTILINE)


def lua_string(text: str) -> str:
    """A Lua string literal (JSON's escapes are valid Lua for the ASCII text used here)."""
    return json.dumps(text, ensure_ascii=True)


@dataclass
class WrkRun:
    requests: int = 0
    seconds: float = 0.0
    rps: float = float("nan")  # its "Requests/sec" line
    percentiles_ms: dict[float, float] = field(default_factory=dict)  # its "Latency Distribution"
    statuses: Counter = field(default_factory=Counter)
    x_cache: Counter = field(default_factory=Counter)
    rate_limit: str | None = None


def parse_wrk(stdout: str) -> WrkRun:
    """The figures of one wrk run: its text report (Requests/sec, the `--latency` distribution,
    converted to ms from us/ms/s/m/h) and the `sextant-wrk` line printed by the Lua `done()`."""
    run = WrkRun()
    if match := _WRK_RPS.search(stdout):
        run.rps = float(match.group(1))
    for match in _WRK_PERCENTILE.finditer(stdout):
        run.percentiles_ms[float(match.group(1))] = float(match.group(2)) * _WRK_UNIT_MS[match.group(3)]
    for line in stdout.splitlines():
        if not line.startswith("sextant-wrk "):
            continue
        for item in line.split()[1:]:
            key, _, value = item.rpartition("=")
            if key == "requests":
                run.requests = int(float(value))
            elif key == "duration_us":
                run.seconds = float(value) / 1e6
            elif key.startswith("errors_") and int(float(value)):
                if key != "errors_status":  # status >= 400: already in the status counts
                    run.statuses[f"socket {key[7:]} error"] += int(float(value))
            elif key.startswith("status:"):
                run.statuses[int(key[7:])] += int(float(value))
            elif key.startswith("x-cache:"):
                run.x_cache[key[8:]] += int(float(value))
            elif key == "rate-limit" and run.rate_limit is None:
                run.rate_limit = value
    return run


def run_wrk(
    wrk: str,
    name: str,
    url: str,
    token: str,
    seconds: float,
    connections: int,
    script: Path,
    server_pid: int | None = None,
    marker: Path | None = None,
) -> PhaseResult:
    """One `wrk -t1 -c<connections> -d<seconds>s --latency` run with the bearer header and `script`
    (and a 5 s request timeout: a slower answer counts as a socket error, which voids the figures).

    With `marker`, the run ends as soon as that file appears (the replay script writes it when the
    last drawn request is answered). Bounded: killed WRK_GRACE_S after its duration.
    """
    duration = max(1, math.ceil(seconds))
    command = [
        wrk, "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
        "-H", f"Authorization: Bearer {token}", "-s", str(script), url,
    ]  # fmt: skip
    server_cpu0 = process_tree_cpu_seconds(server_pid) if server_pid else None
    client_cpu0 = children_cpu_seconds()
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + duration + WRK_GRACE_S
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if marker is not None and marker.exists():
                process.send_signal(signal.SIGINT)  # wrk stops its clock, reports and calls done()
                break
            time.sleep(0.02)
        stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise RuntimeError(f"wrk ({name}) did not finish in {duration + WRK_GRACE_S:.0f} s") from None
    client_cpu = children_cpu_seconds() - client_cpu0
    server_cpu1 = process_tree_cpu_seconds(server_pid) if server_pid else None
    if process.returncode != 0 or "sextant-wrk" not in stdout:
        raise RuntimeError(f"wrk ({name}) failed with {process.returncode}:\n{stdout}\n{stderr}")
    run = parse_wrk(stdout)
    result = PhaseResult(
        name,
        completed=run.requests,
        elapsed=run.seconds,
        turn_percentiles=[(run.requests, run.percentiles_ms)],
        statuses=run.statuses,
        x_cache=run.x_cache,
        rate_limit_header=run.rate_limit,
        client_cpu=client_cpu,
    )
    if server_cpu0 is not None and server_cpu1 is not None:
        result.server_cpu = server_cpu1 - server_cpu0
    return result


def write_replay_script(path: Path, marker: Path, distinct, draws: Sequence[int]) -> None:
    """The Lua replay script for one pass: the distinct request paths, the draws (1-based)."""
    paths = [f"{p}?{urlencode(params)}" for p, params in distinct]
    lines = [
        f"marker = {lua_string(str(marker))}",
        f"filler_path = {lua_string(FILLER_PATH)}",
        "paths = {" + ",".join(lua_string(p) for p in paths) + "}",
        "draws = {" + ",".join(str(i + 1) for i in draws) + "}",
        WRK_REPLAY_LUA,
    ]
    path.write_text("\n".join(lines))


def load_wrk(
    args, ours: Server, bare: Server, token: str, wrk: str, workdir: Path, slow: Server | None = None
) -> Figures:
    script = workdir / "count.lua"
    script.write_text(WRK_THROUGHPUT_LUA)
    hot_url = f"{ours.base_url}{HOT_PATH}?{urlencode(HOT_PARAMS)}"
    sides = {
        "ours": (hot_url, ours.process.pid),
        "bare": (f"{bare.base_url}{BARE_PATH}", bare.process.pid),
    }
    if slow is not None:
        sides["slow"] = (f"{slow.base_url}{HOT_PATH}?{urlencode(HOT_PARAMS)}", slow.process.pid)
    # Warm-up: fills the cache entry (of every worker), memoizes the token, warms both servers.
    for _ in range(WRK_WARMUP_RUNS):
        for name, (url, _pid) in sides.items():
            run_wrk(wrk, f"warm-up {name}", url, token, WRK_WARMUP_SECONDS, args.concurrency, script)
    # Measured in turns (ours, bare, bare, ours, ...), so every side sees the same background load.
    turn_seconds = max(1, round(args.seconds / args.rounds))
    parts: dict[str, list[PhaseResult]] = {name: [] for name in sides}
    for turn in range(args.rounds):
        for name in turn_order(tuple(sides), turn):
            url, pid = sides[name]
            if args.profile and name == "ours":
                set_profiling(ours, True)
            try:
                parts[name].append(
                    run_wrk(wrk, name, url, token, turn_seconds, args.concurrency, script, pid)
                )
            finally:
                if args.profile and name == "ours":
                    set_profiling(ours, False)
    ours_result, bare_result = merge(parts["ours"]), merge(parts["bare"])
    slow_result = merge(parts["slow"]) if "slow" in parts else None

    distinct, (cold_draws, warm_draws) = zipf_requests(
        args.zipf_distinct, args.zipf_requests, ZIPF_S, ZIPF_SEED
    )
    replays = []
    for name, draws in (("zipf cold", cold_draws), ("zipf steady", warm_draws)):
        replay_script = workdir / f"{name.replace(' ', '-')}.lua"
        marker = workdir / f"{name.replace(' ', '-')}.done"
        write_replay_script(replay_script, marker, distinct, draws)
        result = run_wrk(
            wrk, name, ours.base_url + FILLER_PATH, token, args.zipf_seconds, args.concurrency,
            replay_script, ours.process.pid, marker,
        )  # fmt: skip
        result.completed = sum(result.statuses.values())  # the drawn requests answered (no filler)
        result.capped_by_time = result.completed < len(draws)
        replays.append(result)
    cold, warm = replays
    # Only the requests actually answered count (a time cap may stop a replay early).
    cold_seen = set(cold_draws[: cold.completed])
    warm_new = len(set(warm_draws[: warm.completed]) - cold_seen)
    return Figures(ours_result, bare_result, cold, warm, len(cold_seen), warm_new, slow_result)


# -- report ---------------------------------------------------------------------------------------
def hit_rate(result: PhaseResult) -> float:
    answered = sum(result.x_cache[k] for k in ("hit", "miss", "stale"))
    return result.x_cache["hit"] / answered if answered else float("nan")


#: Where a profiled function lives, by the path of its file (first match wins).
PROFILE_AREAS = (
    ("fastapi", "/fastapi/"),
    ("starlette", "/starlette/"),
    ("uvicorn", "/uvicorn/"),
    ("pydantic", "/pydantic"),
    ("cashews", "/cashews/"),
    ("limits", "/limits/"),
    ("anyio", "/anyio/"),
    ("asyncio", "/asyncio/"),
    ("prometheus_client", "/prometheus_client/"),
    ("sqlalchemy", "/sqlalchemy/"),
)


def profile_area(filename: str) -> str:
    if filename.startswith(("~", "<")):
        return "builtins (C)"
    if filename.startswith(str(REPO_ROOT)) and "site-packages" not in filename:
        return "ours (" + Path(filename).relative_to(REPO_ROOT).parts[0] + ")"
    for area, marker in PROFILE_AREAS:
        if marker in filename:
            return area
    if "site-packages" not in filename and f"/python{sys.version_info[0]}.{sys.version_info[1]}/" in filename:
        return "stdlib (other)"
    return "other"


def print_profile(path: Path, console, top: int = 10) -> None:
    """Where the profiled (cache-hit) time went: own time by area, then the top `top` functions by
    cumulative time inside our code and inside FastAPI/Starlette, and overall by own time."""
    import io
    import pstats

    stats = pstats.Stats(str(path))
    entries = stats.stats  # (file, line, function) -> (primitive calls, calls, own s, cumulative s, callers)
    own_by_area: Counter = Counter()
    for (filename, _line, _function), (_cc, _nc, own, _cum, _callers) in entries.items():
        own_by_area[profile_area(filename)] += own
    total = sum(own_by_area.values()) or float("nan")
    console.print(
        f"[bold]server profile (cache-hit turns only): own time by area, {total:.2f} s in all[/bold]"
    )
    for area, own in own_by_area.most_common():
        console.print(f"  {area:<22} {own:7.3f} s  {own / total:6.1%}", highlight=False)

    def show(title: str, keep: Callable[[str], bool]) -> None:
        rows = sorted(
            ((cum, nc, own, key) for key, (_cc, nc, own, cum, _callers) in entries.items() if keep(key[0])),
            reverse=True,
        )[:top]
        console.print(f"[bold]{title}[/bold]")
        console.print(f"  {'cumulative s':>12} {'own s':>8} {'calls (1)':>9}  function", highlight=False)
        for cum, nc, own, (filename, line, function) in rows:
            where = f"{Path(filename).name}:{line}({function})" if line else function
            console.print(f"  {cum:12.3f} {own:8.3f} {nc:9d}  {where}", highlight=False)

    show(f"top {top} by cumulative time, our code", lambda f: profile_area(f).startswith("ours"))
    show(
        f"top {top} by cumulative time, FastAPI/Starlette",
        lambda f: profile_area(f) in ("fastapi", "starlette"),
    )
    console.print("(1) cProfile counts every resumption of a coroutine as a call.", highlight=False)
    out = io.StringIO()
    pstats.Stats(str(path), stream=out).strip_dirs().sort_stats("tottime").print_stats(top * 2)
    console.print(f"[bold]top {top * 2} by own time, everything[/bold]")
    console.print(out.getvalue(), markup=False, highlight=False)


def report(args, figures: Figures, rows_seeded: int, cache_backend: str) -> dict:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ours, bare, cold, warm = figures.ours, figures.bare, figures.zipf_cold, figures.zipf_warm
    ratio = ours.rps / bare.rps if bare.rps else float("nan")
    cpu_ratio = bare.server_cpu_us / ours.server_cpu_us if ours.server_cpu_us > 0 else float("nan")
    p50, p99 = ours.percentile_ms(50), ours.percentile_ms(99)
    cold_rate, warm_rate = hit_rate(cold), hit_rate(warm)
    cold_ceiling = 1 - figures.zipf_cold_distinct / cold.completed if cold.completed else float("nan")
    avoidable = cold.completed - figures.zipf_cold_distinct
    cold_efficiency = cold.x_cache["hit"] / avoidable if avoidable else float("nan")
    warm_ceiling = 1 - figures.zipf_warm_new / warm.completed if warm.completed else float("nan")

    def ok(passed: bool) -> str:
        return "[green]yes[/green]" if passed else "[red]no[/red]"

    cores = os.cpu_count() or 0
    workers = f"{args.workers} uvicorn worker{'s' if args.workers > 1 else ''} each"
    if args.load == "wrk":
        generator = (
            f"Load from wrk (C, one thread, {args.concurrency} keep-alive connections, a Lua script counting "
            f"answers by status and X-Cache), on the same {cores} cores as the servers. wrk reports percentiles "
            "per turn: p99 is the worst turn's, p50 the request-weighted mean of the turns'."
        )
    else:
        generator = (
            f"Load from httpx (asyncio) in the bench process, on the same {cores} cores as the servers: "
            "requests/s and latencies include its CPU time."
        )
    caches = (
        " Every worker has its own memory cache, so each key misses once per worker."
        if args.workers > 1 and cache_backend.startswith("memory")
        else ""
    )
    table = Table(
        title=f"serving: cached authenticated rate-limited read vs bare FastAPI, {args.concurrency} connections, "
        f"{workers}, cache {cache_backend}, {rows_seeded:,} bars",
        caption=f"{generator} The ratio against the bare endpoint in the same run is the figure that counts. "
        f"Zipf: cold = the first pass over an empty cache, where the first request of each key drawn must "
        f"miss; steady state = a second pass of fresh draws after the first warmed the cache (zipf_hit_rate "
        f"in the JSON; the cold one is zipf_hit_rate_cold).{caches}",
    )
    for column in ("figure", "ours", "bare /hello", "goal", "met"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    table.add_row("requests/s", f"{ours.rps:,.0f}", f"{bare.rps:,.0f}", "", "")
    table.add_row("ratio ours / bare", f"{ratio:.3f}", "", f">= {GOAL_RATIO}", ok(ratio >= GOAL_RATIO))
    table.add_row(
        "server CPU per request, us", f"{ours.server_cpu_us:,.0f}", f"{bare.server_cpu_us:,.0f}", "", ""
    )
    table.add_row(
        "server-only ratio (1)", f"{cpu_ratio:.3f}", "", f">= {GOAL_RATIO}", ok(cpu_ratio >= GOAL_RATIO)
    )
    table.add_row(
        f"client ({args.load}) CPU per request, us",
        f"{ours.client_cpu_us:,.0f}",
        f"{bare.client_cpu_us:,.0f}",
        "",
        "",
    )
    table.add_row("p50 latency, ms", f"{p50:.2f}", f"{bare.percentile_ms(50):.2f}", "", "")
    table.add_row(
        "p99 latency, ms",
        f"{p99:.2f}",
        f"{bare.percentile_ms(99):.2f}",
        f"< {GOAL_P99_MS:g}",
        ok(p99 < GOAL_P99_MS),
    )
    if ours.turn_percentiles:
        table.add_row("  p99 of each turn, ms", ours.turn_range_ms(99), bare.turn_range_ms(99), "", "")
    table.add_row(
        "requests (seconds)",
        f"{ours.completed:,} ({ours.elapsed:.1f})",
        f"{bare.completed:,} ({bare.elapsed:.1f})",
        "",
        "",
    )
    table.add_row(
        "X-Cache of measured reads",
        _counts(ours.x_cache),
        "",
        "all hit",
        ok(set(ours.x_cache) == {"hit"}),
    )
    table.add_row(
        "X-RateLimit-Limit",
        ours.rate_limit_header or "none",
        "",
        "present",
        ok(ours.rate_limit_header is not None),
    )
    slow = figures.slow
    if slow is not None:
        table.add_section()
        table.add_row("fast path off (3): requests/s", f"{slow.rps:,.0f}", "", "", "")
        table.add_row(
            "  ratio / bare", f"{slow.rps / bare.rps if bare.rps else float('nan'):.3f}", "", "", ""
        )
        table.add_row(
            "  fast path speed-up", f"{ours.rps / slow.rps if slow.rps else float('nan'):.2f}x", "", "", ""
        )
        table.add_row("  server CPU per request, us", f"{slow.server_cpu_us:,.0f}", "", "", "")
        table.add_row(
            "  p50, p99 latency, ms",
            f"{slow.percentile_ms(50):.2f}, {slow.percentile_ms(99):.2f}",
            "",
            "",
            "",
        )
        table.add_row("  X-Cache", _counts(slow.x_cache), "", "", "")
    table.add_section()
    table.add_row("Zipf replay, cold cache: hit rate", f"{cold_rate:.1%}", "", "", "")
    table.add_row("  ceiling (2)", f"{cold_ceiling:.1%}", "", "", "")
    table.add_row("  avoidable misses avoided", f"{cold_efficiency:.1%}", "", "", "")
    table.add_row("  requests, keys drawn", f"{cold.completed:,}, {figures.zipf_cold_distinct:,}", "", "", "")
    table.add_row("  X-Cache", _counts(cold.x_cache), "", "", "")
    table.add_row("  req/s, server CPU us/req", f"{cold.rps:,.0f}, {cold.server_cpu_us:,.0f}", "", "", "")
    table.add_row(
        "Zipf replay, steady state: hit rate",
        f"{warm_rate:.1%}",
        "",
        f">= {GOAL_HIT_RATE:.0%}",
        ok(warm_rate >= GOAL_HIT_RATE),
    )
    table.add_row("  ceiling (2)", f"{warm_ceiling:.1%}", "", "", "")
    table.add_row("  requests, keys new", f"{warm.completed:,}, {figures.zipf_warm_new:,}", "", "", "")
    table.add_row("  X-Cache", _counts(warm.x_cache), "", "", "")
    table.add_row("  req/s, server CPU us/req", f"{warm.rps:,.0f}, {warm.server_cpu_us:,.0f}", "", "", "")
    console.print(table)
    console.print(
        "(1) bare server CPU per request / ours: the throughput ratio if each server had the cores to itself and "
        "the load generator cost nothing.\n"
        f"(2) Zipf(s={ZIPF_S}) over {args.zipf_distinct:,} distinct page requests, fixed seed: the first request "
        "of each key must miss, so the hit rate cannot exceed 1 - keys/requests (keys new to the cache, for the "
        "steady-state pass)."
        + (
            "\n(3) the same API with serving.fastpath switched off, measured in the same turns: every read goes "
            "through FastAPI's routing and dependency solving."
            if slow is not None
            else ""
        ),
        highlight=False,
    )
    capped = [r.name for r in (ours, bare, cold, warm) if r.capped_by_time]
    if capped:
        console.print(
            f"[yellow]stopped by the time cap before the request count: {', '.join(capped)}[/yellow]"
        )
    if args.profile:
        console.print(
            "[yellow]the ours server ran under cProfile in its measured turns: its figures are slower than "
            "normal[/yellow]"
        )
    slow_figures = {}
    if slow is not None:
        slow_figures = {
            "slow_path_rps": round(slow.rps, 1),
            "slow_path_ratio": round(slow.rps / bare.rps, 3) if bare.rps else None,
            "slow_path_p99_ms": round(slow.percentile_ms(99), 3),
            "slow_path_server_cpu_us": round(slow.server_cpu_us, 1),
            "server_cpu_us": round(ours.server_cpu_us, 1),
        }
    return {
        "bench": "serving",
        "metric": "requests per second of a cached authenticated rate-limited read vs a bare FastAPI endpoint "
        "(higher is better)",
        "unit": "ratio",
        "ours": round(ours.rps, 1),
        "baseline": round(bare.rps, 1),
        "baseline_name": "bare FastAPI /hello",
        "ratio": round(ratio, 3),
        "p99_ms_cache_hit": round(p99, 3),
        "p50_ms_cache_hit": round(p50, 3),
        "zipf_hit_rate": round(warm_rate, 4),
        "zipf_hit_rate_cold": round(cold_rate, 4),
        "load_generator": args.load,
        "workers": args.workers,
        **slow_figures,
    }


def _counts(counter: Counter) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(counter.items(), key=lambda kv: str(kv[0])))


def check_valid(figures: Figures) -> list[str]:
    """Reasons the figures are not valid (any non-200 answer, a measured read that was not a hit)."""
    problems = []
    results = [figures.ours, figures.bare, figures.zipf_cold, figures.zipf_warm]
    if figures.slow is not None:
        results.append(figures.slow)
        if set(figures.slow.x_cache) != {"hit"}:
            problems.append(
                f"slow: not every measured read was a cache hit ({_counts(figures.slow.x_cache)})"
            )
    for result in results:
        if result.errors:
            problems.append(f"{result.name}: non-200 answers or socket errors {_counts(result.statuses)}")
        if result.completed == 0:
            problems.append(f"{result.name}: no request completed")
    if set(figures.ours.x_cache) != {"hit"}:
        problems.append(f"ours: not every measured read was a cache hit ({_counts(figures.ours.x_cache)})")
    return problems


def clear_redis_namespace(cache_url: str, namespace: str) -> None:
    """Delete this run's keys (cache entries, stale copies, rate-limit windows) from Redis."""
    import redis

    client = redis.Redis.from_url(cache_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        batch = []
        for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                client.delete(*batch)
                batch.clear()
        if batch:
            client.delete(*batch)
    finally:
        client.close()


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--load",
        choices=LOAD_GENERATORS,
        default="wrk",
        help="load generator: wrk (default; httpx when wrk is not on PATH) or httpx",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn workers of each server, ours and bare (default 1)"
    )
    parser.add_argument(
        "--requests", type=int, default=3000, help="httpx: measured requests per endpoint (default 3000)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=SECONDS,
        help=f"measured seconds per endpoint, split into --rounds turns (wrk: the time, in whole seconds "
        f"per turn; httpx: a cap; default {SECONDS:g})",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=ROUNDS,
        help=f"turns the measured time is split into (default {ROUNDS})",
    )
    parser.add_argument("--zipf-requests", type=int, default=ZIPF_REQUESTS)
    parser.add_argument("--zipf-distinct", type=int, default=ZIPF_DISTINCT)
    parser.add_argument(
        "--zipf-seconds", type=float, default=ZIPF_SECONDS, help="time cap per Zipf replay (default 30)"
    )
    parser.add_argument(
        "--cache-url", default="mem://", help="mem:// (default) or e.g. redis://127.0.0.1:6379/14"
    )
    parser.add_argument("--rate-limit", default=RATE_LIMIT, help=f"budget per client (default {RATE_LIMIT})")
    parser.add_argument(
        "--slow-path",
        action="store_true",
        help="also measure the API with its fast path off, in the same turns (the fast path's before/after)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the ours server under cProfile during its measured turns, write the stats here",
    )
    # The server side (this script re-invoked in a subprocess).
    parser.add_argument("--serve", choices=SERVER_KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="sextant", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve:
        return serve(
            args.serve,
            args.port,
            args.workers,
            args.warehouse,
            args.cache_url,
            args.namespace,
            args.rate_limit,
            str(args.profile) if args.profile else None,
        )

    for name in ("requests", "concurrency", "rounds", "zipf_requests", "zipf_distinct", "workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.rounds = min(args.rounds, args.requests)
    if args.seconds <= 0 or args.zipf_seconds <= 0:
        parser.error("--seconds and --zipf-seconds must be positive")
    if args.profile and args.workers != 1:
        parser.error("--profile needs --workers 1")

    from rich.console import Console

    console = Console()
    wrk = shutil.which("wrk") if args.load == "wrk" else None
    if args.load == "wrk" and wrk is None:
        console.print("[yellow]wrk is not on PATH: the load comes from httpx instead[/yellow]")
        args.load = "httpx"
    workdir = Path(tempfile.mkdtemp(prefix="sextant-bench-serving-"))
    # A namespace of its own: a shared Redis never serves this run entries of another.
    namespace = f"sextant-bench-{secrets.token_hex(4)}"
    quiet_missing_sniffio()
    servers: list[Server] = []
    try:
        warehouse_path = workdir / "warehouse.sqlite"
        token, rows = seed_warehouse(warehouse_path)
        workers = ["--workers", str(args.workers)]
        ours_extra = [
            *workers,
            "--warehouse",
            str(warehouse_path),
            "--cache-url",
            args.cache_url,
            "--namespace",
            namespace,
            "--rate-limit",
            args.rate_limit,
        ]
        if args.profile:
            args.profile.unlink(missing_ok=True)
            ours_extra += ["--profile", str(args.profile.resolve())]
        ours = start_server("ours", workdir, ours_extra)
        servers.append(ours)
        bare = start_server("bare", workdir, workers)
        servers.append(bare)
        slow = None
        if args.slow_path:
            slow_extra = [
                *workers, "--warehouse", str(warehouse_path), "--cache-url", args.cache_url,
                "--namespace", f"{namespace}-slow", "--rate-limit", args.rate_limit,
            ]  # fmt: skip
            slow = start_server("slow", workdir, slow_extra)
            servers.append(slow)
            wait_http(slow, "/api/health/live", READY_TIMEOUT_S)
        wait_http(ours, "/api/health/live", READY_TIMEOUT_S)
        wait_http(bare, BARE_PATH, READY_TIMEOUT_S)
        if wrk is not None:
            figures = load_wrk(args, ours, bare, token, wrk, workdir, slow)
        else:
            figures = asyncio.run(load_httpx(args, ours, bare, token, slow))
        cache_check = readiness_checks(ours).get("cache", "unknown")
    finally:
        for server in servers:
            stop(server, timeout=STOP_TIMEOUT_S)
        if args.cache_url.startswith(("redis://", "rediss://")):
            for name in (namespace, f"{namespace}-slow"):
                try:
                    clear_redis_namespace(args.cache_url, name)
                except Exception as exc:  # noqa: BLE001 - cleanup only
                    console.print(f"[yellow]could not delete the run's Redis keys {name}:*: {exc}[/yellow]")
        shutil.rmtree(workdir, ignore_errors=True)

    backend = "memory" if args.cache_url.startswith(("mem://", "memory://")) else args.cache_url
    line = report(args, figures, rows, f"{backend} (readiness: {cache_check})")
    if args.profile and args.profile.exists():
        print_profile(args.profile, console)
    problems = check_valid(figures)
    if problems:
        for problem in problems:
            console.print(f"[red]{problem}[/red]")
        console.print("[red]the figures are not valid[/red]")
        return 1
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
