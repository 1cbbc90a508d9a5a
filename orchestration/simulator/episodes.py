"""The scenario's episodes: the special blocks it schedules, each planting its case in the ground truth.

MEV: sandwiches (plain ones and the hard cases detectors get wrong, ``HARD_SANDWICHES``), a
sandwich whose back-run reverted, a buy-then-sell that is no sandwich, and arbitrage cycles.
Fraud and its look-alikes: phishing approvals drained by the phisher, and approvals people give
their own other wallets. ``--live`` (`live.py`) plays ``sandwich`` and ``arbitrage`` too.
"""

from __future__ import annotations

import random
from typing import Any

from orchestration.simulator.deterministic_evm import BLOCK_BUILDER
from orchestration.simulator.world import ETHER, GWEI, MAX_UINT, Pool, World, _keccak, amount_out, encode_call


def sandwich(world: World, rng: random.Random, pool_name: str) -> None:
    a = world.accounts
    pool = world.pools[pool_name]
    token_in = rng.choice([pool.token0, pool.token1])
    token_out = world.other(pool, token_in)
    r0, r1 = world.reserves(pool)
    reserve_in, reserve_out = (r0, r1) if token_in == pool.token0 else (r1, r0)
    attacker = a["sandwich_bot"]
    victims = rng.sample(a["traders"], rng.randint(1, 3))
    if rng.random() < 0.5:  # unrelated traffic ahead of the bundle, on another pool
        bystander = rng.choice([x for x in a["traders"] if x not in victims])
        other_pool = world.pools["USDC/DAI#A"]
        world.swap(bystander, other_pool, other_pool.token0, rng.randint(100, 5_000) * 10**6)
    front_in = world.affordable(attacker, token_in, reserve_in * rng.randint(150, 300) // 10_000)
    front_out = amount_out(front_in, reserve_in, reserve_out)
    reserve_in, reserve_out = reserve_in + front_in, reserve_out - front_out
    front = world.swap(attacker, pool, token_in, front_in, tip=5 * GWEI)
    victim_txs = []
    for victim in victims:
        size = world.affordable(victim, token_in, reserve_in * rng.randint(200, 400) // 10_000)
        out = amount_out(size, reserve_in, reserve_out)
        reserve_in, reserve_out = reserve_in + size, reserve_out - out
        victim_txs.append(world.swap(victim, pool, token_in, size, tip=2 * GWEI, min_out=out * 97 // 100))
    back = world.swap(attacker, pool, token_out, front_out, tip=GWEI)
    bribe = rng.randint(1, 20) * ETHER // 1000 if rng.random() < 0.5 else 0
    if bribe:  # the bundle's tip to the block builder, as a transaction of its own
        world.transfer_eth(attacker, BLOCK_BUILDER, bribe)
    block = world.mine()
    back_out = _swap_amount_out(world.receipt(back), pool)
    world.truth["sandwiches"].append({
        "block": block, "pool": pool.address, "attacker": attacker, "front_tx": front, "victim_txs": victim_txs,
        "back_tx": back, "token_in": token_in, "token_out": token_out, "profit": str(back_out - front_in),
        "gas_cost_wei": str(world.costs([front, back])), "coinbase_wei": str(bribe),
    })


def _victims_on(world: World, rng: random.Random, pool: Pool, token_in: str, n: int, exclude=()) -> list[str]:
    """`n` traders swapping `token_in` on `pool` (2-4 % of its reserve each), in the pending block."""
    txs = []
    for victim in rng.sample([x for x in world.accounts["traders"] if x not in exclude], n):
        r0, r1 = world.reserves(pool)
        reserve_in = r0 if token_in == pool.token0 else r1
        size = world.affordable(victim, token_in, reserve_in * rng.randint(200, 400) // 10_000)
        txs.append(world.swap(victim, pool, token_in, size, tip=2 * GWEI, min_out=world.quote(pool, token_in, size) * 97 // 100))
    return txs


def _front_size(world: World, pool: Pool, token_in: str, holder: str, rng: random.Random) -> int:
    r0, r1 = world.reserves(pool)
    return world.affordable(holder, token_in, (r0 if token_in == pool.token0 else r1) * rng.randint(150, 300) // 10_000)


def _hard_sandwich(world: World, rng: random.Random, kind: str) -> None:
    """One of the sandwiches that are easy to get wrong; its truth says what was planted.

    multi_pool: one bundle sandwiches the same pair on two venues (a bot contract through both
    routers). multi_hop: the bot's legs route through an intermediate pool; victims trade on the
    last hop's pool. router_bot: the bot contract relays through a public router, front- and back-run
    sent by different operators. contract_bot: the same contract paying pairs itself, senders
    swapped, tipping the builder inside the back-run call (``coinbase_internal_wei``: no log or
    top-level transfer shows it). partial_backrun: the back-run sells 40-70 % of what the front-run
    bought.
    """
    a, p, t = world.accounts, world.pools, world.tokens
    bot, (op1, op2) = world.contracts["sandwich_contract"], a["sandwich_operators"]
    eoa = a["sandwich_bot"]
    case: dict[str, Any] = {"kind": kind}
    if kind == "multi_pool":
        pools = [p["WETH/USDC#A"], p["WETH/USDC#B"]]
        token_in = rng.choice([t["WETH"], t["USDC"]])
        token_out = world.other(pools[0], token_in)
        amounts = [_front_size(world, q, token_in, bot, rng) // 2 for q in pools]
        outs = [world.quote(q, token_in, x) for q, x in zip(pools, amounts, strict=True)]
        routers = [q.router for q in pools]
        call = "viaRouter(address[],address[][],uint256[],uint256[])"
        front = world.send(op1, bot, encode_call(call, routers, [[token_in, token_out]] * 2, amounts, [0, 0]),
                           gas=600_000, tip=5 * GWEI)
        victims = [tx for q in pools for tx in _victims_on(world, rng, q, token_in, 1)]
        back = world.send(op1, bot, encode_call(call, routers, [[token_out, token_in]] * 2, outs, [0, 0]),
                          gas=600_000, tip=GWEI)
        case.update(pools=[q.address for q in pools], attacker=bot, senders=[op1], profit_token=token_in)
    elif kind == "multi_hop":
        first, target = p["WETH/USDC#A"], p["USDC/DAI#A"]
        path = [t["WETH"], t["USDC"], t["DAI"]]
        amount = _front_size(world, first, t["WETH"], eoa, rng) // 2
        got = world.quote_path([first, target], path, amount)
        front = world.swap_path(eoa, first.router, path, amount, tip=5 * GWEI)
        victims = _victims_on(world, rng, target, t["USDC"], rng.randint(1, 2))
        back = world.swap_path(eoa, first.router, path[::-1], got, tip=GWEI)
        case.update(pools=[target.address], attacker=eoa, senders=[eoa], profit_token=t["WETH"])
    elif kind in ("router_bot", "contract_bot"):
        pool = p[rng.choice(["WETH/USDC#A", "WETH/DAI#A"])]
        token_in = rng.choice([pool.token0, pool.token1])
        token_out = world.other(pool, token_in)
        amount = _front_size(world, pool, token_in, bot, rng)
        out = world.quote(pool, token_in, amount)
        first_sender, second_sender = (op1, op2) if kind == "router_bot" else (op2, op1)
        if kind == "router_bot":
            call = "viaRouter(address[],address[][],uint256[],uint256[])"
            legs = [encode_call(call, [pool.router], [[token_in, token_out]], [amount], [0]), None]
        else:
            call = "direct(address,address,uint256,uint256)"
            legs = [encode_call(call, pool.address, token_in, amount, 0), None]
        front = world.send(first_sender, bot, legs[0], gas=400_000, tip=5 * GWEI)
        victims = _victims_on(world, rng, pool, token_in, rng.randint(1, 2))
        if kind == "router_bot":
            back_data = encode_call(call, [pool.router], [[token_out, token_in]], [out], [0])
        else:
            back_data = encode_call(call, pool.address, token_out, out, 0)
        # The contract bot tips the builder inside its back-run call (an internal transfer).
        inner_tip = INNER_TIP if kind == "contract_bot" else 0
        back = world.send(second_sender, bot, back_data, gas=400_000, tip=GWEI, value=inner_tip)
        case.update(pools=[pool.address], attacker=bot, senders=[first_sender, second_sender], profit_token=token_in,
                    coinbase_internal_wei=str(inner_tip))
    else:  # partial_backrun
        pool = p[rng.choice(["WETH/USDC#A", "WETH/DAI#A", "WETH/USDC#B"])]
        token_in = rng.choice([pool.token0, pool.token1])
        token_out = world.other(pool, token_in)
        amount = _front_size(world, pool, token_in, eoa, rng)
        out = world.quote(pool, token_in, amount)
        front = world.swap(eoa, pool, token_in, amount, tip=5 * GWEI)
        victims = _victims_on(world, rng, pool, token_in, rng.randint(1, 2))
        sold = out * rng.randint(40, 70) // 100
        back = world.swap(eoa, pool, token_out, sold, tip=GWEI)
        case.update(pools=[pool.address], attacker=eoa, senders=[eoa], profit_token=token_in, sold_fraction=sold / out)
    block = world.mine()
    spent = sum(_moved(world.receipt(front), case["profit_token"], case["attacker"]))
    earned = sum(_moved(world.receipt(back), case["profit_token"], case["attacker"], inbound=True))
    case.update(block=block, front_tx=front, back_tx=back, victim_txs=victims, raw_profit=str(earned - spent),
                gas_cost_wei=str(world.costs([front, back])))
    world.truth["hard_sandwiches"].append(case)


def _moved(receipt: dict[str, Any], token: str, holder: str, inbound: bool = False) -> list[int]:
    """Amounts of `token` the receipt's Transfer logs move out of (or into) `holder`."""
    return [v for tok, frm, to, v in _token_transfers(receipt) if tok == token and (to if inbound else frm) == holder]


def _failed_sandwich(world: World, rng: random.Random) -> None:
    """Front-run and victims go through; the back-run reverts (its minimum out cannot be met)."""
    pool = world.pools[rng.choice(["WETH/USDC#A", "WETH/DAI#A"])]
    eoa = world.accounts["sandwich_bot"]
    token_in = rng.choice([pool.token0, pool.token1])
    amount = _front_size(world, pool, token_in, eoa, rng)
    out = world.quote(pool, token_in, amount)
    front = world.swap(eoa, pool, token_in, amount, tip=5 * GWEI)
    victims = _victims_on(world, rng, pool, token_in, 1)
    reason = "insufficient output amount"
    back = world.swap(eoa, pool, world.other(pool, token_in), out, tip=GWEI, min_out=10**30, expect_failure=reason)
    block = world.mine()
    world.truth["failed_sandwiches"].append({"block": block, "pool": pool.address, "attacker": eoa, "front_tx": front,
                                             "victim_txs": victims, "back_tx": back, "reason": reason})


def _phishing(world: World, rng: random.Random) -> None:
    """Two victims approve the phisher for all their USDC; the phisher pulls half of it with transferFrom."""
    phisher, usdc = world.accounts["phisher"], world.tokens["USDC"]
    entry = world.truth["phishing"][0] if world.truth["phishing"] else None
    if entry is None:
        entry = {"scammer": phisher, "victims": [], "approval_txs": [], "drain_txs": []}
        world.truth["phishing"].append(entry)
    fresh = [x for x in world.accounts["phishing_victims"] if x not in entry["victims"]]
    for victim in rng.sample(fresh if len(fresh) >= 2 else world.accounts["phishing_victims"], 2):
        entry["approval_txs"].append(world.send(victim, usdc, encode_call("approve(address,uint256)", phisher, MAX_UINT),
                                                gas=60_000))
        take = world.balance_of(usdc, victim) // 2
        entry["drain_txs"].append(world.send(phisher, usdc, encode_call(
            "transferFrom(address,address,uint256)", victim, phisher, take), gas=90_000))
        if victim not in entry["victims"]:
            entry["victims"].append(victim)
    world.mine()


HARD_SANDWICHES = ("multi_pool", "multi_hop", "router_bot", "contract_bot", "partial_backrun")
#: What the contract bot forwards to the coinbase inside its back-run (visible in traces only).
INNER_TIP = ETHER // 100


def _not_a_sandwich(world: World, rng: random.Random) -> None:
    """One actor buys then sells on the same pool with nobody in between: not a sandwich."""
    actor = rng.choice(world.accounts["traders"])
    world.random_trade(rng, rng.choice([x for x in world.accounts["traders"] if x != actor]))
    pool = world.pools["WETH/USDC#A"]
    token_in = pool.token0
    r0, r1 = world.reserves(pool)
    buy_in = world.affordable(actor, token_in, r0 * rng.randint(20, 60) // 10_000)
    bought = amount_out(buy_in, r0, r1)
    buy = world.swap(actor, pool, token_in, buy_in)
    sell = world.swap(actor, pool, pool.token1, bought)
    block = world.mine()
    world.truth["non_sandwiches"].append({"block": block, "pool": pool.address, "actor": actor, "txs": [buy, sell]})


def _cycle_profit(world: World, pools: list[Pool], path: list[str], amount: int,
                  reserves: dict[str, tuple[int, int]]) -> int:
    for pool, token in zip(pools, path, strict=False):
        r0, r1 = reserves[pool.address]
        amount = amount_out(amount, r0, r1) if token == pool.token0 else amount_out(amount, r1, r0)
    return amount


def _best_cycle(world: World, cycles: list, reserves: dict[str, tuple[int, int]]) -> tuple[int, int, list[Pool], list[str]]:
    """(profit, amount, pools, path) of the most profitable cycle at `reserves` (a coarse search)."""
    best: tuple[int, int, list[Pool], list[str]] | None = None
    for pools, path in cycles:
        pool0 = pools[0]
        start_reserve = reserves[pool0.address][0 if path[0] == pool0.token0 else 1]
        for bps in range(5, 400, 5):  # a coarse search is enough to land in profit
            amount = start_reserve * bps // 10_000
            profit = _cycle_profit(world, pools, path, amount, reserves) - amount
            if best is None or profit > best[0]:
                best = (profit, amount, pools, path)
    assert best is not None
    return best


def arbitrage(world: World, rng: random.Random) -> None:
    """A whale moves one pool; in the same block the bot closes the gap with a profitable cycle."""
    t, p = world.tokens, world.pools
    if rng.random() < 0.5:
        whale_pool, whale_in = p["WETH/USDC#B"], rng.choice([t["WETH"], t["USDC"]])
        cycles = [([p["WETH/USDC#A"], p["WETH/USDC#B"]], [t["USDC"], t["WETH"], t["USDC"]]),
                  ([p["WETH/USDC#B"], p["WETH/USDC#A"]], [t["USDC"], t["WETH"], t["USDC"]])]
    else:
        whale_pool, whale_in = p["WETH/DAI#A"], rng.choice([t["WETH"], t["DAI"]])
        cycles = [([p["WETH/USDC#A"], p["USDC/DAI#A"], p["WETH/DAI#A"]], [t["WETH"], t["USDC"], t["DAI"], t["WETH"]]),
                  ([p["WETH/DAI#A"], p["USDC/DAI#A"], p["WETH/USDC#A"]], [t["WETH"], t["DAI"], t["USDC"], t["WETH"]])]
    whale = rng.choice(world.accounts["traders"])
    bps = rng.randint(300, 600)
    # The drawn direction, unless it only closes an earlier gap between the venues: then the other.
    for side in (whale_in, world.other(whale_pool, whale_in)):
        r0, r1 = world.reserves(whale_pool)
        size = world.affordable(whale, side, (r0 if side == whale_pool.token0 else r1) * bps // 10_000)
        reserves = {pool.address: world.reserves(pool) for pool in p.values()}
        out = world.quote(whale_pool, side, size)
        reserves[whale_pool.address] = (r0 + size, r1 - out) if side == whale_pool.token0 else (r0 - out, r1 + size)
        best = _best_cycle(world, cycles, reserves)
        if best[0] > 0:
            break
    assert best[0] > 0, "the whale trade left no arbitrage"
    world.swap(whale, whale_pool, side, size)
    assert {pool.address: world.reserves(pool) for pool in p.values()} == reserves
    _profit, amount, pools, path = best
    bot, owner = world.contracts["arbitrage_bot"], world.accounts["arbitrage_owner"]
    data = encode_call("execute(address[],address[],uint256,uint256)", [q.address for q in pools], path, amount, 1)
    tx = world.send(owner, bot, data, gas=500_000, tip=3 * GWEI)
    block = world.mine()
    receipt = world.receipt(tx)
    transfers = _token_transfers(receipt)
    got = sum(v for token, _, to, v in transfers if token == path[0] and to == bot)
    world.truth["arbitrages"].append({
        "block": block, "tx": tx, "bot": bot, "owner": owner, "pools": [q.address for q in pools],
        "token_path": path, "amount_in": str(amount), "profit": str(got - amount), "profit_token": path[0],
    })


TRANSFER_TOPIC = "0x" + _keccak(b"Transfer(address,address,uint256)").hex()
SWAP_TOPIC = "0x" + _keccak(b"Swap(address,uint256,uint256,uint256,uint256,address)").hex()


def _token_transfers(receipt: dict[str, Any]) -> list[tuple[str, str, str, int]]:
    return [
        (log["address"], "0x" + log["topics"][1][-40:], "0x" + log["topics"][2][-40:], int(log["data"], 16))
        for log in receipt["logs"]
        if log["topics"] and log["topics"][0] == TRANSFER_TOPIC and len(log["topics"]) == 3
    ]


def _swap_amount_out(receipt: dict[str, Any], pool: Pool) -> int:
    for log in receipt["logs"]:
        if log["address"] == pool.address and log["topics"][0] == SWAP_TOPIC:
            data = bytes.fromhex(log["data"][2:])
            words = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 128, 32)]
            return words[2] + words[3]
    raise RuntimeError("no Swap log")


def _approval_to_eoa(world: World, rng: random.Random, block_hint: int, drain: bool) -> None:
    # Each spender is one owner's other wallet: a spender many owners approve is someone else's.
    k = rng.randrange(len(world.accounts["approval_spenders"]))
    owner, spender = world.accounts["traders"][5 + k], world.accounts["approval_spenders"][k]
    symbol = rng.choice(["USDC", "DAI", "pUSD"]) if owner in world.accounts["traders"][:5] else rng.choice(["USDC", "DAI"])
    token = world.tokens[symbol]
    unlimited = rng.random() < 0.6
    amount = MAX_UINT if unlimited else world.balance_of(token, owner) // 2
    tx = world.send(owner, token, encode_call("approve(address,uint256)", spender, amount), gas=60_000)
    used = None
    if drain:
        take = world.balance_of(token, owner) // 4
        used = world.send(spender, token, encode_call("transferFrom(address,address,uint256)", owner, spender, take),
                          gas=90_000)
    block = world.mine()
    world.truth["approvals_to_eoas"].append({
        "block": block, "tx": tx, "owner": owner, "spender": spender, "token": token,
        "amount": str(amount), "unlimited": unlimited, "used_tx": used,
    })
