"""`--live`: keep the devnet producing blocks at a slow pace, so a new-block sensor has work.

Every ``block_seconds`` a background thread builds one block of a few ordinary transactions
(trader swaps and ether transfers) and mines it, under the backend's lock so JSON-RPC readers see
whole blocks only. A share ``mev_share`` of the blocks holds a sandwich or an arbitrage instead, as
the scenario builds them, so the live stream has MEV to carry and its freshness can be measured.
Every block also pays a newcomer (an address never seen before, as on any public chain), so risk
scoring has a new address to score per block.
Live blocks take the wall clock as their timestamp: they are not part of the seeded story, and a
sensor or a freshness check wants real time.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from orchestration.simulator import episodes
from orchestration.simulator.world import ETHER, World

SANDWICH_POOLS = ("WETH/USDC#A", "WETH/DAI#A", "WETH/USDC#B")


class LiveProducer:
    def __init__(self, world: World, block_seconds: float, seed: int,
                 on_block: Callable[[int, int], None] | None = None, mev_share: float = 0.0) -> None:
        if not 0.0 <= mev_share <= 1.0:
            raise ValueError(f"mev_share is a share of blocks, 0 to 1, not {mev_share}")
        self.world = world
        self.block_seconds = block_seconds
        self.mev_share = mev_share
        self.rng = random.Random(seed + 1_000_003)
        self.on_block = on_block
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def produce_one(self) -> int:
        """Build and mine one block; returns its number."""
        world, rng = self.world, self.rng
        with world.backend.lock:
            world.backend.use_wall_clock()
            world.transfer_eth(rng.choice(world.accounts["traders"]), self.newcomer(), rng.randint(1, 50) * ETHER // 1000)
            if rng.random() < self.mev_share and self._mev_block():
                return world.backend.head_number()
            for _ in range(rng.randint(1, 3)):
                world.random_trade(rng)
            if rng.random() < 0.5:
                a, b = rng.sample(world.accounts["traders"], 2)
                world.transfer_eth(a, b, rng.randint(1, 100) * ETHER // 100)
            return world.mine()

    def newcomer(self) -> str:
        """A fresh address from the producer's seeded draw."""
        return "0x" + self.rng.randbytes(20).hex()

    def _mev_block(self) -> bool:
        """A sandwich or an arbitrage, mined in a block of its own (the scenario's builders mine);
        False when the drawn whale trade would leave no profitable cycle (nothing was sent)."""
        world, rng = self.world, self.rng
        if rng.random() < 0.5:
            episodes.sandwich(world, rng, rng.choice(SANDWICH_POOLS))
            return True
        try:
            episodes.arbitrage(world, rng)
        except AssertionError:
            return False
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.block_seconds):
            number = self.produce_one()
            if self.on_block is not None:
                self.on_block(number, len(world_txs(self.world, number)))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="devnet-live", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def world_txs(world: World, number: int) -> list[str]:
    block = world.backend.call("eth_getBlockByNumber", [hex(number), False])
    return block["transactions"] if block else []
