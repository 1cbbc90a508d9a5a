"""Compile the devnet's Vyper contracts once and keep the result on disk.

Compiling all of them takes several seconds; the cache key is the source's hash plus the vyper
version, so a second start reads JSON instead, and an edited contract or a new compiler recompiles
by itself. Two contracts are not Vyper: the EIP-1967 proxy and the EIP-1167 clone are assembled
here, byte by byte, because a proxy must hand back the implementation's return data unchanged and
Vyper 0.4.3 has no raw return (a Vyper fallback ABI-encodes whatever it returns).
"""

from __future__ import annotations

import hashlib
import json
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).parent / "contracts"
CONTRACTS = ("token", "pair", "router", "arb_bot", "executor", "vault", "sandwich_bot")

#: EIP-1967 implementation slot: keccak256("eip1967.proxy.implementation") - 1.
EIP1967_IMPLEMENTATION_SLOT = 0x360894A13BA1A3210667C828492DB98DCA3E2076CC3735A920A3CA505D382BBC
#: keccak256("Upgraded(address)"), the event EIP-1967 proxies emit when the implementation is set.
UPGRADED_TOPIC = 0xBC7CD75A20EE27FD9ADEBAB32041F755214DBC6BFFA90CC0225B39DA2E5C2D3B

_lock = threading.Lock()
_memory: dict[str, Contract] = {}


@dataclass(frozen=True)
class Contract:
    """A compiled contract: ABI, creation bytecode and runtime bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    runtime: bytes

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "abi": self.abi, "bytecode": self.bytecode.hex(), "runtime": self.runtime.hex()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contract:
        return cls(data["name"], data["abi"], bytes.fromhex(data["bytecode"]), bytes.fromhex(data["runtime"]))


def cache_key(name: str) -> str:
    import vyper

    source = (CONTRACTS_DIR / f"{name}.vy").read_bytes()
    return hashlib.sha256(source + b"\0vyper " + vyper.__version__.encode()).hexdigest()[:24]


def compile_contract(name: str, cache_dir: Path) -> tuple[Contract, bool]:
    """The compiled contract and whether it came from the cache (memory or disk)."""
    key = cache_key(name)
    with _lock:
        if key in _memory:
            return _memory[key], True
        path = cache_dir / f"{name}-{key}.json"
        if path.is_file():
            contract = Contract.from_json(json.loads(path.read_text()))
            _memory[key] = contract
            return contract, True
        import vyper

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # selfdestruct's deprecation: the vault uses it on purpose
            out = vyper.compile_code(
                (CONTRACTS_DIR / f"{name}.vy").read_text(), output_formats=["abi", "bytecode", "bytecode_runtime"]
            )
        contract = Contract(name, out["abi"], bytes.fromhex(out["bytecode"][2:]), bytes.fromhex(out["bytecode_runtime"][2:]))
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(contract.to_json()))
        tmp.replace(path)  # atomic: a concurrent reader never sees half a file
        _memory[key] = contract
        return contract, False


def compile_all(cache_dir: Path, progress: Any = None) -> dict[str, Contract]:
    """Every devnet contract; ``progress(name, cached)`` is called after each one."""
    contracts = {}
    for name in CONTRACTS:
        contracts[name], cached = compile_contract(name, cache_dir)
        if progress is not None:
            progress(name, cached)
    return contracts


def default_cache_dir() -> Path:
    from resources.settings import get_settings

    return get_settings().resolved_home / "devnet" / "build"


# --- hand-assembled proxies --------------------------------------------------------------------


def eip1167_runtime(implementation: bytes) -> bytes:
    """The 45-byte EIP-1167 minimal proxy runtime that DELEGATECALLs everything to ``implementation``."""
    assert len(implementation) == 20
    return bytes.fromhex("363d3d373d3d3d363d73") + implementation + bytes.fromhex("5af43d82803e903d91602b57fd5bf3")


def eip1167_initcode(implementation: bytes) -> bytes:
    """Creation code that returns the EIP-1167 runtime (the standard 10-byte prefix)."""
    return bytes.fromhex("3d602d80600a3d3981f3") + eip1167_runtime(implementation)


def eip1967_runtime() -> bytes:
    """EIP-1167's forwarding code, with the target read from the EIP-1967 slot (PUSH32 slot, SLOAD)."""
    code = (
        bytes.fromhex("363d3d373d3d3d363d7f")
        + EIP1967_IMPLEMENTATION_SLOT.to_bytes(32, "big")
        + bytes.fromhex("545af43d82803e903d91603857fd5bf3")
    )
    assert len(code) == 58 and code[0x38] == 0x5B  # the JUMPDEST the success branch jumps to
    return code


def eip1967_initcode(implementation: bytes) -> bytes:
    """Creation code: store the constructor argument in the EIP-1967 slot, log Upgraded, return runtime.

    Layout: ``[constructor][runtime][implementation as one 32-byte word]``.
    """
    assert len(implementation) == 20
    runtime = eip1967_runtime()

    def constructor(runtime_at: int) -> bytes:
        arg_at = runtime_at + len(runtime)
        return (
            bytes([0x60, 0x20, 0x60, arg_at, 0x60, 0x00, 0x39])  # CODECOPY(0, arg_at, 32)
            + bytes([0x60, 0x00, 0x51, 0x80])  # MLOAD(0) -> impl, DUP1
            + b"\x7f" + EIP1967_IMPLEMENTATION_SLOT.to_bytes(32, "big") + b"\x55"  # SSTORE(slot, impl)
            + b"\x7f" + UPGRADED_TOPIC.to_bytes(32, "big")  # topic0; topic1 = impl (left on the stack)
            + bytes([0x60, 0x00, 0x60, 0x00, 0xA2])  # LOG2(0, 0, topic0, impl)
            + bytes([0x60, len(runtime), 0x60, runtime_at, 0x60, 0x00, 0x39])  # CODECOPY(0, runtime_at, n)
            + bytes([0x60, len(runtime), 0x60, 0x00, 0xF3])  # RETURN(0, n)
        )

    size = len(constructor(0))
    head = constructor(size)
    assert len(head) == size and size + len(runtime) + 32 < 256
    return head + runtime + implementation.rjust(32, b"\0")
