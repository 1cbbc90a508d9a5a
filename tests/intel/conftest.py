"""Shared builders for the chain-intelligence tests: hand-assembled bytecode and compiled Vyper."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.serving.conftest import client, make_client  # noqa: F401 - the API fixtures, reused

CONTRACTS = REPO_ROOT / "orchestration" / "simulator" / "contracts"


def dispatcher(selectors: list[str], body: bytes = b"") -> bytes:
    """Runtime code with a solc-style selector dispatcher; each function runs `body` then STOPs."""
    code = bytearray(bytes.fromhex("60003560e01c"))  # PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR
    holes = []
    for selector in selectors:
        code += b"\x80\x63" + bytes.fromhex(selector) + b"\x14\x61"  # DUP1 PUSH4 sel EQ PUSH2 dest
        holes.append(len(code))
        code += b"\x00\x00\x57"  # JUMPI
    code += b"\x00"
    for hole in holes:
        code[hole : hole + 2] = len(code).to_bytes(2, "big")
        code += b"\x5b" + body + b"\x00"
    return bytes(code)


def minimal_proxy(target: str) -> bytes:
    return bytes.fromhex("363d3d373d3d3d363d73" + target[2:] + "5af43d82803e903d91602b57fd5bf3")


def slot_proxy(slot: str) -> bytes:
    """A forwarding fallback that reads its target from `slot` and DELEGATECALLs it."""
    return bytes.fromhex(
        "365f5f375f5f365f7f" + slot[2:] + "545af43d5f5f3e3d5f5f3e6036573d5ffd5b3d5ff3"
    )


@pytest.fixture(scope="session")
def vyper_runtime():
    """name -> runtime bytecode of a devnet contract, compiled once per session."""
    from vyper.compiler import compile_code

    cache: dict[str, str] = {}

    def compile_runtime(name: str) -> str:
        if name not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                source = Path(CONTRACTS / f"{name}.vy").read_text()
                cache[name] = compile_code(source, output_formats=["bytecode_runtime"])["bytecode_runtime"]
        return cache[name]

    return compile_runtime
