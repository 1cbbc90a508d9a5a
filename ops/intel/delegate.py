"""Where a DELEGATECALL's target comes from: a small abstract stack interpreter over EVM code.

Byte patterns see that a slot constant and a DELEGATECALL both occur somewhere; they cannot tell a
proxy that forwards to ``SLOAD(slot)`` from an implementation that only writes the slot and
delegates to an address from calldata. Following the values answers that. The interpreter starts
at offset 0 and walks basic blocks, taking JUMPs to constant destinations and both sides of a
JUMPI, with values that are constants, ``SLOAD`` of a constant slot, the first word returned by a
call, ``CALLDATASIZE`` plus a constant, or unknown. Memory is tracked for 32-byte words at known
offsets and for ``CODECOPY`` of known ranges, enough for ``SLOAD -> MSTORE -> MLOAD``, a beacon's
``implementation()`` answer, a constructor that copies its runtime out and RETURNs it, and
immutable arguments read back from the code's tail.

It never runs arbitrary paths: every (block, abstract stack) is visited at most once, a block at
most ``PER_BLOCK`` times, and ``budget`` instructions in all, so hostile code ends quickly.
Pure Python, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

WORD = (1 << 256) - 1
ADDRESS_MASK = (1 << 160) - 1
#: Instructions interpreted per code before giving up. Real proxies forward within ~3k (OpenZeppelin's
#: transparent proxy, admin dispatch first; a solc dispatcher falls through to its fallback early, and
#: the walk takes fall-throughs first); big implementations run out of budget in ~6 ms.
DEFAULT_BUDGET = 6_000
#: Distinct abstract stacks per block: a loop counter that keeps changing stops here.
PER_BLOCK = 12
MAX_STACK = 1024

# Abstract values: an int is a known constant; tuples are symbols; None is unknown.
#   ("sload", slot)  storage at a constant slot
#   ("ret", value)   the first word a call to `value` returned (a beacon's implementation())
#   ("cds", k)       CALLDATASIZE + k
# CODESIZE and code past the end are unknown, not zero: creation code usually comes without the
# constructor arguments it will be deployed with, and a constructor checking them must not revert.

# (pops, pushes) of every opcode the interpreter does not model one by one; pushes are unknown.
_GENERIC: dict[int, tuple[int, int]] = {
    0x08: (3, 1), 0x09: (3, 1), 0x0B: (2, 1), 0x12: (2, 1), 0x13: (2, 1), 0x1A: (2, 1), 0x1D: (2, 1),
    0x20: (2, 1), 0x30: (0, 1), 0x31: (1, 1), 0x32: (0, 1), 0x33: (0, 1), 0x34: (0, 1), 0x35: (1, 1),
    0x3A: (0, 1), 0x3B: (1, 1), 0x3F: (1, 1), 0x40: (1, 1), 0x41: (0, 1), 0x42: (0, 1), 0x43: (0, 1),
    0x44: (0, 1), 0x45: (0, 1), 0x46: (0, 1), 0x47: (0, 1), 0x48: (0, 1), 0x49: (1, 1), 0x4A: (0, 1),
    0x55: (2, 0), 0x59: (0, 1), 0x5A: (0, 1), 0x5C: (1, 1), 0x5D: (2, 0), 0xA0: (2, 0), 0xA1: (3, 0),
    0xA2: (4, 0), 0xA3: (5, 0), 0xA4: (6, 0), 0xF0: (3, 1), 0xF5: (4, 1),
}
_STOPS = frozenset({0x00, 0xFD, 0xFE, 0xFF})


@dataclass(frozen=True)
class Forward:
    """One DELEGATECALL reached with its target and calldata size as abstract values."""

    offset: int
    target: object
    args_size: object

    @property
    def forwards_calldata(self) -> bool:
        """The call passes on the caller's calldata (CALLDATASIZE bytes, maybe plus appended args)."""
        return isinstance(self.args_size, tuple) and self.args_size[0] == "cds"


@dataclass(frozen=True)
class Trace:
    forwards: tuple[Forward, ...]
    runtime: tuple[int, int] | None  # (offset, length) of code a constructor RETURNs
    steps: int
    exhausted: bool  # the budget ran out before every path was walked


def jumpdests(code: bytes) -> frozenset[int]:
    """Offsets of JUMPDEST instructions (not bytes inside PUSH data): the only legal jump targets."""
    found = []
    i = 0
    find = code.find
    while True:
        j = find(b"\x5b", i)
        if j < 0:
            break
        # Sweep from i to j, skipping PUSH data; j is a JUMPDEST only if the sweep lands on it.
        while i < j:
            op = code[i]
            i += op - 0x5E if 0x60 <= op <= 0x7F else 1
        if i == j:
            found.append(j)
            i = j + 1
    return frozenset(found)


def _word(code: bytes, start: int) -> int | None:
    """The word at `start` in the code; unknown past the end, where constructor arguments would be."""
    if start < 0 or start + 32 > len(code):
        return None
    return int.from_bytes(code[start : start + 32], "big")


class _Memory:
    """Words stored at known offsets, and CODECOPY regions (dest, src, size), newest last."""

    __slots__ = ("copies", "words")

    def __init__(self, words: dict | None = None, copies: tuple = ()):
        self.words = {} if words is None else words
        self.copies = copies

    def fork(self) -> _Memory:
        return _Memory(dict(self.words), self.copies)

    def clobber(self, start: object, size: object) -> None:
        """Forget what [start, start + size) held; an unknown range forgets what it may touch."""
        if isinstance(start, int) and isinstance(size, int):
            end = start + size
            self.words = {k: v for k, v in self.words.items() if not isinstance(k, int) or k + 32 <= start or k >= end}
            self.copies = tuple(c for c in self.copies if c[0] + c[2] <= start or c[0] >= end)
        elif isinstance(start, int):
            self.words = {k: v for k, v in self.words.items() if isinstance(k, int) and k + 32 <= start}
            self.copies = tuple(c for c in self.copies if c[0] + c[2] <= start)
        else:
            self.words = {}
            self.copies = ()

    def load(self, offset: object, code: bytes) -> object:
        if offset is None:
            return None
        if offset in self.words:
            return self.words[offset]
        if isinstance(offset, int):
            for dest, src, size in reversed(self.copies):
                if dest <= offset and offset + 32 <= dest + size:
                    return _word(code, src + offset - dest)
        return None


def _arith(op: int, a: object, b: object) -> object:
    """Binary operations; symbols survive the identities compilers emit (masks, +0, *1, /1, shifts by 0)."""
    if isinstance(a, int) and isinstance(b, int):
        if op == 0x01:
            return (a + b) & WORD
        if op == 0x02:
            return (a * b) & WORD
        if op == 0x03:
            return (a - b) & WORD
        if op == 0x04:
            return a // b if b else 0
        if op == 0x06:
            return a % b if b else 0
        if op == 0x05 or op == 0x07:
            return None
        if op == 0x0A:
            return pow(a, b, 1 << 256) if b < 1024 else None
        if op == 0x10:
            return int(a < b)
        if op == 0x11:
            return int(a > b)
        if op == 0x14:
            return int(a == b)
        if op == 0x16:
            return a & b
        if op == 0x17:
            return a | b
        if op == 0x18:
            return a ^ b
        if op == 0x1B:  # SHL(shift=a, value=b)
            return (b << a) & WORD if a < 256 else 0
        if op == 0x1C:
            return b >> a if a < 256 else 0
        return None
    if op == 0x16:  # AND with a low mask of at least 160 bits keeps an address-valued symbol
        mask, other = (a, b) if isinstance(a, int) else (b, a)
        if isinstance(mask, int) and mask >= ADDRESS_MASK and mask & (mask + 1) == 0:
            return other
        return None
    if op == 0x01:
        if isinstance(a, tuple) and a[0] == "cds" and isinstance(b, int):
            return ("cds", a[1] + b)
        if isinstance(b, tuple) and b[0] == "cds" and isinstance(a, int):
            return ("cds", b[1] + a)
        return a if b == 0 else b if a == 0 else None
    if op == 0x03:  # SUB(a, b) = a - b
        if isinstance(a, tuple) and a[0] == "cds" and isinstance(b, int):
            return ("cds", a[1] - b)
        return a if b == 0 else None
    if op == 0x02:
        return a if b == 1 else b if a == 1 else None
    if op == 0x04:
        return a if b == 1 else None
    if op in (0x1B, 0x1C):
        return b if a == 0 else None
    if op == 0x17 or op == 0x18:
        return a if b == 0 else b if a == 0 else None
    return None


_BINARY = frozenset({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x10, 0x11, 0x14, 0x16, 0x17, 0x18, 0x1B, 0x1C})


def trace(
    code: bytes,
    budget: int = DEFAULT_BUDGET,
    *,
    stop_at_forward: bool = True,
    valid_jumps: frozenset[int] | None = None,
) -> Trace:
    """Walk `code` from offset 0; every DELEGATECALL reached and the runtime a constructor returns.

    With `stop_at_forward`, the walk ends at the first DELEGATECALL whose target is a storage slot
    or a constant forwarding the calldata, or at the first RETURN of a code copy (creation code).
    `valid_jumps` are the JUMPDEST offsets when the caller's sweep already has them (``CodeScan``).
    """
    n = len(code)
    dests = valid_jumps
    forwards: list[Forward] = []
    runtime: tuple[int, int] | None = None
    seen: set[tuple[int, tuple]] = set()
    visits: dict[int, int] = {}
    work: list[tuple[int, list, _Memory, bool]] = [(0, [], _Memory(), False)]
    steps = 0
    while work:
        pc, stack, mem, called = work.pop()
        key = (pc, tuple(stack))
        if key in seen:
            continue
        count = visits.get(pc, 0)
        if count >= PER_BLOCK:
            continue
        visits[pc] = count + 1
        seen.add(key)
        if len(stack) > MAX_STACK:  # blocks push a bounded amount, so checking at entry is enough
            continue
        while pc < n:
            steps += 1
            if steps > budget:
                return Trace(tuple(forwards), runtime, steps, True)
            op = code[pc]
            if 0x60 <= op <= 0x7F:
                width = op - 0x5F
                stack.append(int.from_bytes(code[pc + 1 : pc + 1 + width].ljust(width, b"\x00"), "big"))
                pc += 1 + width
                continue
            pc += 1
            if 0x80 <= op <= 0x8F:
                depth = op - 0x7F
                if len(stack) < depth:
                    stack[:0] = [None] * (depth - len(stack))
                stack.append(stack[-depth])
                continue
            if 0x90 <= op <= 0x9F:
                depth = op - 0x8E
                if len(stack) < depth:
                    stack[:0] = [None] * (depth - len(stack))
                stack[-1], stack[-depth] = stack[-depth], stack[-1]
                continue
            if op in _BINARY:
                a = stack.pop() if stack else None
                b = stack.pop() if stack else None
                stack.append(_arith(op, a, b))
                continue
            if op == 0x5B:  # JUMPDEST
                continue
            if op == 0x50:  # POP
                if stack:
                    stack.pop()
                continue
            if op == 0x5F:  # PUSH0
                stack.append(0)
                continue
            if op == 0x15:  # ISZERO
                a = stack.pop() if stack else None
                stack.append(int(a == 0) if isinstance(a, int) else None)
                continue
            if op == 0x19:  # NOT
                a = stack.pop() if stack else None
                stack.append(a ^ WORD if isinstance(a, int) else None)
                continue
            if op == 0x54:  # SLOAD
                slot = stack.pop() if stack else None
                stack.append(("sload", slot) if isinstance(slot, int) else None)
                continue
            if op == 0x51:  # MLOAD
                offset = stack.pop() if stack else None
                stack.append(mem.load(offset, code))
                continue
            if op == 0x52 or op == 0x53:  # MSTORE, MSTORE8
                offset = stack.pop() if stack else None
                value = stack.pop() if stack else None
                mem.clobber(offset, 32 if op == 0x52 else 1)
                if op == 0x52 and offset is not None:
                    mem.words[offset] = value
                continue
            if op == 0x36:  # CALLDATASIZE
                stack.append(("cds", 0))
                continue
            if op == 0x38:  # CODESIZE: unknown, creation code may be given without its constructor arguments
                stack.append(None)
                continue
            if op == 0x3D:  # RETURNDATASIZE: zero until the first call (EIP-211)
                stack.append(None if called else 0)
                continue
            if op == 0x58:  # PC
                stack.append(pc - 1)
                continue
            if op == 0x39:  # CODECOPY(dest, offset, size)
                dest = stack.pop() if stack else None
                src = stack.pop() if stack else None
                size = stack.pop() if stack else None
                mem.clobber(dest, size)
                if isinstance(dest, int) and isinstance(src, int) and isinstance(size, int) and size < 1 << 24:
                    mem.copies = (*mem.copies, (dest, src, size))
                continue
            if op in (0x37, 0x3E, 0x3C, 0x5E):  # CALLDATACOPY, RETURNDATACOPY, EXTCODECOPY, MCOPY
                if op == 0x3C and stack:
                    stack.pop()
                dest = stack.pop() if stack else None
                if stack:
                    stack.pop()
                size = stack.pop() if stack else None
                mem.clobber(dest, size)
                continue
            if op in (0xF1, 0xF2, 0xF4, 0xFA):  # CALL, CALLCODE, DELEGATECALL, STATICCALL
                gas_and_target = [stack.pop() if stack else None for _ in range(2)]
                target = gas_and_target[1]
                if op in (0xF1, 0xF2) and stack:
                    stack.pop()  # value
                args = [stack.pop() if stack else None for _ in range(4)]  # argsOffset, argsSize, retOffset, retSize
                if op == 0xF4:
                    forward = Forward(pc - 1, target, args[1])
                    forwards.append(forward)
                    if stop_at_forward and _is_forward(forward):
                        return Trace(tuple(forwards), runtime, steps, False)
                mem.clobber(args[2], args[3])
                if args[2] is not None and target is not None and args[3] != 0:
                    mem.words[args[2]] = ("ret", target)
                called = True
                stack.append(None)
                continue
            if op == 0x56:  # JUMP
                dest = stack.pop() if stack else None
                if isinstance(dest, int) and dest < n and code[dest] == 0x5B:
                    if dests is None:
                        dests = jumpdests(code)
                    if dest in dests:
                        work.append((dest, stack, mem, called))
                break
            if op == 0x57:  # JUMPI
                dest = stack.pop() if stack else None
                cond = stack.pop() if stack else None
                if cond != 0 and isinstance(dest, int) and dest < n and code[dest] == 0x5B:
                    if dests is None:
                        dests = jumpdests(code)
                    if dest in dests:
                        if cond is not None:
                            work.append((dest, stack, mem, called))
                            break
                        work.append((dest, list(stack), mem.fork(), called))
                if isinstance(cond, int) and cond != 0:
                    break  # always taken (or taken to nowhere): no fall-through
                work.append((pc, stack, mem, called))
                break
            if op == 0xF3:  # RETURN(offset, size): a constructor returns the runtime it copied
                offset = stack.pop() if stack else None
                size = stack.pop() if stack else None
                if runtime is None and isinstance(offset, int) and isinstance(size, int) and size > 0:
                    for dest, src, length in reversed(mem.copies):
                        if dest == offset and 0 < length <= size and src < n:
                            runtime = (src, min(length, n - src))
                            break
                    if runtime is not None and stop_at_forward:
                        return Trace(tuple(forwards), runtime, steps, False)
                break
            if op in _STOPS:
                break
            effect = _GENERIC.get(op)
            if effect is None:  # an undefined opcode halts like INVALID
                break
            for _ in range(effect[0]):
                if stack:
                    stack.pop()
            stack.extend([None] * effect[1])
    return Trace(tuple(forwards), runtime, steps, False)


def _is_forward(forward: Forward) -> bool:
    """A DELEGATECALL that is a proxy forward: to a storage slot (directly or via a beacon), or to a
    constant while passing on the calldata. A constant call with fixed-size arguments is a library
    call; a target from calldata or anything computed is unknown and never a forward.
    """
    target = forward.target
    if isinstance(forward.args_size, int):
        return False
    if isinstance(target, int):
        return 0 < target <= ADDRESS_MASK and forward.forwards_calldata
    if isinstance(target, tuple):
        if target[0] == "sload":
            return True
        if target[0] == "ret":
            inner = target[1]
            return isinstance(inner, tuple) and inner[0] == "sload"
    return False


def proxy_forwards(trace_result: Trace) -> list[Forward]:
    """The DELEGATECALLs of a trace that forward as a proxy does (see `_is_forward`)."""
    return [f for f in trace_result.forwards if _is_forward(f)]
