"""Proxy detection by data flow: the labelled real bytecode, the fast path, and hostile code."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from ops.intel.contracts import analyze
from ops.intel.delegate import DEFAULT_BUDGET, trace
from ops.intel.proxy import (
    EIP1967_IMPLEMENTATION,
    ProxyInfo,
    classify_forward,
    detect_proxy,
    minimal_proxy_target,
    proxy_forwards,
    resolve_implementation,
)

DATA = Path(__file__).parent / "data" / "bytecodes.jsonl"
RECORDS = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
IMPL = "0x" + "ab" * 20
SLOT_HEX = EIP1967_IMPLEMENTATION[2:]


def code_of(record: dict) -> bytes:
    return bytes.fromhex(record["hex"][2:])


def interpreted(code: bytes) -> ProxyInfo:
    """The interpreter's answer with no fast path: walk, follow a returned runtime, classify."""
    walked = trace(code)
    if walked.runtime is not None:
        start, length = walked.runtime
        return interpreted(code[start : start + length])
    for forward in proxy_forwards(walked):
        info = classify_forward(forward)
        if info.is_proxy:
            return info
    return ProxyInfo()


def test_the_labelled_set_covers_every_kind_both_forms_and_non_proxies():
    assert len(RECORDS) >= 20
    kinds = {r["kind"] for r in RECORDS}
    assert kinds >= {"eip1167", "fixed", "eip1967", "eip1967_beacon", "eip1822", "zeppelinos", "safe", None}
    assert {r["form"] for r in RECORDS if r["kind"]} == {"runtime", "creation"}
    assert sum(r["kind"] is None for r in RECORDS) >= 8
    for r in RECORDS:
        assert r["source"] and r["path"] and r["license"], r["name"]
        assert (r["target"] is not None) == (r["kind"] in ("eip1167", "fixed")), r["name"]
        assert (r["slot"] is not None) == (r["kind"] not in (None, "eip1167", "fixed")), r["name"]


@pytest.mark.parametrize("record", RECORDS, ids=[r["name"] for r in RECORDS])
def test_every_labelled_code_is_classified_right(record):
    code = code_of(record)
    got = analyze(code).proxy
    assert (got.kind, got.target, got.slot) == (record["kind"], record["target"], record["slot"])
    assert got == detect_proxy(code)  # with or without the caller's sweep


def test_fast_path_equals_the_interpreter_on_the_set():
    fired = 0
    for record in RECORDS:
        code = code_of(record)
        target = minimal_proxy_target(code)
        slow = interpreted(code)
        if target is not None:
            fired += 1
            assert (slow.kind, slow.target) == ("fixed", target), record["name"]
        if record["kind"] == "eip1167":  # creation forms reach the standard runtime through the walk
            start, length = trace(code).runtime or (0, len(code))
            assert minimal_proxy_target(code[start : start + length]) == record["target"], record["name"]
        else:
            assert (slow.kind, slow.target, slow.slot) == (record["kind"], record["target"], record["slot"])
    assert fired >= 1


@pytest.mark.parametrize("zeros", [0, 1, 4, 19])
def test_vanity_clones_fast_path_and_interpreter_agree(zeros):
    target = bytes(zeros) + bytes(range(1, 21 - zeros))
    width = 20 - zeros
    code = (bytes.fromhex("363d3d373d3d3d363d") + bytes([0x5F + width]) + target[zeros:]
            + bytes.fromhex("5af43d82803e903d9160") + bytes([0x2B - zeros]) + bytes.fromhex("57fd5bf3"))
    expected = "0x" + target.hex()
    assert minimal_proxy_target(code) == expected
    assert detect_proxy(code) == ProxyInfo("eip1167", target=expected)
    assert (interpreted(code).kind, interpreted(code).target) == ("fixed", expected)
    wrong_jump = code[:-4] + bytes([code[-5] + 1]) + code[-4:]  # JUMPI no longer lands on the JUMPDEST
    assert len(wrong_jump) == len(code) + 1 and minimal_proxy_target(wrong_jump) is None


def test_target_through_memory_and_an_unknown_slot_is_storage():
    # Calldata copy; PUSH32 7, SLOAD, PUSH1 0x40, MSTORE; PUSH1 0x40 MLOAD as the DELEGATECALL target.
    slot = "00" * 31 + "07"
    code = bytes.fromhex("365f5f37" + "7f" + slot + "54604052" + "5f5f365f" + "604051" + "5af4" + "00")
    info = detect_proxy(code)
    assert info == ProxyInfo("storage", slot="0x" + slot)
    # Stored before the calldata copy, the word may have been overwritten by calldata: no evidence.
    clobbered = bytes.fromhex("7f" + slot + "54604052" + "365f5f37" + "5f5f365f" + "604051" + "5af4" + "00")
    assert detect_proxy(clobbered).kind is None
    assert resolve_implementation("0x" + "11" * 20, info, lambda a, s: "0x" + "00" * 12 + IMPL[2:]) == (IMPL, None)
    fixed = detect_proxy(bytes.fromhex("365f5f375f5f365f73" + IMPL[2:] + "5af400"))
    assert fixed == ProxyInfo("fixed", target=IMPL)
    assert resolve_implementation("0x" + "11" * 20, fixed, lambda a, s: pytest.fail("no storage read")) == (IMPL, None)


def test_a_uups_implementation_and_a_library_call_are_not_proxies():
    # Reads the EIP-1967 slot (proxiableUUID/onlyProxy checks) but DELEGATECALLs an address from calldata.
    uups = bytes.fromhex("7f" + SLOT_HEX + "5450" + "365f5f37" + "5f5f365f" + "600435" + "5af400")
    assert detect_proxy(uups).kind is None and analyze(uups).risk_reasons == ["delegatecall"]
    # A linked library call: a constant target, but 0x44 bytes of ABI-encoded arguments, not the calldata.
    library = bytes.fromhex("5f5f60445f73" + IMPL[2:] + "5af400")
    assert detect_proxy(library).kind is None
    # Only writing the slot (an upgrade function) with no forward at all.
    assert detect_proxy(bytes.fromhex("600435" + "7f" + SLOT_HEX + "5500")).kind is None


def test_the_slot_a_dead_delegatecall_names_is_no_evidence():
    # The slot constant and the DELEGATECALL sit after a STOP, behind no JUMPDEST: never reached.
    code = bytes.fromhex("00" + "7f" + SLOT_HEX + "545af4")
    assert detect_proxy(code).kind is None


def _jumpi_tree(depth: int) -> bytes:
    """Nested JUMPIs on unknown conditions: 2**depth paths, all through the same few blocks."""
    code = bytearray()
    for _ in range(depth):
        here = len(code)
        code += b"\x5b\x5f\x35\x61" + (here + 7).to_bytes(2, "big") + b"\x57"  # CALLDATALOAD(0) ? next : next
        code += b"\x5b"
    code += b"\x00"
    return bytes(code)


HOSTILE = {
    "empty": b"",
    "a lone PUSH32 at the end": b"\x7f",
    "PUSH32 truncated": b"\x7f" + b"\xff" * 5,
    "JUMP loop": bytes.fromhex("5b5f56"),
    "JUMP loop growing the stack": bytes.fromhex("5b5f5f56"),
    "JUMPI counter loop": bytes.fromhex("5f5b600101805f3557" + "6001" + "56"),
    "24 KB of random bytes": random.Random(14).randbytes(24 * 1024),
    "24 KB of JUMPDESTs": b"\x5b" * 24 * 1024,
    "24 KB of PUSH1s": b"\x60\x01" * 12 * 1024,
    "deep JUMPI tree": _jumpi_tree(400),
    "DELEGATECALL on an empty stack": b"\xf4",
    "jump into PUSH data": bytes.fromhex("600456605b00"),
    "stack underflow everywhere": bytes.fromhex("01020304f4f1fa39f3"),
}


@pytest.mark.parametrize("code", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_code_finishes_within_the_budget(code):
    start = time.perf_counter()
    walked = trace(code)
    info = detect_proxy(code)
    analyzed = analyze(code)
    took = time.perf_counter() - start
    assert walked.steps <= DEFAULT_BUDGET + 1
    assert took < 2.0
    assert info == analyzed.proxy
    assert info.kind is None or (info.kind == "fixed" and info.target) or info.slot


def test_random_code_is_bounded_and_never_claims_a_proxy_without_a_forward():
    rng = random.Random(7)
    for _ in range(40):
        code = rng.randbytes(rng.randrange(1, 4096))
        walked = trace(code)
        assert walked.steps <= DEFAULT_BUDGET + 1
        info = detect_proxy(code)
        if info.is_proxy:
            assert proxy_forwards(trace(code)) or trace(code).runtime is not None


def test_jumps_land_only_on_real_jumpdests():
    from ops.intel.delegate import jumpdests

    assert jumpdests(bytes.fromhex("600456605b005b")) == {6}  # the 0x5b at 4 is PUSH1 data
    # A forward behind a JUMP into PUSH data is never reached; behind a real JUMPDEST it is.
    forward = "365f5f375f5f365f73" + IMPL[2:] + "5af400"
    assert detect_proxy(bytes.fromhex("600456605b5b" + forward)).kind is None  # live to the sweep, never jumped to
    assert detect_proxy(bytes.fromhex("600456fe5b" + forward)).kind == "fixed"


def test_the_sweep_and_the_walk_agree_on_jumpdests():
    from ops.intel.delegate import jumpdests
    from ops.intel.evm import scan

    for record in RECORDS:
        code = code_of(record)
        assert scan(code).jumpdests == jumpdests(code), record["name"]


def test_the_budget_is_a_hard_stop():
    big = code_of(next(r for r in RECORDS if r["name"].startswith("GnosisSafe singleton")))
    walked = trace(big, budget=50)
    assert walked.exhausted and walked.steps == 51
    assert not trace(code_of(RECORDS[0])).exhausted
