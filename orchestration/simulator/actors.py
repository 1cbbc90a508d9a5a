"""Who is who in the scenario, and the actors that act in the background of every block.

``build_backend`` draws the roles (traders, bots, an exchange's deposit addresses and hot wallet,
scam addresses, a phisher and its victims...) from the seed and funds them at genesis; the roles
that start unfunded get every wei from a visible source. ``_Exchange`` (deposits swept to the hot
wallet) and ``_Scams`` (lures forwarded to cash-out addresses) act block after block beside the episodes,
and write the clusters and scam addresses of the ground truth.
"""

from __future__ import annotations

import random
from typing import Any

from orchestration.simulator.chain import DevnetBackend
from orchestration.simulator.world import ETHER, GWEI, World, encode_call

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
