"""The ground truth agrees with the chain, and the same seed plays the same chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from orchestration.simulator import actors, episodes, scenario
from tests.services import free_port

SWAP = "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822"
TRANSFER = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
APPROVAL = "0x8c5be1e5ebec7d5bd14f71427d1e84f3dd0314c0f7b2291e5b200ac8c7c3b925"
REPO = Path(__file__).resolve().parents[2]


def _swaps(receipt: dict) -> list[tuple[str, list[int], str, str]]:
    """(pool, [a0In, a1In, a0Out, a1Out], sender, to) for each Swap log."""
    out = []
    for log in receipt["logs"]:
        if log["topics"][0] == SWAP:
            data = bytes.fromhex(log["data"][2:])
            amounts = [int.from_bytes(data[i : i + 32], "big") for i in range(0, 128, 32)]
            out.append((log["address"], amounts, "0x" + log["topics"][1][-40:], "0x" + log["topics"][2][-40:]))
    return out


def _direction(amounts: list[int]) -> str:
    return "0->1" if amounts[0] > 0 else "1->0"


def test_every_kind_of_event_was_played(truth):
    assert len(truth["sandwiches"]) >= 3 and len(truth["arbitrages"]) >= 3
    assert len(truth["non_sandwiches"]) >= 1 and len(truth["approvals_to_eoas"]) >= 2
    assert len(truth["clusters"]) >= 3 and len(truth["scam_addresses"]) == 2
    assert truth["proxies"] and truth["clones"] and len(truth["risky_contracts"]) >= 4
    assert truth["last_block"] > truth["first_block"] and truth["failed_txs"]
    assert {c["kind"] for c in truth["hard_sandwiches"]} == set(episodes.HARD_SANDWICHES)
    assert truth["failed_sandwiches"] and len(truth["phishing"][0]["victims"]) >= 2


def test_hard_sandwiches_are_what_their_kind_says(rpc, truth):
    bot = truth["contracts"]["sandwich_contract"]
    for case in truth["hard_sandwiches"]:
        front, back = (rpc("eth_getTransactionReceipt", h) for h in (case["front_tx"], case["back_tx"]))
        victims = [rpc("eth_getTransactionReceipt", h) for h in case["victim_txs"]]
        assert {r["blockNumber"] for r in (front, back, *victims)} == {hex(case["block"])}
        assert all(r["status"] == "0x1" for r in (front, back, *victims))
        order = [int(r["transactionIndex"], 16) for r in (front, *victims, back)]
        assert order == sorted(order)
        front_pools = {s[0] for s in _swaps(front)}
        assert set(case["pools"]) <= front_pools and set(case["pools"]) <= {s[0] for s in _swaps(back)}
        assert all(any(s[0] in case["pools"] for s in _swaps(v)) for v in victims)
        kind = case["kind"]
        if kind == "multi_pool":
            assert len(case["pools"]) == 2 and len(_swaps(front)) == 2 and front["to"] == bot
        elif kind == "multi_hop":
            assert len(_swaps(front)) == 2 and len(_swaps(back)) == 2  # through an intermediate pool
            assert len(front_pools - set(case["pools"])) == 1
        elif kind in ("router_bot", "contract_bot"):
            assert front["from"] != back["from"] and front["to"] == back["to"] == bot  # rotating senders
            senders = {s[2] for s in _swaps(front) + _swaps(back)}
            assert (senders == {bot}) == (kind == "contract_bot")  # calls the pair itself, or a router does
            sent = int(rpc("eth_getTransactionByHash", case["back_tx"])["value"], 16)
            assert sent == int(case["coinbase_internal_wei"])  # the tip it forwards to the coinbase inside
            if sent:
                block, before = hex(case["block"]), hex(case["block"] - 1)
                assert int(rpc("eth_getBalance", bot, block), 16) == int(rpc("eth_getBalance", bot, before), 16)
        else:  # partial_backrun: sells back less than it bought
            bought = max(_swaps(front)[0][1][2:])
            sold = max(_swaps(back)[0][1][:2])
            assert sold < bought and abs(sold / bought - case["sold_fraction"]) < 1e-9


def test_failed_sandwich_back_run_reverted_and_the_tips_reached_the_coinbase(rpc, truth):
    for case in truth["failed_sandwiches"]:
        assert rpc("eth_getTransactionReceipt", case["front_tx"])["status"] == "0x1"
        back = rpc("eth_getTransactionReceipt", case["back_tx"])
        assert back["status"] == "0x0" and back["logs"] == []
        assert {"block": case["block"], "tx": case["back_tx"], "reason": case["reason"]} in truth["failed_txs"]
    tipped = [s for s in truth["sandwiches"] if int(s["coinbase_wei"])]
    assert tipped
    for s in tipped:
        block = rpc("eth_getBlockByNumber", hex(s["block"]), True)
        tips = [t for t in block["transactions"] if t["to"] == block["miner"] and t["from"] == s["attacker"]]
        assert sum(int(t["value"], 16) for t in tips) == int(s["coinbase_wei"])
    for s in truth["sandwiches"]:
        receipts = [rpc("eth_getTransactionReceipt", h) for h in (s["front_tx"], s["back_tx"])]
        assert sum(int(r["gasUsed"], 16) * int(r["effectiveGasPrice"], 16) for r in receipts) == int(s["gas_cost_wei"])


def test_phishing_victims_approve_the_scammer_who_pulls_their_tokens(rpc, truth):
    entry = truth["phishing"][0]
    assert entry["scammer"] == truth["accounts"]["phisher"]
    assert rpc("eth_getCode", entry["scammer"], "latest") == "0x"
    owners = set()
    for tx in entry["approval_txs"]:
        log = rpc("eth_getTransactionReceipt", tx)["logs"][0]
        assert log["topics"][0] == APPROVAL and log["topics"][2][-40:] == entry["scammer"][2:]
        owners.add("0x" + log["topics"][1][-40:])
    assert owners == set(entry["victims"])
    for tx in entry["drain_txs"]:
        receipt = rpc("eth_getTransactionReceipt", tx)
        assert receipt["from"] == entry["scammer"]
        moved = [log for log in receipt["logs"] if log["topics"][0] == TRANSFER]
        assert moved and "0x" + moved[0]["topics"][1][-40:] in owners
        assert moved[0]["topics"][2][-40:] == entry["scammer"][2:]


def test_sandwiches_are_front_victims_back_in_one_block(rpc, truth):
    for s in truth["sandwiches"]:
        txs = [s["front_tx"], *s["victim_txs"], s["back_tx"]]
        receipts = [rpc("eth_getTransactionReceipt", h) for h in txs]
        assert {r["blockNumber"] for r in receipts} == {hex(s["block"])}
        indexes = [int(r["transactionIndex"], 16) for r in receipts]
        assert indexes == list(range(indexes[0], indexes[0] + len(txs)))  # in order, nothing in between
        assert receipts[0]["from"] == receipts[-1]["from"] == s["attacker"]
        assert all(r["from"] != s["attacker"] for r in receipts[1:-1])
        swaps = [_swaps(r) for r in receipts]
        assert all(len(x) == 1 and x[0][0] == s["pool"] for x in swaps)
        front_dir = _direction(swaps[0][0][1])
        assert all(_direction(x[0][1]) == front_dir for x in swaps[1:-1])  # victims trade the same way
        assert _direction(swaps[-1][0][1]) != front_dir  # the back-run sells what the front-run bought
        front_in = max(swaps[0][0][1][:2])
        back_out = max(swaps[-1][0][1][2:])
        assert str(back_out - front_in) == s["profit"]


def test_non_sandwiches_have_no_victim_in_between(rpc, truth):
    for case in truth["non_sandwiches"]:
        receipts = [rpc("eth_getTransactionReceipt", h) for h in case["txs"]]
        a, b = (int(r["transactionIndex"], 16) for r in receipts)
        assert b == a + 1 and receipts[0]["from"] == receipts[1]["from"] == case["actor"]
        assert _direction(_swaps(receipts[0])[0][1]) != _direction(_swaps(receipts[1])[0][1])


def test_arbitrages_cycle_back_to_the_start_token_with_profit(rpc, truth):
    for arb in truth["arbitrages"]:
        receipt = rpc("eth_getTransactionReceipt", arb["tx"])
        assert receipt["status"] == "0x1" and receipt["to"] == arb["bot"] and receipt["from"] == arb["owner"]
        path = arb["token_path"]
        assert path[0] == path[-1] == arb["profit_token"] and len(path) == len(arb["pools"]) + 1
        assert len(set(arb["pools"])) == len(arb["pools"])  # different pools
        assert [s[0] for s in _swaps(receipt)] == arb["pools"]
        moved = {}
        for log in receipt["logs"]:
            if log["topics"][0] == TRANSFER and log["address"] == path[0]:
                frm, to = "0x" + log["topics"][1][-40:], "0x" + log["topics"][2][-40:]
                delta = int(log["data"], 16)
                moved[arb["bot"]] = moved.get(arb["bot"], 0) + (delta if to == arb["bot"] else 0) - (
                    delta if frm == arb["bot"] else 0
                )
        assert int(arb["profit"]) > 0 and moved[arb["bot"]] == int(arb["profit"])


def test_deposit_addresses_sweep_to_the_hot_wallet(rpc, truth):
    for cluster in truth["clusters"]:
        deposit, hot = cluster["deposit_address"], cluster["hot_wallet"]
        deposit_blocks = []
        for h in cluster["deposit_txs"]:
            tx = rpc("eth_getTransactionByHash", h)
            assert tx["from"] in cluster["members"]
            receipt = rpc("eth_getTransactionReceipt", h)
            to_deposit = tx["to"] == deposit or any(
                log["topics"][0] == TRANSFER and log["topics"][2][-40:] == deposit[2:] for log in receipt["logs"]
            )
            assert to_deposit
            deposit_blocks.append(int(tx["blockNumber"], 16))
        sweep_blocks = []
        for h in cluster["sweep_txs"]:
            tx = rpc("eth_getTransactionByHash", h)
            assert tx["from"] == deposit
            receipt = rpc("eth_getTransactionReceipt", h)
            assert tx["to"] == hot or any(log["topics"][2][-40:] == hot[2:] for log in receipt["logs"])
            sweep_blocks.append(int(tx["blockNumber"], 16))
        assert all(any(0 <= s - d <= 8 for s in sweep_blocks) for d in deposit_blocks)  # swept within a few blocks
        assert rpc("eth_getBalance", deposit, hex(truth["last_block"])) == "0x0"


def test_scam_addresses_collect_from_many_and_forward_quickly(rpc, truth):
    for scam in truth["scam_addresses"]:
        assert len(scam["victims"]) >= 2
        inbound = [int(rpc("eth_getTransactionByHash", h)["blockNumber"], 16) for h in scam["inbound_txs"]]
        forwards = [rpc("eth_getTransactionByHash", h) for h in scam["forward_txs"]]
        assert all(f["from"] == scam["address"] for f in forwards)
        out_blocks = [int(f["blockNumber"], 16) for f in forwards]
        assert all(any(0 < o - i <= 6 for o in out_blocks) for i in inbound)
        assert rpc("eth_getBalance", scam["address"], hex(truth["last_block"])) == "0x0"


def test_approvals_to_eoas(rpc, truth):
    for approval in truth["approvals_to_eoas"]:
        assert rpc("eth_getCode", approval["spender"], "latest") == "0x"  # an externally owned account
        receipt = rpc("eth_getTransactionReceipt", approval["tx"])
        log = receipt["logs"][0]
        assert log["topics"][0] == APPROVAL and log["address"] == approval["token"]
        assert log["topics"][1][-40:] == approval["owner"][2:] and log["topics"][2][-40:] == approval["spender"][2:]
        assert int(log["data"], 16) == int(approval["amount"])
        if approval["used_tx"]:
            assert rpc("eth_getTransactionByHash", approval["used_tx"])["from"] == approval["spender"]


def test_failed_transactions_are_on_chain_with_status_zero(rpc, truth):
    for failed in truth["failed_txs"]:
        receipt = rpc("eth_getTransactionReceipt", failed["tx"])
        assert receipt["status"] == "0x0" and receipt["blockNumber"] == hex(failed["block"])


def test_ground_truth_file_round_trips(truth, tmp_path):
    path = scenario.write_ground_truth(truth, tmp_path / "gt" / "truth.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(truth))


def test_same_seed_same_chain_and_live_blocks(build_dir):
    first = scenario.play(5, blocks=10, cache_dir=build_dir)
    second = scenario.play(5, blocks=10, cache_dir=build_dir)
    assert first.truth == second.truth
    head = first.truth["last_block"]
    hashes = [
        [w.backend.call("eth_getBlockByNumber", [hex(n), False])["hash"] for n in range(head + 1)]
        for w in (first, second)
    ]
    assert hashes[0] == hashes[1]
    _, other_roles = actors.build_backend(6)
    assert other_roles["traders"] != first.truth["accounts"]["traders"]  # the seed casts the actors

    from orchestration.simulator.live import LiveProducer

    producer = LiveProducer(first, block_seconds=60, seed=5)
    number = producer.produce_one()
    block = first.backend.call("eth_getBlockByNumber", [hex(number), False])
    assert number == head + 1 and block["transactions"]
    assert int(block["timestamp"], 16) > time.time() - 3600  # live blocks run on the wall clock

    # With mev_share 1 every live block is a sandwich or an arbitrage of the scenario's kind, in its truth.
    before = {kind: len(first.truth[kind]) for kind in ("sandwiches", "arbitrages")}
    busy = LiveProducer(first, block_seconds=60, seed=6, mev_share=1.0)
    numbers = [busy.produce_one() for _ in range(6)]
    found = [e["block"] for kind in before for e in first.truth[kind][before[kind]:]]
    assert numbers == list(range(number + 1, number + 7))
    assert len(found) >= 4 and set(found) <= set(numbers)  # an arbitrage with no profitable cycle is ordinary
    def txs_of(n: int) -> list[dict]:
        return first.backend.call("eth_getBlockByNumber", [hex(n), True])["transactions"]

    earlier = {tx["to"] for m in range(numbers[0]) for tx in txs_of(m)}
    for n in numbers:  # each block pays an address no earlier block mentions
        txs = txs_of(n)
        assert {tx["to"] for tx in txs if int(tx["value"], 16) > 0} - earlier
        earlier |= {tx["to"] for tx in txs}
    with pytest.raises(ValueError, match="share"):
        LiveProducer(first, block_seconds=60, seed=6, mev_share=1.5)


def _devnet_cli(build_dir, tmp_path, blocks: int, **popen) -> tuple[subprocess.Popen, int, Path]:
    """`sextant devnet` in a child on a free port, with a home whose compiled contracts are the session's;
    the child, its port and where it writes the ground truth."""
    home = tmp_path / "home"
    (home / "devnet").mkdir(parents=True)
    (home / "devnet" / "build").symlink_to(build_dir)
    port = free_port()
    truth_path = tmp_path / "truth.json"
    env = {**os.environ, "SEXTANT_HOME": str(home)}
    cmd = [sys.executable, "-m", "orchestration.cli", "devnet", "--port", str(port), "--seed", "3",
           "--blocks", str(blocks), "--ground-truth", str(truth_path)]
    child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)
    return child, port, truth_path


def test_cli_serves_and_stops_on_ctrl_c(build_dir, tmp_path):
    child, port, truth_path = _devnet_cli(build_dir, tmp_path, blocks=8)
    try:
        deadline = time.monotonic() + 240
        number = None
        while time.monotonic() < deadline and child.poll() is None:
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}", json={
                    "jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, timeout=5).json()
                if "result" in answer:
                    number = int(answer["result"], 16)
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        assert number is not None, child.stdout.read().decode() if child.poll() is not None else "no answer"
        assert json.loads(truth_path.read_text())["last_block"] == number
    finally:
        child.send_signal(signal.SIGINT)
        output = child.communicate(timeout=30)[0].decode()
    assert child.returncode == 0, output
    assert "devnet stopped" in output


def test_ctrl_c_stops_the_devnet_even_when_the_parent_blocked_and_ignored_sigint(build_dir, tmp_path):
    """A background job starts with SIGINT ignored; a thread that blocked it passes the mask on."""

    def as_a_background_job() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    child, _, truth_path = _devnet_cli(build_dir, tmp_path, blocks=4, preexec_fn=as_a_background_job)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and child.poll() is None and not truth_path.exists():
            time.sleep(0.5)
        time.sleep(1)  # serving now, in its Ctrl-C loop
    finally:
        child.send_signal(signal.SIGINT)
        output = child.communicate(timeout=60)[0].decode()
    assert child.returncode == 0, output
    assert "devnet stopped" in output
