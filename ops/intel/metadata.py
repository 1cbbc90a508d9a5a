"""The compiler's CBOR metadata tail, and a preamble guess when there is none.

solc appends ``cbor({"ipfs"|"bzzr0"|"bzzr1": hash, "solc": version, ...}) || uint16 length`` to the
runtime code. Vyper 0.3.10+ appends ``cbor([.., {"vyper": [major, minor, patch]}])`` to the
*initcode* only, so runtime code from a node usually carries none; its dispatcher preamble
(``PUSH0 CALLDATALOAD PUSH1 0xe0 SHR``) still tells it apart from solc's ``PUSH1 0x80 PUSH1 0x40 MSTORE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HASH_KEYS = ("ipfs", "bzzr1", "bzzr0")


@dataclass(frozen=True)
class CompilerInfo:
    name: str | None = None  # "solc" | "vyper" | None
    version: str | None = None
    source: str = "none"  # "metadata" (CBOR tail) | "preamble" (guess) | "none"
    metadata_offset: int | None = None  # where the CBOR tail starts; code ends there
    fields: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "source": self.source,
                "metadata_offset": self.metadata_offset, "fields": self.fields}


def _version(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray) and len(value) == 3:
        return ".".join(str(b) for b in value)
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        return ".".join(str(v) for v in value)
    if isinstance(value, str):
        return value
    return None


def _decode_tail(code: bytes) -> tuple[Any, int] | None:
    if len(code) < 4:
        return None
    length = int.from_bytes(code[-2:], "big")
    start = len(code) - 2 - length
    if length == 0 or start < 0:
        return None
    import cbor2

    try:
        return cbor2.loads(code[start:-2]), start
    except Exception:  # noqa: BLE001 - arbitrary bytes that are not CBOR: no metadata
        return None


def compiler_info(code: bytes) -> CompilerInfo:
    """Compiler and version from the CBOR tail, else a guess from the preamble, else nothing."""
    decoded = _decode_tail(code)
    if decoded is not None:
        value, start = decoded
        if isinstance(value, dict) and any(k in value for k in (*HASH_KEYS, "solc", "experimental")):
            fields = {k: (v.hex() if isinstance(v, bytes) else v) for k, v in value.items() if isinstance(k, str)}
            return CompilerInfo("solc", _version(value.get("solc")), "metadata", start, fields)
        if isinstance(value, list) and value and isinstance(value[-1], dict) and "vyper" in value[-1]:
            return CompilerInfo("vyper", _version(value[-1]["vyper"]), "metadata", start, {})
    if code[:5] == bytes.fromhex("6080604052") or code[:5] == bytes.fromhex("6060604052"):
        return CompilerInfo("solc", None, "preamble")
    if code[:5] in (bytes.fromhex("5f3560e01c"), bytes.fromhex("60003560e0"), bytes.fromhex("3d3560e01c")):
        return CompilerInfo("vyper", None, "preamble")
    return CompilerInfo()
