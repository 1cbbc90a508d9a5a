"""Proxy patterns: which one a contract's code follows, and where its implementation lives.

From the code alone we learn the *kind* and either the fixed target or the storage slot the target
is read from. The evidence is where the DELEGATECALL's address comes from (``ops.intel.delegate``
follows it): a constant is a fixed forwarder (``eip1167`` when the code is exactly the standard
clone, else ``fixed``), ``SLOAD`` of a known slot names the standard, slot 0 is a Safe's master
copy, any other slot is ``storage``. Creation code is judged by the runtime it returns.
The address behind a slot is the node's business: the resolver takes
``storage_at(address, slot) -> hex word`` and ``call(address, data) -> hex`` as plain callables
(``eth_getStorageAt`` / ``eth_call`` in production, dicts in tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ops.intel.delegate import ADDRESS_MASK, Forward, proxy_forwards, trace
from ops.intel.evm import CodeScan, scan

EIP1967_IMPLEMENTATION = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
EIP1967_BEACON = "0xa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6cb3582b35133d50"
EIP1967_ADMIN = "0xb53127684a568b3173ae13b9f8a6016e243e63b6e8ee1178d6a717850b5d6103"
EIP1822_PROXIABLE = "0xc5f16f0fcc639fa48a6947836d9850f504798523bf8c9a3a87d5876cf622bcf7"
ZEPPELINOS_IMPLEMENTATION = "0x7050c9e0f4ca769c69bd3a8ef740bc37934f8e2c036e5a723fd8ee048ed3f8c3"
SAFE_MASTER_COPY_SLOT = "0x" + "00" * 32
#: ``implementation()`` of an EIP-1967 beacon.
BEACON_IMPLEMENTATION_CALL = "0x5c60da1b"

#: Slot-based kinds in order of precedence: (kind, slot).
SLOT_KINDS: tuple[tuple[str, str], ...] = (
    ("eip1967", EIP1967_IMPLEMENTATION),
    ("eip1967_beacon", EIP1967_BEACON),
    ("eip1822", EIP1822_PROXIABLE),
    ("zeppelinos", ZEPPELINOS_IMPLEMENTATION),
    ("safe", SAFE_MASTER_COPY_SLOT),
)
_SLOT_KIND = {int(slot, 16): kind for kind, slot in SLOT_KINDS}
_BEACON_SLOT = int(EIP1967_BEACON, 16)
#: Instructions walked in code whose only DELEGATECALL can be in the runtime it returns.
CREATION_ONLY_BUDGET = 500
#: Creation code nests at most this deep (a factory's initcode returning a constructor is not a thing).
_MAX_NESTING = 2

# EIP-1167: CALLDATACOPY the input, PUSH20/PUSHn target, DELEGATECALL, return or revert the output.
# The PUSH may be shorter than 20 bytes for vanity (leading-zero) targets, the EIP's "vanity address
# optimization"; the JUMPI then lands Z bytes earlier. The interpreter gives the same answer (a
# test holds it to that); this is the fast path and the test of "exactly the standard form".
_EIP1167 = re.compile(
    rb"\A\x36\x3d\x3d\x37\x3d\x3d\x3d\x36\x3d([\x60-\x73])(.+?)\x5a\xf4\x3d\x82\x80\x3e\x90\x3d\x91"
    rb"\x60([\x00-\xff])\x57\xfd\x5b\xf3\Z",
    re.DOTALL,
)

DELEGATECALL = 0xF4


@dataclass(frozen=True)
class ProxyInfo:
    kind: str | None = None  # eip1167 | fixed | eip1967 | eip1967_beacon | eip1822 | zeppelinos | safe | storage
    target: str | None = None  # a fixed implementation (eip1167, fixed)
    slot: str | None = None  # where the implementation (or beacon) address is stored

    @property
    def is_proxy(self) -> bool:
        return self.kind is not None

    def as_dict(self) -> dict[str, str | None]:
        return {"kind": self.kind, "target": self.target, "slot": self.slot}


def minimal_proxy_target(code: bytes) -> str | None:
    """The implementation an EIP-1167 clone forwards to, or None when the code is not a clone."""
    match = _EIP1167.match(code)
    if match is None:
        return None
    width = match.group(1)[0] - 0x5F
    target = match.group(2)
    if len(target) != width or match.group(3)[0] != len(code) - 2:  # the JUMPI lands on the JUMPDEST
        return None
    return "0x" + target.rjust(20, b"\x00").hex()


def detect_proxy(code: bytes, found: CodeScan | None = None, *, _depth: int = 0) -> ProxyInfo:
    """The proxy pattern of `code` (already swept into `found`, when the caller has it), or an empty ProxyInfo.

    A DELEGATECALL whose target comes from calldata or is computed is no proxy forward: an
    implementation that only *writes* an EIP-1967 slot (UUPS ``upgradeTo``) and delegates to the
    new implementation it was given stays ``kind None``. Code with no live DELEGATECALL is only
    walked when it may be creation code (CODECOPY and RETURN live), to find the runtime it returns.
    """
    target = minimal_proxy_target(code)
    if target is not None:
        return ProxyInfo("eip1167", target=target)
    if found is None:
        found = scan(code)
    valid_jumps = found.jumpdests or None  # a sweep built without them leaves the walk to find its own
    if DELEGATECALL in found.opcodes:
        walked = trace(code, valid_jumps=valid_jumps)
    elif {0x39, 0xF3} <= found.opcodes and b"\xf4" in code:
        # The runtime's DELEGATECALL is dead to the sweep only when that runtime has no JUMPDEST
        # before it: a hand-written forwarder, whose constructor is a few instructions long.
        walked = trace(code, CREATION_ONLY_BUDGET, valid_jumps=valid_jumps)
    else:
        return ProxyInfo()
    if walked.runtime is not None and _depth < _MAX_NESTING:
        start, length = walked.runtime
        runtime = code[start : start + length]
        if runtime != code:
            return detect_proxy(runtime, _depth=_depth + 1)
    for forward in proxy_forwards(walked):
        info = classify_forward(forward)
        if info.is_proxy:
            return info
    return ProxyInfo()


def classify_forward(forward: Forward) -> ProxyInfo:
    """The ProxyInfo a proxy-forwarding DELEGATECALL stands for (see ``ops.intel.delegate``)."""
    target = forward.target
    if isinstance(target, int):
        return ProxyInfo("fixed", target=f"0x{target & ADDRESS_MASK:040x}")
    if isinstance(target, tuple) and target[0] == "sload":
        slot = target[1]
        return ProxyInfo(_SLOT_KIND.get(slot, "storage"), slot=f"0x{slot:064x}")
    if isinstance(target, tuple) and target[0] == "ret" and target[1] == ("sload", _BEACON_SLOT):
        return ProxyInfo("eip1967_beacon", slot=EIP1967_BEACON)
    return ProxyInfo()


def word_to_address(word: str | None) -> str | None:
    """The address in the low 20 bytes of a 32-byte word; None for zero or empty."""
    if not word or word in ("0x", "0x0"):
        return None
    value = int(word, 16)
    if value == 0 or value >= 1 << 160:
        return None
    return f"0x{value:040x}"


def resolve_implementation(
    address: str,
    proxy: ProxyInfo,
    storage_at: Callable[[str, str], str],
    call: Callable[[str, str], str] | None = None,
) -> tuple[str | None, str | None]:
    """(implementation, beacon) of the proxy at `address`; (None, None) when its slot is empty.

    A beacon proxy's slot holds the beacon; the implementation is the beacon's ``implementation()``.
    ``eip1167`` and ``fixed`` carry their target; every slot kind (``storage`` too) reads its slot.
    """
    if proxy.kind is None:
        return None, None
    if proxy.target is not None:
        return proxy.target, None
    stored = word_to_address(storage_at(address, proxy.slot))
    if proxy.kind != "eip1967_beacon":
        return stored, None
    if stored is None or call is None:
        return None, stored
    return word_to_address(call(stored, BEACON_IMPLEMENTATION_CALL)), stored
