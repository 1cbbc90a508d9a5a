"""What the conformance tests do on the peer node: ETH transfers, an ERC-20 deployed from the
project's Vyper source, token transfers, and blocks that hold several log-emitting transactions.

Transactions go out with ``eth_sendTransaction`` from the node's unlocked accounts (Hardhat's
default mnemonic), so no signing library is needed. ``one_block`` turns automine off, sends, mines
one block and turns automine back on (Ganache: ``miner_stop`` / ``miner_start``): that is how a
block gets two or more transactions.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.peer import PeerNode

GWEI = 10**9
ETHER = 10**18


def selector(signature: str) -> bytes:
    from eth_utils import keccak

    return keccak(text=signature)[:4]


def encode_call(signature: str, types: list[str], args: list[Any]) -> str:
    from eth_abi import encode

    return "0x" + (selector(signature) + encode(types, args)).hex()


#: Ganache 7 knows no hardfork after Shanghai (no MCOPY, no transient storage): compile for it.
EVM_VERSION = "shanghai"


@functools.cache
def compile_token() -> tuple[bytes, bytes]:
    """(creation code, runtime code) of the devnet's ERC-20 (orchestration/simulator/contracts/token.vy),
    compiled by the project's Vyper for ``EVM_VERSION`` (the devnet's own build targets the
    compiler's default, Prague)."""
    import warnings

    import vyper
    from vyper.compiler.settings import Settings

    from orchestration.simulator.compiler import CONTRACTS_DIR

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = vyper.compile_code(
            (CONTRACTS_DIR / "token.vy").read_text(),
            output_formats=["bytecode", "bytecode_runtime"],
            settings=Settings(evm_version=EVM_VERSION),
        )
    return bytes.fromhex(out["bytecode"][2:]), bytes.fromhex(out["bytecode_runtime"][2:])


def token_creation_code() -> bytes:
    return compile_token()[0]


@dataclass
class Actions:
    """Sends transactions on one node and remembers their hashes."""

    node: PeerNode
    accounts: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    #: Inside ``one_block``: transactions wait in the pool.
    paused: bool = False

    def __post_init__(self) -> None:
        if not self.accounts:
            self.accounts = [a.lower() for a in self.node.rpc("eth_accounts")]

    def send(self, sender: str, to: str | None = None, *, value: int = 0, data: str | None = None,
             gas: int | None = None) -> str:
        tx: dict[str, Any] = {"from": sender, "value": hex(value)}
        if to is not None:
            tx["to"] = to
        if data is not None:
            tx["data"] = data
        if gas is not None:
            tx["gas"] = hex(gas)
        tx_hash = self.node.rpc("eth_sendTransaction", tx)
        self.sent.append(tx_hash)
        if not self.paused:
            # One at a time while automining: Ganache in strict instamine drops a sender's next
            # transaction sent while its previous one is being mined (seen: unknown hash, nonce stuck).
            self.receipt(tx_hash)
        return tx_hash

    def eth(self, sender: str, to: str, wei: int) -> str:
        return self.send(sender, to, value=wei, gas=21_000)

    def deploy_tx(self, sender: str, creation_code: bytes, constructor: tuple[list[str], list[Any]]) -> str:
        """Send a contract creation; its transaction hash (the receipt names the address once mined)."""
        from eth_abi import encode

        data = "0x" + (creation_code + encode(*constructor)).hex()
        return self.send(sender, data=data, gas=3_000_000)

    def deploy(self, sender: str, creation_code: bytes, constructor: tuple[list[str], list[Any]]) -> str:
        """Deploy and wait for it (not inside ``one_block``); the created contract's address."""
        receipt = self.receipt(self.deploy_tx(sender, creation_code, constructor))
        assert receipt["status"] == "0x1", receipt
        return receipt["contractAddress"].lower()

    def receipt(self, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
        """The receipt, once mined (Ganache in strict instamine answers the hash first)."""
        deadline = time.monotonic() + timeout
        while (receipt := self.node.rpc("eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{tx_hash} not mined after {timeout} s"
            time.sleep(0.02)
        return receipt

    def settle(self) -> None:
        """Wait until everything sent so far is mined."""
        for tx_hash in self.sent:
            self.receipt(tx_hash)

    def mint(self, token: str, minter: str, receiver: str, amount: int) -> str:
        return self.send(minter, token, data=encode_call("mint(address,uint256)", ["address", "uint256"],
                                                         [receiver, amount]), gas=200_000)

    def transfer(self, token: str, sender: str, receiver: str, amount: int, *, gas: int = 200_000) -> str:
        return self.send(sender, token, data=encode_call("transfer(address,uint256)", ["address", "uint256"],
                                                         [receiver, amount]), gas=gas)

    def approve(self, token: str, owner: str, spender: str, amount: int) -> str:
        return self.send(owner, token, data=encode_call("approve(address,uint256)", ["address", "uint256"],
                                                        [spender, amount]), gas=200_000)

    @contextmanager
    def one_block(self) -> Iterator[Actions]:
        """Everything sent inside goes into the one block mined on leaving (automine off meanwhile)."""
        self.settle()
        self.node.pause_mining()
        self.paused = True
        try:
            yield self
            self.node.mine()
        finally:
            self.paused = False
            self.node.resume_mining()
        self.settle()
