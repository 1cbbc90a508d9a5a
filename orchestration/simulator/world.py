"""The scenario's world: the contracts it deploys and funds, and the ``World`` that builds its blocks.

``World`` holds the devnet backend, the accounts by role, tokens, pools, routers and contracts, and
the ground truth being written; its methods add transactions to the pending block (swaps,
transfers), read pending state (reserves, balances, quotes) and mine. ``_setup`` plays the six
setup blocks. The scenario (`scenario.py`), its episodes (`episodes.py`) and ``--live``
(`live.py`) all build their blocks through it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from orchestration.simulator import compiler
from orchestration.simulator.chain import DevnetBackend

GWEI = 10**9
ETHER = 10**18
MAX_UINT = 2**256 - 1
DEADLINE = 2**40


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


def hex_data(address: str) -> bytes:
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

    return generate_contract_address(hex_data(sender), nonce)


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
    proxy_tx = world.send(me, None, compiler.eip1967_initcode(hex_data(logic)), gas=300_000)
    clone = "0x" + _contract_address(me, world.backend.pending_nonce(me)).hex()
    clone_tx = world.send(me, None, compiler.eip1167_initcode(hex_data(logic)), gas=300_000)
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
