"""Contracts: V2 event signatures, the compile cache, the EIP-1967 proxy and the EIP-1167 clone."""

from __future__ import annotations

from eth_hash.auto import keccak

from orchestration.simulator import compiler

# Uniswap V2's topic hashes, as published in its contracts and seen on mainnet.
V2_TOPICS = {
    "Swap": "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
    "Sync": "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1",
    "Transfer": "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef",
    "Mint": "0x4c209b5fc8ad50758f13e2e1088ba56a560dff690a1c6fef26394f4c03821c4f",
    "Approval": "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925",
}


def _event_topics(abi: list[dict]) -> dict[str, str]:
    return {
        item["name"]: "0x" + keccak(f"{item['name']}({','.join(i['type'] for i in item['inputs'])})".encode()).hex()
        for item in abi
        if item["type"] == "event"
    }


def test_pair_and_token_events_have_uniswap_v2_topic_hashes(build_dir):
    pair, _ = compiler.compile_contract("pair", build_dir)
    token, _ = compiler.compile_contract("token", build_dir)
    pair_topics, token_topics = _event_topics(pair.abi), _event_topics(token.abi)
    for name in ("Swap", "Sync", "Transfer", "Mint"):
        assert pair_topics[name] == V2_TOPICS[name]
    assert token_topics["Transfer"] == V2_TOPICS["Transfer"] and token_topics["Approval"] == V2_TOPICS["Approval"]
    swap = next(e for e in pair.abi if e.get("name") == "Swap")
    assert [i["indexed"] for i in swap["inputs"]] == [True, False, False, False, False, True]


def test_swap_logs_on_chain_carry_v2_topics(rpc, truth):
    receipt = rpc("eth_getTransactionReceipt", truth["sandwiches"][0]["front_tx"])
    topics = {log["topics"][0] for log in receipt["logs"]}
    assert {V2_TOPICS["Swap"], V2_TOPICS["Sync"], V2_TOPICS["Transfer"]} <= topics


def test_compile_cache_is_reused_from_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(compiler, "_memory", {})
    _, cached = compiler.compile_contract("executor", tmp_path)
    assert cached is False
    files = list(tmp_path.glob("executor-*.json"))
    assert len(files) == 1 and compiler.cache_key("executor") in files[0].name
    monkeypatch.setattr(compiler, "_memory", {})  # a new process: only the disk cache is left
    contract, cached = compiler.compile_contract("executor", tmp_path)
    assert cached is True and contract.runtime and contract.abi


def test_proxy_slot_holds_the_implementation(rpc, truth):
    proxy = truth["proxies"][0]
    slot = rpc("eth_getStorageAt", proxy["address"], hex(compiler.EIP1967_IMPLEMENTATION_SLOT), "latest")
    assert "0x" + slot[-40:] == proxy["implementation"]
    receipt = rpc("eth_getTransactionReceipt", proxy["creation_tx"])
    assert receipt["contractAddress"] == proxy["address"]
    upgraded = "0x" + keccak(b"Upgraded(address)").hex()
    assert [log["topics"] for log in receipt["logs"]] == [[upgraded, "0x" + "00" * 12 + proxy["implementation"][2:]]]


def test_calls_through_proxy_and_clone_reach_their_own_storage(w3, truth):
    symbols = {t["address"]: t["symbol"] for t in truth["tokens"]}
    for kind in ("proxies", "clones"):
        address = truth[kind][0]["address"]
        data = keccak(b"symbol()")[:4]
        out = w3.eth.call({"to": w3.to_checksum_address(address), "data": data})
        assert out[64 : 64 + len(symbols[address])].decode() == symbols[address]  # its own, not the logic's
    logic = truth["proxies"][0]["implementation"]
    assert truth["clones"][0]["implementation"] == logic


def test_clone_runtime_is_the_eip1167_pattern(rpc, truth):
    clone = truth["clones"][0]
    code = rpc("eth_getCode", clone["address"], "latest")
    assert code == "0x363d3d373d3d3d363d73" + clone["implementation"][2:] + "5af43d82803e903d91602b57fd5bf3"
    assert len(bytes.fromhex(code[2:])) == 45
    receipt = rpc("eth_getTransactionReceipt", clone["creation_tx"])
    assert receipt["contractAddress"] == clone["address"] and receipt["to"] is None


def test_risky_contracts_contain_their_opcodes(rpc, truth):
    for entry in truth["risky_contracts"]:
        code = bytes.fromhex(rpc("eth_getCode", entry["address"], "latest")[2:])
        opcodes = _opcodes(code)
        if "delegatecall" in entry["flags"]:
            assert 0xF4 in opcodes, entry
        if "selfdestruct" in entry["flags"]:
            assert 0xFF in opcodes, entry


def _opcodes(code: bytes) -> set[int]:
    """Opcodes actually executed as instructions (PUSH data skipped)."""
    seen, i = set(), 0
    while i < len(code):
        op = code[i]
        seen.add(op)
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)
    return seen
