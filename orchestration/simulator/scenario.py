"""A seeded story played on the devnet, and the ground truth it writes for tests and detectors.

The scenario deploys the contracts (ERC-20 tokens, Uniswap-V2-shaped pairs on two router venues,
an EIP-1967 proxy and an EIP-1167 clone of a token, an arbitrage bot, a DELEGATECALL executor and a
SELFDESTRUCT vault), then plays blocks of several transactions each, in a chosen order (it builds
every block itself and mines it): traders swapping, a sandwich bot, an arbitrage bot, exchange
deposit addresses sweeping to a hot wallet, approvals to externally owned accounts and scam
addresses that collect and forward. The sandwiches include the hard cases detectors get wrong:
several pools in one bundle, legs routed through an intermediate pool, a bot contract behind a
public router or calling pairs itself for rotating senders, a back-run selling part of what was
bought, and an attempt whose back-run reverted; phishing approvals (victims approving a scammer
who drains them) stand beside approvals people give their own other wallets. Same seed, same chain: timestamps and mixHash are fixed, so
even block hashes repeat.

Ground truth file (JSON, all addresses and hashes lowercase 0x-hex, amounts as decimal strings of
base units, block numbers as ints)::

    {
      "format": 1, "seed": int, "chain_id": int, "first_block": int, "last_block": int,
      "accounts": {"deployer": addr, "traders": [addr], "sandwich_bot": addr, "arbitrage_owner": addr,
                   "hot_wallet": addr, "deposit_addresses": [addr], "exchange_users": [addr],
                   "scam_addresses": [addr], "scam_cashouts": [addr], "approval_spenders": [addr],
                   "sandwich_operators": [addr], "phisher": addr, "phishing_victims": [addr]},
      "tokens": [{"address", "symbol", "decimals", "kind": "erc20" | "eip1967_proxy" | "eip1167_clone"}],
      "pools": [{"address", "token0", "token1", "router", "venue"}],
      "routers": [{"address", "venue"}],
      "contracts": {name: addr},                  # every contract the scenario deployed, by role
      "sandwiches": [{"block", "pool", "attacker", "front_tx", "victim_txs": [tx], "back_tx",
                      "token_in", "token_out", "profit",   # profit in token_in, from the Swap logs
                      "gas_cost_wei", "coinbase_wei"}],     # what the bundle paid: gas, a tip to the coinbase
      "hard_sandwiches": [{"kind": "multi_pool" | "multi_hop" | "router_bot" | "contract_bot" | "partial_backrun",
                           "block", "pools": [addr], "attacker", "senders": [addr], "front_tx",
                           "victim_txs": [tx], "back_tx", "profit_token", "gas_cost_wei",
                           "raw_profit",  # back-run's take minus front-run's spend, in profit_token
                           "coinbase_internal_wei"?}],  # router/contract bots: a tip paid inside the call
      "failed_sandwiches": [{"block", "pool", "attacker", "front_tx", "victim_txs": [tx], "back_tx",
                             "reason"}],  # the back-run reverted: no sandwich happened
      "non_sandwiches": [{"block", "pool", "actor", "txs": [buy, sell]}],  # buy-then-sell, no victim
      "phishing": [{"scammer", "victims": [addr], "approval_txs": [tx], "drain_txs": [tx]}],
      "arbitrages": [{"block", "tx", "bot", "owner", "pools": [addr], "token_path": [addr],
                      "amount_in", "profit", "profit_token"}],  # token_path starts and ends alike
      "clusters": [{"deposit_address", "hot_wallet", "members": [addr], "deposit_txs": [tx],
                    "sweep_txs": [tx]}],
      "scam_addresses": [{"address", "forwards_to", "victims": [addr], "inbound_txs": [tx],
                          "forward_txs": [tx]}],
      "approvals_to_eoas": [{"block", "tx", "owner", "spender", "token", "amount", "unlimited",
                             "used_tx": tx | null}],
      "proxies": [{"address", "implementation", "standard": "eip1967", "creation_tx"}],
      "clones": [{"address", "implementation", "standard": "eip1167", "creation_tx"}],
      "risky_contracts": [{"address", "flags": ["delegatecall" | "selfdestruct" | ...]}],
      "failed_txs": [{"block", "tx", "reason"}]
    }
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestration.simulator import compiler
from orchestration.simulator.chain import BLOCK_BUILDER, DevnetBackend

GWEI = 10**9
ETHER = 10**18
MAX_UINT = 2**256 - 1
DEFAULT_BLOCKS = 80  # played blocks after the ~6 setup blocks
DEADLINE = 2**40

ProgressFn = Callable[[int, int, str], None]


def _keccak(data: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(data)


def selector(signature: str) -> bytes:
    return _keccak(signature.encode())[:4]


def _types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : -1]
    return [t for t in inner.split(",") if t]


def encode_call(signature: str, *args: Any) -> bytes:
    from eth_abi import encode

    return selector(signature) + encode(_types(signature), list(args))


def _b(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    """Uniswap V2's getAmountOut (the pair's 0.3% fee rule)."""
    with_fee = amount_in * 997
    return with_fee * reserve_out // (reserve_in * 1000 + with_fee)


@dataclass
class Pool:
    address: str
    token0: str
    token1: str
    router: str
    venue: str


@dataclass
class World:
    """Everything a later block (the scenario's or ``--live``'s) needs to build transactions."""

    backend: DevnetBackend
    accounts: dict[str, Any]
    tokens: dict[str, str]  # symbol -> address
    pools: dict[str, Pool]
    routers: dict[str, str]  # venue -> router address
    contracts: dict[str, str]
    truth: dict[str, Any] = field(default_factory=dict)
    _pending: list[tuple[str, str | None]] = field(default_factory=list)

    # --- building blocks ----------------------------------------------------------------------

    def send(
        self,
        sender: str,
        to: str | None,
        data: bytes = b"",
        *,
        value: int = 0,
        gas: int = 200_000,
        tip: int = GWEI,
        gas_price: int | None = None,
        expect_failure: str | None = None,
    ) -> str:
        """Add one transaction to the block being built (executed now, mined by ``mine``)."""
        tx: dict[str, Any] = {
            "from": sender,
            "data": "0x" + data.hex(),
            "value": value,
            "gas": gas,
            "nonce": self.backend.pending_nonce(sender),
        }
        if to is not None:
            tx["to"] = to
        if gas_price is not None:
            tx["gas_price"] = gas_price
        else:
            tx["max_priority_fee_per_gas"] = tip
            tx["max_fee_per_gas"] = 2 * self.backend.pending_base_fee() + tip
        tx_hash = self.backend.add_to_pending_block(tx).lower()
        self._pending.append((tx_hash, expect_failure))
        return tx_hash

    def mine(self) -> int:
        """Mine the block; every transaction must have succeeded unless it was meant to fail."""
        self.backend.mine(1)
        number = self.backend.head_number()
        receipts = {r["transactionHash"]: r for r in self.backend.call("eth_getBlockReceipts", [hex(number)])}
        for tx_hash, expected in self._pending:
            ok = receipts[tx_hash]["status"] == "0x1"
            if expected is None and not ok:
                raise RuntimeError(f"scenario transaction {tx_hash} in block {number} failed")
            if expected is not None:
                if ok:
                    raise RuntimeError(f"scenario transaction {tx_hash} should have failed ({expected})")
                self.truth["failed_txs"].append({"block": number, "tx": tx_hash, "reason": expected})
        self._pending.clear()
        return number

    def mine_if_full(self, size: int = 10) -> None:
        """Setup only: py-evm rebuilds a block's tries on every added transaction (quadratic in the
        block's size), so bulk setup goes in blocks of about ten."""
        if len(self._pending) >= size:
            self.mine()

    def call(self, to: str, data: bytes) -> bytes:
        out = self.backend.eth_call({"from": self.accounts["deployer"], "to": to, "data": "0x" + data.hex()}, "pending")
        return bytes.fromhex(out[2:]) if isinstance(out, str) else out

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        receipt = self.backend.receipt(tx_hash)
        assert receipt is not None, tx_hash
        return receipt

    # --- reads --------------------------------------------------------------------------------

    def reserves(self, pool: Pool) -> tuple[int, int]:
        from eth_abi import decode

        r0, r1, _ = decode(["uint112", "uint112", "uint32"], self.call(pool.address, selector("getReserves()")))
        return r0, r1

    def balance_of(self, token: str, owner: str) -> int:
        return int.from_bytes(self.call(token, encode_call("balanceOf(address)", owner)), "big")

    def affordable(self, trader: str, token: str, amount: int) -> int:
        """At most 90% of what the trader holds, so a drawn size never overdraws."""
        return min(amount, self.balance_of(token, trader) * 9 // 10)

    def quote(self, pool: Pool, token_in: str, amount_in: int) -> int:
        r0, r1 = self.reserves(pool)
        return amount_out(amount_in, r0, r1) if token_in == pool.token0 else amount_out(amount_in, r1, r0)

    def other(self, pool: Pool, token: str) -> str:
        return pool.token1 if token == pool.token0 else pool.token0

    # --- actions ------------------------------------------------------------------------------

    def swap(self, trader: str, pool: Pool, token_in: str, amount_in: int, *, tip: int = GWEI, min_out: int = 0,
             expect_failure: str | None = None) -> str:
        data = encode_call(
            "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
            amount_in, min_out, [token_in, self.other(pool, token_in)], trader, DEADLINE,
        )
        return self.send(trader, pool.router, data, gas=250_000, tip=tip, expect_failure=expect_failure)

    def swap_path(self, trader: str, router: str, path: list[str], amount_in: int, *, tip: int = GWEI,
                  min_out: int = 0, expect_failure: str | None = None) -> str:
        data = encode_call("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                           amount_in, min_out, path, trader, DEADLINE)
        return self.send(trader, router, data, gas=350_000, tip=tip, expect_failure=expect_failure)

    def quote_path(self, pools: list[Pool], path: list[str], amount_in: int) -> int:
        """What a path pays out now (pending state), hop by hop."""
        for pool, token in zip(pools, path, strict=False):
            amount_in = self.quote(pool, token, amount_in)
        return amount_in

    def costs(self, txs: list[str]) -> int:
        """Gas the mined transactions paid, in wei (gasUsed x effectiveGasPrice)."""
        return sum(int(self.receipt(t)["gasUsed"], 16) * int(self.receipt(t)["effectiveGasPrice"], 16) for t in txs)

    def transfer_token(self, sender: str, token: str, receiver: str, amount: int) -> str:
        return self.send(sender, token, encode_call("transfer(address,uint256)", receiver, amount), gas=90_000)

    def transfer_eth(self, sender: str, receiver: str, amount: int, **kw: Any) -> str:
        return self.send(sender, receiver, value=amount, gas=21_000, **kw)

    def random_trade(self, rng: random.Random, trader: str | None = None) -> str:
        trader = trader or rng.choice(self.accounts["traders"])
        pool = self.pools[rng.choice(sorted(self.pools))]
        token_in = rng.choice([pool.token0, pool.token1])
        r0, r1 = self.reserves(pool)
        reserve_in = r0 if token_in == pool.token0 else r1
        return self.swap(trader, pool, token_in, self.affordable(trader, token_in, reserve_in * rng.randint(5, 80) // 10_000))


def _deploy(world: World, deployer: str, contract: compiler.Contract, types: list[str], args: list[Any],
            *, value: int = 0) -> tuple[str, str]:
    from eth_abi import encode

    address = "0x" + _contract_address(deployer, world.backend.pending_nonce(deployer)).hex()
    tx = world.send(deployer, None, contract.bytecode + encode(types, args), value=value, gas=3_000_000)
    return address, tx


def _contract_address(sender: str, nonce: int) -> bytes:
    from eth._utils.address import generate_contract_address

    return generate_contract_address(_b(sender), nonce)


#: Blocks of story per scam address (at least 2): the default 80 blocks give 5, enough labelled
#: fraud for `make run` to train a fraud model on; the tests' 40 blocks keep 2.
BLOCKS_PER_SCAM = 16


def scam_count(blocks: int) -> int:
    return max(2, blocks // BLOCKS_PER_SCAM)


def _assign_accounts(addresses: list[str], rng: random.Random, scams: int = 2) -> dict[str, Any]:
    deployer, rest = addresses[0], addresses[1:]
    rng.shuffle(rest)
    take = iter(rest)

    def many(n: int) -> list[str]:
        return [next(take) for _ in range(n)]

    roles: dict[str, Any] = {
        "deployer": deployer,
        "traders": many(10),
        "sandwich_bot": next(take),
        "arbitrage_owner": next(take),
        "hot_wallet": next(take),
        "deposit_addresses": many(4),
        "exchange_users": many(10),
        "scam_addresses": many(scams),
        "scam_cashouts": many(scams),
        "approval_spenders": many(2),
        "sandwich_operators": many(2),  # two senders driving one sandwich-bot contract
        "phisher": next(take),
        "phishing_victims": many(4),
    }
    roles["others"] = list(take)  # scam victims and bystanders
    return roles


#: Roles that start with no ether: fresh addresses whose every wei has a visible source.
_UNFUNDED = ("hot_wallet", "deposit_addresses", "scam_addresses", "scam_cashouts")


def build_backend(seed: int, scams: int = 2) -> tuple[DevnetBackend, dict[str, Any]]:
    from eth_tester.backends.pyevm.main import get_default_account_keys

    rng = random.Random(seed)
    addresses = ["0x" + k.public_key.to_canonical_address().hex() for k in get_default_account_keys(60)]
    roles = _assign_accounts(addresses, rng, scams)
    balances = {}
    for role in _UNFUNDED:
        members = roles[role] if isinstance(roles[role], list) else [roles[role]]
        balances.update({a: 0 for a in members})
    for trader in addresses:
        balances.setdefault(trader, 1_000 * ETHER)
    balances[roles["deployer"]] = 1_000_000 * ETHER
    return DevnetBackend(accounts=60, balances=balances), roles


def _setup(world: World, built: dict[str, compiler.Contract]) -> None:
    """Deploy and fund everything (six blocks)."""
    a, truth = world.accounts, world.truth
    me = a["deployer"]
    # Block: tokens, the token logic behind proxy and clone, the risky contracts.
    specs = [("WETH", "Wrapped Ether", 18), ("USDC", "USD Coin", 6), ("DAI", "Dai Stablecoin", 18)]
    for symbol, name, decimals in specs:
        address, _ = _deploy(world, me, built["token"], ["string", "string", "uint8"], [name, symbol, decimals])
        world.tokens[symbol] = address
        truth["tokens"].append({"address": address, "symbol": symbol, "decimals": decimals, "kind": "erc20"})
    logic, _ = _deploy(world, me, built["token"], ["string", "string", "uint8"], ["Token Logic", "LOGIC", 18])
    executor, _ = _deploy(world, me, built["executor"], [], [])
    vault, _ = _deploy(world, me, built["vault"], [], [], value=25 * ETHER)
    world.contracts.update(token_logic=logic, executor=executor, vault=vault)
    world.mine()

    # Block: pairs, routers, the arbitrage bot, the proxy and the clone.
    for venue in ("A", "B"):
        world.routers[venue], _ = _deploy(world, me, built["router"], [], [])
        truth["routers"].append({"address": world.routers[venue], "venue": venue})
        world.contracts[f"router_{venue.lower()}"] = world.routers[venue]
    t = world.tokens
    for name, (x, y), venue in (
        ("WETH/USDC#A", ("WETH", "USDC"), "A"),
        ("WETH/USDC#B", ("WETH", "USDC"), "B"),
        ("WETH/DAI#A", ("WETH", "DAI"), "A"),
        ("USDC/DAI#A", ("USDC", "DAI"), "A"),
    ):
        token0, token1 = sorted([t[x], t[y]], key=lambda s: int(s, 16))
        address, _ = _deploy(world, me, built["pair"], ["address", "address"], [token0, token1])
        world.pools[name] = Pool(address, token0, token1, world.routers[venue], venue)
        truth["pools"].append({"address": address, "token0": token0, "token1": token1,
                               "router": world.routers[venue], "venue": venue, "name": name})
    bot_owner = a["arbitrage_owner"]
    world.contracts["arbitrage_bot"] = "0x" + _contract_address(bot_owner, world.backend.pending_nonce(bot_owner)).hex()
    world.send(bot_owner, None, built["arb_bot"].bytecode, gas=3_000_000)
    # The sandwich-bot contract, set up whole in this block (the later setup blocks stay as they were).
    operator, second = a["sandwich_operators"]
    bot = world.contracts["sandwich_contract"] = "0x" + _contract_address(
        operator, world.backend.pending_nonce(operator)).hex()
    world.send(operator, None, built["sandwich_bot"].bytecode, gas=3_000_000)
    world.send(operator, bot, encode_call("setOperator(address,bool)", second, True), gas=60_000)
    for venue, symbols in (("A", ("WETH", "USDC", "DAI")), ("B", ("WETH", "USDC"))):
        for symbol in symbols:
            world.send(operator, bot, encode_call("approve(address,address)", t[symbol], world.routers[venue]),
                       gas=80_000)
    for symbol, amount in (("WETH", 200 * ETHER), ("USDC", 400_000 * 10**6), ("DAI", 400_000 * ETHER)):
        world.send(me, t[symbol], encode_call("mint(address,uint256)", bot, amount), gas=90_000)
    proxy = "0x" + _contract_address(me, world.backend.pending_nonce(me)).hex()
    proxy_tx = world.send(me, None, compiler.eip1967_initcode(_b(logic)), gas=300_000)
    clone = "0x" + _contract_address(me, world.backend.pending_nonce(me)).hex()
    clone_tx = world.send(me, None, compiler.eip1167_initcode(_b(logic)), gas=300_000)
    world.contracts.update(proxy_token=proxy, clone_token=clone)
    world.tokens.update(pUSD=proxy, CLN=clone)
    truth["proxies"].append({"address": proxy, "implementation": logic, "standard": "eip1967", "creation_tx": proxy_tx})
    truth["clones"].append({"address": clone, "implementation": logic, "standard": "eip1167", "creation_tx": clone_tx})
    truth["tokens"] += [
        {"address": proxy, "symbol": "pUSD", "decimals": 18, "kind": "eip1967_proxy"},
        {"address": clone, "symbol": "CLN", "decimals": 18, "kind": "eip1167_clone"},
    ]
    truth["risky_contracts"] += [
        {"address": executor, "flags": ["delegatecall"]},
        {"address": vault, "flags": ["selfdestruct"]},
        {"address": proxy, "flags": ["delegatecall", "eip1967_proxy"]},
        {"address": clone, "flags": ["delegatecall", "eip1167_clone"]},
    ]
    world.mine()

    # Block: register pairs, initialize proxy and clone (through DELEGATECALL), mint balances.
    for pool in world.pools.values():
        world.send(me, pool.router, encode_call("addPair(address)", pool.address), gas=120_000)
    init = "initialize(string,string,uint8,address)"
    world.send(me, proxy, encode_call(init, "Proxied USD", "pUSD", 18, me), gas=200_000)
    world.send(me, clone, encode_call(init, "Clone Token", "CLN", 18, me), gas=200_000)
    unit = {"WETH": ETHER, "USDC": 10**6, "DAI": ETHER, "pUSD": ETHER, "CLN": ETHER}
    liquidity = {
        "WETH/USDC#A": (1_000, 2_000_000), "WETH/USDC#B": (500, 1_000_000),
        "WETH/DAI#A": (800, 1_600_000), "USDC/DAI#A": (2_000_000, 2_000_000),
    }
    for name, (ax, ay) in liquidity.items():
        x, y = name.split("#")[0].split("/")
        world.send(me, t[x], encode_call("mint(address,uint256)", world.pools[name].address, ax * unit[x]), gas=90_000)
        world.send(me, t[y], encode_call("mint(address,uint256)", world.pools[name].address, ay * unit[y]), gas=90_000)
    world.mine()
    for holder in a["traders"] + [a["sandwich_bot"]]:
        for symbol, amount in (("WETH", 200), ("USDC", 400_000), ("DAI", 400_000)):
            world.send(me, t[symbol], encode_call("mint(address,uint256)", holder, amount * unit[symbol]), gas=90_000)
            world.mine_if_full()
    for holder in a["exchange_users"] + a["others"] + a["phishing_victims"]:  # they only ever move USDC
        world.send(me, t["USDC"], encode_call("mint(address,uint256)", holder, 20_000 * unit["USDC"]), gas=90_000)
        world.mine_if_full()
    for symbol, amount in (("WETH", 200), ("USDC", 400_000), ("DAI", 400_000)):
        world.send(me, t[symbol], encode_call("mint(address,uint256)", world.contracts["arbitrage_bot"],
                                               amount * unit[symbol]), gas=90_000)
    for holder in a["exchange_users"] + a["traders"][:5]:
        world.send(me, proxy, encode_call("mint(address,uint256)", holder, 5_000 * ETHER), gas=90_000)
        world.send(me, clone, encode_call("mint(address,uint256)", holder, 1_000 * ETHER), gas=90_000)
        world.mine_if_full()
    world.mine()

    # Block: liquidity, approvals of the routers, one delegated call through the executor.
    for pool in world.pools.values():
        world.send(me, pool.address, encode_call("mint(address)", me), gas=250_000)
    for trader in a["traders"] + [a["sandwich_bot"]]:
        for venue, symbols in (("A", ("WETH", "USDC", "DAI")), ("B", ("WETH", "USDC"))):  # what each venue trades
            for symbol in symbols:
                world.send(trader, t[symbol], encode_call("approve(address,uint256)", world.routers[venue], MAX_UINT),
                           gas=60_000)
                world.mine_if_full()
    world.send(me, executor, encode_call("execute(address,bytes)", logic, selector("symbol()")), gas=150_000)
    world.mine()


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


class _Exchange:
    """Users deposit to their own deposit address; each deposit address sweeps to the hot wallet."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        a = world.accounts
        self.hot = a["hot_wallet"]
        users = list(a["exchange_users"])
        rng.shuffle(users)
        self.members: dict[str, list[str]] = {d: [] for d in a["deposit_addresses"]}
        # Every user owns one deposit address, shared with the users of the same account.
        for i, user in enumerate(users):
            self.members[a["deposit_addresses"][i % len(self.members)]].append(user)
        self.due: dict[str, int] = {}  # deposit address -> block its sweep is due
        self.count = 0
        for d in self.members:
            world.truth["clusters"].append({"deposit_address": d, "hot_wallet": self.hot,
                                            "members": sorted(self.members[d]), "deposit_txs": [], "sweep_txs": []})

    def _cluster(self, deposit: str) -> dict[str, Any]:
        return next(c for c in self.world.truth["clusters"] if c["deposit_address"] == deposit)

    def deposit(self, block: int) -> None:
        w, rng = self.world, self.rng
        deposit = sorted(self.members)[self.count % len(self.members)]  # round robin: every address gets used
        self.count += 1
        user = rng.choice(self.members[deposit])
        cluster = self._cluster(deposit)
        cluster["deposit_txs"].append(w.transfer_eth(user, deposit, rng.randint(5, 200) * ETHER // 100))
        if rng.random() < 0.4:
            cluster["deposit_txs"].append(w.transfer_token(user, w.tokens["USDC"], deposit, rng.randint(100, 5_000) * 10**6))
        self.due.setdefault(deposit, block + rng.randint(1, 4))

    def sweep(self, block: int, force: bool = False) -> None:
        w = self.world
        for deposit, due in sorted(self.due.items()):
            if due > block and not force:
                continue
            cluster = self._cluster(deposit)
            usdc = w.balance_of(w.tokens["USDC"], deposit)
            price = w.backend.pending_base_fee() + GWEI
            if usdc:
                cluster["sweep_txs"].append(w.send(deposit, w.tokens["USDC"], encode_call(
                    "transfer(address,uint256)", self.hot, usdc), gas=90_000, gas_price=price))
            balance = w.backend.pending_balance(deposit)
            if balance > 21_000 * price:
                cluster["sweep_txs"].append(w.transfer_eth(deposit, self.hot, balance - 21_000 * price, gas_price=price))
            del self.due[deposit]


class _Scams:
    """Scam addresses collect ether and USDC from many victims and forward it within a block or two."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.world, self.rng = world, rng
        a = world.accounts
        self.entries = []
        for scam, cashout in zip(a["scam_addresses"], a["scam_cashouts"], strict=True):
            entry = {"address": scam, "forwards_to": cashout, "victims": [], "inbound_txs": [], "forward_txs": []}
            world.truth["scam_addresses"].append(entry)
            self.entries.append(entry)
        self.victims = a["others"][2:]
        self.due: dict[str, int] = {}
        self.count = 0

    def lure(self, block: int) -> None:
        w, rng = self.world, self.rng
        entry = self.entries[self.count % len(self.entries)]
        self.count += 1
        victim = rng.choice(self.victims)
        entry["inbound_txs"].append(w.transfer_eth(victim, entry["address"], rng.randint(10, 300) * ETHER // 100))
        if rng.random() < 0.3:
            entry["inbound_txs"].append(w.transfer_token(victim, w.tokens["USDC"], entry["address"],
                                                         rng.randint(50, 2_000) * 10**6))
        if victim not in entry["victims"]:
            entry["victims"].append(victim)
        self.due.setdefault(entry["address"], block + rng.randint(1, 2))

    def forward(self, block: int, force: bool = False) -> None:
        w = self.world
        for entry in self.entries:
            scam = entry["address"]
            if scam not in self.due or (self.due[scam] > block and not force):
                continue
            price = w.backend.pending_base_fee() + GWEI
            usdc = w.balance_of(w.tokens["USDC"], scam)
            if usdc:
                entry["forward_txs"].append(w.send(scam, w.tokens["USDC"], encode_call(
                    "transfer(address,uint256)", entry["forwards_to"], usdc), gas=90_000, gas_price=price))
            balance = w.backend.pending_balance(scam)
            if balance > 21_000 * price:
                entry["forward_txs"].append(w.transfer_eth(scam, entry["forwards_to"], balance - 21_000 * price,
                                                           gas_price=price))
            del self.due[scam]


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
