"""EVM bytecode: a disassembler that never reads PUSH data as opcodes, and the facts a risk scan needs.

A linear sweep is what the EVM itself does to find valid JUMPDESTs, so it is the right notion of
"an instruction": the byte 0xff inside a PUSH32 constant is data, not SELFDESTRUCT. On top of that,
code after a terminating instruction (STOP, RETURN, REVERT, INVALID, SELFDESTRUCT, JUMP) is only
reachable again from a JUMPDEST; bytes in such dead stretches (solc's trailing data, constructor
arguments, strings) are skipped for the flags, so a constant that happens to look like an opcode
never raises one. The compiler's CBOR metadata tail is cut off before the sweep.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_NAMES: dict[int, str] = {
    0x00: "STOP", 0x01: "ADD", 0x02: "MUL", 0x03: "SUB", 0x04: "DIV", 0x05: "SDIV", 0x06: "MOD", 0x07: "SMOD",
    0x08: "ADDMOD", 0x09: "MULMOD", 0x0A: "EXP", 0x0B: "SIGNEXTEND", 0x10: "LT", 0x11: "GT", 0x12: "SLT",
    0x13: "SGT", 0x14: "EQ", 0x15: "ISZERO", 0x16: "AND", 0x17: "OR", 0x18: "XOR", 0x19: "NOT", 0x1A: "BYTE",
    0x1B: "SHL", 0x1C: "SHR", 0x1D: "SAR", 0x20: "KECCAK256", 0x30: "ADDRESS", 0x31: "BALANCE", 0x32: "ORIGIN",
    0x33: "CALLER", 0x34: "CALLVALUE", 0x35: "CALLDATALOAD", 0x36: "CALLDATASIZE", 0x37: "CALLDATACOPY",
    0x38: "CODESIZE", 0x39: "CODECOPY", 0x3A: "GASPRICE", 0x3B: "EXTCODESIZE", 0x3C: "EXTCODECOPY",
    0x3D: "RETURNDATASIZE", 0x3E: "RETURNDATACOPY", 0x3F: "EXTCODEHASH", 0x40: "BLOCKHASH", 0x41: "COINBASE",
    0x42: "TIMESTAMP", 0x43: "NUMBER", 0x44: "PREVRANDAO", 0x45: "GASLIMIT", 0x46: "CHAINID",
    0x47: "SELFBALANCE", 0x48: "BASEFEE", 0x49: "BLOBHASH", 0x4A: "BLOBBASEFEE", 0x50: "POP", 0x51: "MLOAD",
    0x52: "MSTORE", 0x53: "MSTORE8", 0x54: "SLOAD", 0x55: "SSTORE", 0x56: "JUMP", 0x57: "JUMPI", 0x58: "PC",
    0x59: "MSIZE", 0x5A: "GAS", 0x5B: "JUMPDEST", 0x5C: "TLOAD", 0x5D: "TSTORE", 0x5E: "MCOPY", 0x5F: "PUSH0",
    0xA0: "LOG0", 0xA1: "LOG1", 0xA2: "LOG2", 0xA3: "LOG3", 0xA4: "LOG4", 0xF0: "CREATE", 0xF1: "CALL",
    0xF2: "CALLCODE", 0xF3: "RETURN", 0xF4: "DELEGATECALL", 0xF5: "CREATE2", 0xFA: "STATICCALL",
    0xFD: "REVERT", 0xFE: "INVALID", 0xFF: "SELFDESTRUCT",
}
_NAMES.update({0x60 + i: f"PUSH{i + 1}" for i in range(32)})
_NAMES.update({0x80 + i: f"DUP{i + 1}" for i in range(16)})
_NAMES.update({0x90 + i: f"SWAP{i + 1}" for i in range(16)})

#: Opcode byte -> name; bytes without an opcode disassemble as "UNKNOWN_0x..".
OPCODES: dict[int, str] = _NAMES
#: Instructions after which the next byte is only reached through a JUMPDEST.
TERMINATORS = frozenset({0x00, 0x56, 0xF3, 0xFD, 0xFE, 0xFF})
#: The opcodes a risk scan reports, by flag name.
RISK_OPCODES: dict[int, str] = {
    0xFF: "selfdestruct",
    0xF4: "delegatecall",
    0xF2: "callcode",
    0xF5: "create2",
    0x32: "origin",
}


@dataclass(frozen=True)
class Instruction:
    offset: int
    opcode: int
    argument: bytes = b""

    @property
    def name(self) -> str:
        return OPCODES.get(self.opcode, f"UNKNOWN_0x{self.opcode:02x}")

    def __str__(self) -> str:
        return f"{self.offset:05x} {self.name}" + (f" 0x{self.argument.hex()}" if self.argument else "")


def to_bytes(code: str | bytes) -> bytes:
    """Runtime bytecode from hex text (with or without 0x, whitespace ignored) or bytes."""
    if isinstance(code, bytes | bytearray):
        return bytes(code)
    text = "".join(code.split())
    if text[:2].lower() == "0x":
        text = text[2:]
    if len(text) % 2:
        raise ValueError("bytecode hex has an odd number of digits")
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise ValueError(f"bytecode is not hex: {exc}") from None


def disassemble(code: bytes) -> Iterator[Instruction]:
    """Every instruction in order; a PUSH's data is its argument (zero-padded when the code ends early)."""
    i, n = 0, len(code)
    while i < n:
        op = code[i]
        if 0x60 <= op <= 0x7F:
            width = op - 0x5F
            arg = code[i + 1 : i + 1 + width]
            yield Instruction(i, op, arg.ljust(width, b"\x00"))
            i += 1 + width
        else:
            yield Instruction(i, op)
            i += 1


@dataclass(frozen=True)
class CodeScan:
    """What one sweep finds: live opcodes, the PUSH4 and PUSH32 constants of live code, instruction count,
    and the offsets of every JUMPDEST instruction (live or not: the legal jump targets)."""

    opcodes: frozenset[int]
    push4: frozenset[bytes]
    push32: frozenset[bytes]
    instructions: int
    jumpdests: frozenset[int] = frozenset()


def scan(code: bytes) -> CodeScan:
    """One linear sweep (see the module docstring): live opcodes and constants, PUSH data skipped.

    Written as one tight loop because it runs on every contract of every range.
    """
    ops: set[int] = set()
    push4: set[bytes] = set()
    push32: set[bytes] = set()
    dests: list[int] = []
    i, n, count, live = 0, len(code), 0, True
    terminators = TERMINATORS
    while i < n:
        op = code[i]
        count += 1
        if op == 0x5B:
            live = True
            dests.append(i)
        if op >= 0x60 and op <= 0x7F:
            width = op - 0x5F
            if live:
                if width == 4:
                    push4.add(code[i + 1 : i + 5])
                elif width == 32:
                    push32.add(code[i + 1 : i + 33])
                ops.add(op)
            i += 1 + width
            continue
        if live:
            ops.add(op)
            if op in terminators:
                live = False
        i += 1
    return CodeScan(frozenset(ops), frozenset(push4), frozenset(push32), count, frozenset(dests))


def risk_flags(found: CodeScan) -> dict[str, bool]:
    return {flag: op in found.opcodes for op, flag in RISK_OPCODES.items()}
