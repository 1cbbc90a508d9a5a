"""A seeded story played on the devnet, and the ground truth it writes for tests and detectors.

Detectors need a chain whose every sandwich, arbitrage, cluster and scam is known, including the
cases they get wrong; the same seed gives the same chain, block hashes included. This module plays
the story (``play``) and writes its ground truth (format: docs/architecture.md, "Devnet ground
truth"); the world it builds blocks in is `world.py`, the actors `actors.py`, the special blocks
`episodes.py`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestration.simulator import compiler
from orchestration.simulator.actors import _Exchange, _Scams, build_backend, scam_count
from orchestration.simulator.episodes import (
    HARD_SANDWICHES,
    _approval_to_eoa,
    _failed_sandwich,
    _hard_sandwich,
    _not_a_sandwich,
    _phishing,
    arbitrage,
    sandwich,
)
from orchestration.simulator.world import ETHER, World, _setup, encode_call

DEFAULT_BLOCKS = 80  # played blocks after the ~6 setup blocks

ProgressFn = Callable[[int, int, str], None]


def _empty_truth(seed: int, roles: dict[str, Any], chain_id: int) -> dict[str, Any]:
    accounts = {k: v for k, v in roles.items() if k != "others"}
    return {
        "format": 1, "seed": seed, "chain_id": chain_id, "first_block": 0, "last_block": 0, "accounts": accounts,
        "tokens": [], "pools": [], "routers": [], "contracts": {}, "sandwiches": [], "non_sandwiches": [],
        "arbitrages": [], "clusters": [], "scam_addresses": [], "approvals_to_eoas": [], "proxies": [],
        "clones": [], "risky_contracts": [], "failed_txs": [], "hard_sandwiches": [], "failed_sandwiches": [],
        "phishing": [],
    }


def play(seed: int, *, blocks: int = DEFAULT_BLOCKS, cache_dir: Path | None = None,
         progress: ProgressFn | None = None) -> World:
    """Build a devnet and play the scenario on it; ``world.truth`` is the ground truth."""
    report = progress or (lambda done, total, what: None)
    total = blocks + 5
    report(0, total, "compiling contracts")
    built = compiler.compile_all(cache_dir or compiler.default_cache_dir())
    backend, roles = build_backend(seed, scam_count(blocks))
    world = World(backend, roles, {}, {}, {}, {}, truth=_empty_truth(seed, roles, backend.chain_id))
    rng = random.Random(seed * 7919 + 1)
    report(1, total, "deploying contracts")
    _setup(world, built)
    world.truth["first_block"] = 1
    report(5, total, "playing blocks")

    # A schedule of special blocks, drawn once so the rest of the story does not shift it.
    slots = list(range(2, blocks - 4))
    rng.shuffle(slots)
    special: dict[int, str] = {}
    plan = ["sandwich"] * 6 + ["not_sandwich"] * 3 + ["arbitrage"] * 5 + ["approval"] * 2 + ["approval_drain"] * 2
    plan += ["failed_swap", "vault_destroy"]
    plan += [*HARD_SANDWICHES, "failed_sandwich", "phishing", "phishing"] * max(1, blocks // 40)
    for slot, kind in zip(slots, plan, strict=False):
        special[slot] = kind
    exchange, scams = _Exchange(world, rng), _Scams(world, rng)
    sandwich_pools = ["WETH/USDC#A", "WETH/DAI#A", "WETH/USDC#B"]

    for i in range(blocks):
        block = backend.head_number() + 1
        kind = special.get(i)
        last = i >= blocks - 4  # the last blocks settle everything that is still due
        # Sweeps and forwards happen in every block, ahead of whatever else the block holds.
        exchange.sweep(block, force=last)
        scams.forward(block, force=last)
        if kind == "sandwich":
            sandwich(world, rng, sandwich_pools[i % len(sandwich_pools)])
        elif kind == "not_sandwich":
            _not_a_sandwich(world, rng)
        elif kind == "arbitrage":
            arbitrage(world, rng)
        elif kind in ("approval", "approval_drain"):
            _approval_to_eoa(world, rng, block, drain=kind == "approval_drain")
        elif kind in HARD_SANDWICHES or kind in ("failed_sandwich", "phishing"):
            # Transfers only (no swaps to disturb the bundle): deposits and lures go on meanwhile.
            if rng.random() < 0.8:
                exchange.deposit(block)
            if rng.random() < 0.7:
                scams.lure(block)
            if kind == "failed_sandwich":
                _failed_sandwich(world, rng)
            elif kind == "phishing":
                _phishing(world, rng)
            else:
                _hard_sandwich(world, rng, kind)
        else:
            for _ in range(rng.randint(1, 3)):
                world.random_trade(rng)
            if not last and rng.random() < 0.8:
                exchange.deposit(block)
            if not last and rng.random() < 0.7:
                scams.lure(block)
            if rng.random() < 0.3:
                user = rng.choice(world.accounts["exchange_users"])
                world.transfer_token(user, world.tokens[rng.choice(["pUSD", "CLN"])],
                                     rng.choice(world.accounts["traders"]), rng.randint(1, 100) * ETHER)
            if kind == "failed_swap":
                pool = world.pools["USDC/DAI#A"]
                world.swap(rng.choice(world.accounts["traders"]), pool, pool.token0, 1_000 * 10**6,
                           min_out=10**30, expect_failure="insufficient output amount")
            elif kind == "vault_destroy":
                world.send(world.accounts["deployer"], world.contracts["vault"],
                           encode_call("destroy(address)", world.accounts["deployer"]), gas=100_000)
            world.mine()
        report(5 + i + 1, total, "playing blocks")

    truth = world.truth
    truth["last_block"] = backend.head_number()
    truth["contracts"] = dict(sorted(world.contracts.items())) | {
        f"pair_{name}": pool.address for name, pool in world.pools.items()
    } | {f"token_{symbol}": address for symbol, address in world.tokens.items()}
    for cluster in truth["clusters"]:
        depositors = set()
        for tx in cluster["deposit_txs"]:
            depositors.add(backend.call("eth_getTransactionByHash", [tx])["from"])
        cluster["members"] = sorted(depositors)  # only users who did deposit belong to the cluster
    truth["clusters"] = [c for c in truth["clusters"] if c["deposit_txs"]]
    truth["scam_addresses"] = [s for s in truth["scam_addresses"] if s["inbound_txs"]]
    return world


def write_ground_truth(truth: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=2, sort_keys=True))
    return path


def start_devnet(seed: int = 7, port: int = 0, *, blocks: int = DEFAULT_BLOCKS, cache_dir: Path | None = None):
    """A played devnet serving JSON-RPC on 127.0.0.1: ``(server, ground_truth)``; call ``server.stop()``.

    For tests anywhere in the tree: ``server.url`` is the endpoint. ``port=0`` picks a free port.
    """
    from orchestration.simulator.rpc_server import JsonRpcServer

    world = play(seed, blocks=blocks, cache_dir=cache_dir)
    server = JsonRpcServer(world.backend, port=port, serialize=True)
    server.start()
    server.world = world  # type: ignore[attr-defined]  # for --live and tests that build more blocks
    return server, world.truth
