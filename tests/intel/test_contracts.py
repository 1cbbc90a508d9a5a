"""Contract analysis on hand-assembled bytecode (each case built to trip one rule) and on Vyper builds."""

from __future__ import annotations

import cbor2
import pytest

from ops.intel.contracts import analyze
from ops.intel.evm import disassemble, scan
from ops.intel.proxy import (
    EIP1822_PROXIABLE,
    EIP1967_BEACON,
    EIP1967_IMPLEMENTATION,
    ZEPPELINOS_IMPLEMENTATION,
    resolve_implementation,
)
from tests.intel.conftest import dispatcher, minimal_proxy, slot_proxy

IMPL = "0x" + "ab" * 20


def test_push_data_is_never_read_as_opcodes():
    # PUSH32 of 0xff..ff, PUSH1 0xf4, PUSH2 0x32f2, then STOP: no SELFDESTRUCT/DELEGATECALL/ORIGIN/CALLCODE.
    code = bytes.fromhex("7f" + "ff" * 32 + "60f4" + "6132f2" + "00")
    assert [i.name for i in disassemble(code)] == ["PUSH32", "PUSH1", "PUSH2", "STOP"]
    flags = analyze(code).flags
    assert not any(flags.values()), flags
    # The same bytes as real instructions are flagged.
    live = analyze(bytes.fromhex("32f4f2f5ff"))
    assert live.flags == {"selfdestruct": True, "delegatecall": True, "callcode": True, "create2": True, "origin": True}
    assert set(live.risk_reasons) == {"selfdestruct", "callcode", "origin", "delegatecall"}


def test_dead_bytes_after_a_terminator_are_data_until_a_jumpdest():
    assert not analyze(bytes.fromhex("00ff")).flags["selfdestruct"]  # STOP then data
    assert not analyze(bytes.fromhex("fdf4")).flags["delegatecall"]  # REVERT then data
    assert analyze(bytes.fromhex("005bff")).flags["selfdestruct"]  # reachable again via JUMPDEST


def test_truncated_push_at_the_end_is_padded_not_an_error():
    (only,) = list(disassemble(bytes.fromhex("61ff")))
    assert only.name == "PUSH2" and only.argument == bytes.fromhex("ff00")
    assert scan(bytes.fromhex("61ff")).instructions == 1


def test_solc_metadata_tail_gives_the_compiler_and_is_not_code():
    meta = cbor2.dumps({"ipfs": b"\x12\x20" + b"\xff" * 32, "solc": bytes([0, 8, 19])})
    code = dispatcher(["a9059cbb"]) + meta + len(meta).to_bytes(2, "big")
    result = analyze(code)
    assert (result.compiler.name, result.compiler.version, result.compiler.source) == ("solc", "0.8.19", "metadata")
    assert not result.flags["selfdestruct"]  # the 0xff bytes of the IPFS hash are metadata


def test_selectors_come_with_state_mutability():
    result = analyze(dispatcher(["a9059cbb", "70a08231"]))
    assert [s["selector"] for s in result.selectors] == ["70a08231", "a9059cbb"]
    assert all(s["state_mutability"] in {"pure", "view", "payable", "nonpayable"} for s in result.selectors)


def test_interfaces_erc20_erc721_via_erc165_and_erc1155():
    erc20 = ["18160ddd", "70a08231", "a9059cbb", "23b872dd", "095ea7b3", "dd62ed3e"]
    assert analyze(dispatcher(erc20)).interfaces == ["erc20"]
    nft = ["01ffc9a7", "6352211e", "42842e0e", "b88d4fde", "a22cb465", "081812fc", "e985e9c5", "70a08231"]
    push_721 = bytes.fromhex("6380ac58cd50")  # PUSH4 0x80ac58cd POP: the id supportsInterface compares
    assert analyze(dispatcher(nft, push_721)).interfaces == ["erc165", "erc721"]
    assert analyze(dispatcher(nft)).interfaces == ["erc165"]  # ERC-721 functions but no ERC-165 claim
    multi = ["01ffc9a7", "f242432a", "2eb2c2d6", "4e1273f4", "00fdd58e", "a22cb465", "e985e9c5"]
    assert analyze(dispatcher(multi, bytes.fromhex("63d9b67a2650"))).interfaces == ["erc165", "erc1155"]


def test_minimal_proxy_has_a_fixed_target_and_no_selectors():
    result = analyze(minimal_proxy(IMPL))
    assert result.proxy.kind == "eip1167" and result.proxy.target == IMPL
    assert result.selectors == [] and not result.risky  # its DELEGATECALL is what a proxy is for
    # One byte off the pattern is not the standard clone, but it still forwards every call to IMPL.
    off_by_one = analyze(minimal_proxy(IMPL)[:-1] + b"\x00").proxy
    assert (off_by_one.kind, off_by_one.target) == ("fixed", IMPL)
    # The same bytes with the target taken from calldata (PUSH0 CALLDATALOAD) forward nothing fixed.
    from_calldata = minimal_proxy(IMPL).replace(b"\x73" + bytes.fromhex(IMPL[2:]), b"\x5f\x35")
    assert analyze(from_calldata).proxy.kind is None


@pytest.mark.parametrize(
    ("slot", "kind"),
    [
        (EIP1967_IMPLEMENTATION, "eip1967"),
        (EIP1967_BEACON, "eip1967_beacon"),
        (EIP1822_PROXIABLE, "eip1822"),
        (ZEPPELINOS_IMPLEMENTATION, "zeppelinos"),
    ],
)
def test_slot_proxies_are_recognized_by_their_slot(slot, kind):
    result = analyze(slot_proxy(slot))
    assert result.proxy.kind == kind and result.proxy.slot == slot
    assert not result.risky


def test_a_slot_constant_without_delegatecall_is_no_proxy():
    code = bytes.fromhex("7f" + EIP1967_IMPLEMENTATION[2:] + "5500")  # writes the slot (an upgrade function)
    assert analyze(code).proxy.kind is None


def test_safe_proxy_by_master_copy_selector():
    body = bytes.fromhex("63a619486e505f545af400")  # PUSH4 masterCopy() POP, SLOAD slot 0, DELEGATECALL
    result = analyze(body)
    assert result.proxy.kind == "safe" and result.proxy.slot == "0x" + "00" * 32


def test_implementation_resolved_through_storage_and_beacon():
    proxy_address, beacon = "0x" + "11" * 20, "0x" + "22" * 20
    storage = {(proxy_address, EIP1967_IMPLEMENTATION): "0x" + "00" * 12 + IMPL[2:]}
    proxy = analyze(slot_proxy(EIP1967_IMPLEMENTATION)).proxy
    assert resolve_implementation(proxy_address, proxy, lambda a, s: storage.get((a, s), "0x0")) == (IMPL, None)
    empty = resolve_implementation("0x" + "33" * 20, proxy, lambda a, s: "0x" + "00" * 32)
    assert empty == (None, None)

    beacon_proxy = analyze(slot_proxy(EIP1967_BEACON)).proxy
    storage = {(proxy_address, EIP1967_BEACON): "0x" + "00" * 12 + beacon[2:]}
    calls = {(beacon, "0x5c60da1b"): "0x" + "00" * 12 + IMPL[2:]}
    resolved = resolve_implementation(
        proxy_address, beacon_proxy, lambda a, s: storage.get((a, s), "0x0"), lambda a, d: calls[(a, d)]
    )
    assert resolved == (IMPL, beacon)


def test_devnet_contracts_compiled_with_vyper(vyper_runtime):
    token = analyze(vyper_runtime("token"))
    assert "erc20" in token.interfaces and not token.risky
    assert token.compiler.name == "vyper"  # Vyper puts its CBOR on the initcode; the preamble tells
    assert {"a9059cbb": "nonpayable", "70a08231": "view"}.items() <= {
        s["selector"]: s["state_mutability"] for s in token.selectors
    }.items()
    executor = analyze(vyper_runtime("executor"))
    assert executor.flags["delegatecall"] and executor.risk_reasons == ["delegatecall"]
    vault = analyze(vyper_runtime("vault"))
    assert vault.flags["selfdestruct"] and "selfdestruct" in vault.risk_reasons
    pair = analyze(vyper_runtime("pair"))
    assert not pair.risky and pair.proxy.kind is None


def test_bad_hex_is_a_clear_error():
    with pytest.raises(ValueError, match="not hex"):
        analyze("0xzz")
    with pytest.raises(ValueError, match="odd"):
        analyze("0xabc")
