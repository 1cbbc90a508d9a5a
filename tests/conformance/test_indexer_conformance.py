"""The indexer against two independent node implementations: Hardhat Network and Ganache.

Every test runs once per peer (the ``peer`` fixture, tests/conformance/conftest.py). A scenario
plays plain ETH transfers, deploys the devnet's ERC-20 (token.vy, compiled by the project's
Vyper), mints, and mines blocks holding several token transfers, an approval, an ETH transfer
and a reverted transfer together, plus a block where a second token is created beside transfers
of the first. The indexer then indexes through real Dagster runs planned by the new-block sensor,
and through the command line (``sextant chain index``, ``sextant chain status --json``), and
every table is compared, row by row and column by column, with what the node answers to plain
JSON-RPC calls the test makes itself (``tests/conformance/truth.py``). The reorg test indexes a
branch, reverts it (``evm_snapshot`` / ``evm_revert``), mines different transactions at the same
heights, lets the sensor see the reorg and re-index, and compares again: no orphan rows.

How the peers differ from the project's devnet (eth-tester behind orchestration/simulator), found by
``python -m tests.conformance.characterize`` and pinned by ``test_peer_quirks_the_suite_relies_on``:

=============================  ==========================  ===========================  ==========================
                               devnet (py-evm)             Hardhat 2.29.1 (EDR)         Ganache 7.9.2
=============================  ==========================  ===========================  ==========================
unknown method                 -32601 "the method X does   -32004 "Method X is not      -32700 (parse error!) "The
                               not exist/is not            supported" (data: method,    method X does not exist/is
                               available"                  params)                      not available" + JS stack
eth_getBlockReceipts           supported                   -32004, also per element     -32700, also per element
                                                           of a batch                   of a batch
receipts' logIndex             block-wide                  block-wide (same as          restarts at 0 in every
                                                           eth_getLogs)                 transaction; eth_getLogs is
                                                                                        block-wide
totalDifficulty / difficulty   difficulty, = difficulty    "0x0" / "0x0"                "0x0" / "0x0"
mixHash                        counter-derived             prevRandao (random)          random
miner                          0xb1d0...b1d0               0xc014ba5e... (coinbase)     0x000...000
blob fields / beacon root      Cancun+ fields present      present (Prague:             absent (Shanghai at most)
                                                           requestsHash too)
pending block                  hash, nonce, miner null     number and nonce null, hash  number = head + 1, hash
                                                           set, pool txs listed         set, no pool txs while
                                                                                        mining is stopped
block timestamps               fixed 12 s steps            wall clock                   wall clock
resuming mining                n/a                         evm_setAutomine true mines   miner_start mines one
                                                           nothing                      (empty) block at once
yParity in transactions        type >= 1                   absent                       present
=============================  ==========================  ===========================  ==========================

Ganache also loses a sender's transaction sent while its previous one is being mined (strict
instamine), so the scenario waits for each receipt while automining (tests/conformance/scenario.py).

Failing here while the indexer's fixes are pending is expected: the failing assertion names the
table, the rows and the columns that differ, or the Dagster run's error.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from tests.conformance.peer import PeerNode
from tests.conformance.scenario import ETHER, Actions, compile_token
from tests.conformance.truth import COLUMNS, differences, expected, read_truth, stored

RANGE = 4
TABLES = tuple(COLUMNS)
KEYS = {
    "chain_blocks": "number",
    "chain_transactions": "hash",
    "chain_logs": "block_number,log_index",
    "token_transfers": "transaction_hash,log_index",
    "contracts": "address",
}
ZERO = "0x" + "00" * 20
TOKEN_ARGS = (["string", "string", "uint8"], ["Peer Token", "PEER", 18])


@dataclasses.dataclass
class Played:
    """What the scenario sent, as the test knows it (not as any node or indexer reports it)."""

    head: int
    token: str
    second_token: str
    transfers: list[tuple[str, str, str, str, int]]  # (tx hash, token, from, to, amount)
    failed: str
    eth_transfers: list[str]
    shared_blocks: list[int]  # blocks holding two or more log-emitting transactions


def pad_to_range_end(node: PeerNode, size: int = RANGE) -> int:
    """Mine empty blocks until the head ends a range (so whole ranges cover 0..head); the head."""
    while (node.head() + 1) % size:
        node.mine()
    return node.head()


@pytest.fixture(scope="session")
def played(peer: PeerNode) -> Played:
    act = Actions(peer)
    a, b, c, d, e = act.accounts[:5]
    creation, _ = compile_token()
    eth = [act.eth(a, b, ETHER), act.eth(b, c, ETHER // 2)]
    token = act.deploy(a, creation, TOKEN_ARGS)
    transfers = [(act.mint(token, a, a, 10**6 * ETHER), token, ZERO, a, 10**6 * ETHER)]
    act.settle()

    def transfer(sender: str, receiver: str, amount: int) -> None:
        transfers.append((act.transfer(token, sender, receiver, amount), token, sender, receiver, amount))

    with act.one_block():
        transfer(a, b, 100)
        transfer(a, c, 200)
        eth.append(act.eth(d, e, 12_345))
        transfer(a, d, 300)
        act.approve(token, a, e, 5)  # an Approval log between Transfer logs
    with act.one_block():
        transfer(b, c, 40)
        transfer(c, d, 50)
        failed = act.transfer(token, e, a, 1, gas=100_000)  # e holds no tokens: reverted, no log
        eth.append(act.eth(a, c, 1))
    with act.one_block():  # a creation beside transfers: the created contract and the logs share a block
        second = act.deploy_tx(b, creation, TOKEN_ARGS)
        transfer(d, e, 7)
        transfer(a, b, 8)
    second_token = act.receipt(second)["contractAddress"].lower()
    shared = sorted({int(act.receipt(h)["blockNumber"], 16) for h, *_ in transfers[1:]})
    return Played(pad_to_range_end(peer), token, second_token, transfers, failed, eth, shared)


# --- indexing through Dagster: the sensor plans ranges, real runs index them ------------------


@dataclasses.dataclass
class Indexer:
    """One warehouse and Dagster instance; ``catch_up`` runs what the sensor asks until it asks nothing."""

    instance: dg.DagsterInstance
    resources: dict
    warehouse: object
    failures: list[str] = dataclasses.field(default_factory=list)
    runs: list[tuple[str, dict]] = dataclasses.field(default_factory=list)

    def tick(self) -> list[dg.RunRequest]:
        from assets.chain.triggers import chain_new_blocks_sensor

        context = dg.build_sensor_context(instance=self.instance, resources=self.resources)
        result = chain_new_blocks_sensor(context)
        if isinstance(result, dg.SkipReason):
            assert "did not answer" not in (result.skip_message or ""), result.skip_message
            return []
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        return list(result.run_requests or [])

    def run(self, request: dg.RunRequest) -> bool:
        from assets.chain.assets import CHAIN_ASSETS

        with set_defs_state_storage(self.instance.defs_state_storage):
            result = dg.materialize(
                CHAIN_ASSETS,
                instance=self.instance,
                resources=self.resources,
                partition_key=request.partition_key,
                tags=request.tags,
                raise_on_error=False,
            )
        checks = {
            e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
        }
        self.runs.append((request.partition_key, checks))
        if not result.success:
            errors = [
                f"{ev.step_key}: {_causes(ev.step_failure_data.error)}"
                for ev in result.get_step_failure_events()
                if ev.step_failure_data.error is not None
            ]
            self.failures.append(f"run of {request.partition_key} failed: {' | '.join(errors) or 'no error'}")
        return result.success

    def catch_up(self, limit: int = 10) -> list[dg.RunRequest]:
        done: list[dg.RunRequest] = []
        for _ in range(limit):
            requests = self.tick()
            if not requests:
                return done
            for request in requests:
                self.run(request)
                done.append(request)
            if self.failures:  # the same ranges would fail again
                return done
        raise AssertionError(f"the sensor still asks for runs after {limit} ticks")


def _causes(error) -> str:
    """A Dagster error and what caused it, innermost last (the wrapper alone says nothing)."""
    parts = []
    while error is not None:
        parts.append(f"{error.cls_name}: {error.message.strip()[:500]}")
        error = error.cause or error.context
    return " <- caused by ".join(parts)


def make_indexer(peer: PeerNode, home: Path, instance: dg.DagsterInstance) -> Indexer:
    from resources.configurable import build_resources
    from resources.settings import Settings
    from resources.warehouse import Warehouse

    settings = Settings(
        SEXTANT_HOME=home,
        WAREHOUSE_URL=f"sqlite:///{home / 'warehouse.sqlite'}",
        CHAIN_RPC_URL=peer.url,
        CHAIN_RANGE_SIZE=RANGE,
        CHAIN_CONFIRMATIONS=0,
    )
    return Indexer(instance, build_resources(settings), Warehouse(settings.resolved_warehouse_url))


@pytest.fixture(scope="session")
def indexed(peer: PeerNode, played: Played, tmp_path_factory):
    """The played blocks 0..head indexed from the peer; runs are kept, failing or not."""
    with dg.instance_for_test() as instance:
        indexer = make_indexer(peer, tmp_path_factory.mktemp(f"index-{peer.name}"), instance)
        indexer.catch_up()
        yield indexer
        indexer.warehouse.dispose()


def assert_tables_match(warehouse, node: PeerNode, start: int, end: int, tables=TABLES):
    truth = read_truth(node, start, end)
    problems = {}
    for table in tables:
        diff = differences(stored(warehouse, table, start, end), expected(truth, table), KEYS[table])
        if diff:
            problems[table] = diff
    assert not problems, f"{node.name}: indexed tables differ from the node over {start}..{end}: {problems}"
    return truth


# --- the node itself --------------------------------------------------------------------------


def test_peer_quirks_the_suite_relies_on(peer: PeerNode, played: Played):
    """What the module docstring says about the peer, checked: a peer that changed needs a new look."""
    answer = peer.raw("eth_getBlockReceipts", hex(played.shared_blocks[0]))
    assert "result" not in answer
    code = answer["error"]["code"]
    assert code == {"hardhat": -32004, "ganache": -32700}[peer.name], answer["error"]
    assert code != -32601  # not the standard method-not-found: capability detection must not need it

    block = played.shared_blocks[0]
    receipts = [
        peer.rpc("eth_getTransactionReceipt", t["hash"])
        for t in peer.rpc("eth_getBlockByNumber", hex(block), True)["transactions"]
    ]
    receipt_indexes = [int(lg["logIndex"], 16) for r in receipts for lg in r["logs"]]
    get_logs = peer.rpc("eth_getLogs", {"fromBlock": hex(block), "toBlock": hex(block)})
    assert [int(lg["logIndex"], 16) for lg in get_logs] == list(range(len(get_logs)))
    assert len(get_logs) >= 4 and len(receipt_indexes) == len(get_logs)
    if peer.name == "ganache":  # per transaction: every one-log transfer says 0
        assert len(set(receipt_indexes)) < len(receipt_indexes), receipt_indexes
    else:
        assert receipt_indexes == list(range(len(get_logs)))


def test_scenario_gave_blocks_with_several_log_emitting_transactions(peer: PeerNode, played: Played):
    for number in played.shared_blocks[:2]:
        logs = peer.rpc("eth_getLogs", {"fromBlock": hex(number), "toBlock": hex(number)})
        assert len({lg["transactionHash"] for lg in logs}) >= 2, (number, logs)
    assert peer.rpc("eth_getTransactionReceipt", played.failed)["status"] == "0x0"
    assert played.head % RANGE == RANGE - 1


# --- the indexed tables against the node ------------------------------------------------------


def test_every_range_indexes_through_dagster(indexed: Indexer, played: Played):
    assert not indexed.failures, "\n".join(indexed.failures)
    assert [key for key, _ in indexed.runs] == _keys(0, played.head)
    for key, checks in indexed.runs:
        assert {"hash_chain_continuous", "range_complete"} <= set(checks) and all(checks.values()), (key, checks)


@pytest.mark.parametrize("table", TABLES)
def test_table_matches_the_node(indexed: Indexer, peer: PeerNode, played: Played, table: str):
    assert_tables_match(indexed.warehouse, peer, 0, played.head, tables=(table,))


def test_logs_are_numbered_block_wide_like_eth_get_logs(indexed: Indexer, peer: PeerNode, played: Played):
    rows = stored(indexed.warehouse, "chain_logs", 0, played.head)
    by_block: dict[int, list[int]] = {}
    for row in rows:
        by_block.setdefault(row["block_number"], []).append(row["log_index"])
    for number in played.shared_blocks:
        node = peer.rpc("eth_getLogs", {"fromBlock": hex(number), "toBlock": hex(number)})
        assert by_block.get(number) == list(range(len(node))), (number, by_block.get(number))
        stored_order = [(r["transaction_hash"], r["address"], r["topics"], r["data"])
                        for r in rows if r["block_number"] == number]
        node_order = [(lg["transactionHash"], lg["address"].lower(), ",".join(lg["topics"]), lg["data"])
                      for lg in node]
        assert stored_order == node_order


def test_token_transfers_are_the_ones_sent(indexed: Indexer, played: Played):
    rows = stored(indexed.warehouse, "token_transfers", 0, played.head)
    got = sorted((r["transaction_hash"], r["token_address"], r["from_address"], r["to_address"], int(r["value"]))
                 for r in rows)
    assert got == sorted(played.transfers)
    assert all(r["token_standard"] == "erc20" for r in rows)
    txs = {r["hash"]: r for r in stored(indexed.warehouse, "chain_transactions", 0, played.head)}
    assert txs[played.failed]["receipt_status"] == 0
    assert played.failed not in {r["transaction_hash"] for r in rows}
    assert all(txs[h]["receipt_status"] == 1 and txs[h]["value"] != "0" for h in played.eth_transfers)


def test_contracts_hold_the_compiled_runtime_code(indexed: Indexer, played: Played):
    _, runtime = compile_token()
    rows = stored(indexed.warehouse, "contracts", 0, played.head)
    assert {r["address"] for r in rows} == {played.token, played.second_token}
    assert all(r["bytecode"] == "0x" + runtime.hex() for r in rows)


# --- the command line: `sextant chain index` and `sextant chain status` ------------------------


def sextant(home: Path, node: PeerNode, *args: str) -> subprocess.CompletedProcess[str]:
    """`.venv/bin/sextant ARGS` in a subprocess, configured only through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHAIN_", "WAREHOUSE_", "SEXTANT_", "DAGSTER_"))}
    env.update(
        SEXTANT_HOME=str(home),
        WAREHOUSE_URL=f"sqlite:///{home / 'warehouse.sqlite'}",
        CHAIN_RPC_URL=node.url,
        CHAIN_RANGE_SIZE=str(RANGE),
        CHAIN_CONFIRMATIONS="0",
    )
    binary = Path(sys.executable).with_name("sextant")
    return subprocess.run([str(binary), *args], env=env, capture_output=True, text=True, timeout=300, check=False)


def test_cli_indexes_the_played_blocks_and_reports_them(peer: PeerNode, played: Played, tmp_path: Path):
    from resources.warehouse import Warehouse

    done = sextant(tmp_path, peer, "chain", "index", "--from", "0", "--to", str(played.head))
    assert done.returncode == 0, done.stderr[-3000:]
    warehouse = Warehouse(f"sqlite:///{tmp_path / 'warehouse.sqlite'}")
    try:
        assert_tables_match(warehouse, peer, 0, played.head)
    finally:
        warehouse.dispose()

    shown = sextant(tmp_path, peer, "chain", "status", "--json")
    assert shown.returncode == 0, shown.stderr[-3000:]
    status = json.loads(shown.stdout)
    assert status["head"] == peer.head() and status["node_error"] is None
    assert status["indexed_span"]["from"] == 0 and status["indexed_span"]["to"] == played.head
    assert status["indexed_span"]["stored_blocks"] == played.head + 1
    assert status["gaps"] == [] and status["failed_ranges"] == [] and status["pending_ranges"] == []
    assert status["ranges"] == len(_keys(0, played.head))
    assert status["block_receipts"] == "unsupported"  # learnt from this node's refusal

    beyond = sextant(tmp_path, peer, "chain", "index", "--from", "0", "--to", str(peer.head() + 5))
    assert beyond.returncode != 0  # past the head: refused, not a silent success


# --- a reorg ----------------------------------------------------------------------------------


def test_reorg_is_detected_and_reindexed_without_orphans(peer: PeerNode, played: Played, tmp_path: Path):
    with dg.instance_for_test() as instance:
        indexer = make_indexer(peer, tmp_path, instance)
        try:
            _reorg(peer, played, indexer)
        finally:
            indexer.warehouse.dispose()


def _branch(peer: PeerNode, played: Played, amounts: list[int], deploy: bool, until: int | None = None) -> int:
    """Mine blocks past the played head, each with token transfers, then empty ones up to a range's
    end (or to ``until``); the new head. (Ganache mines an empty block more on each ``miner_start``.)"""
    act = Actions(peer)
    a, b, c, d = act.accounts[:4]
    creation, _ = compile_token()
    for i, amount in enumerate(amounts):
        with act.one_block():
            act.transfer(played.token, a, b, amount)
            act.transfer(played.token, a, c, amount + 1)
            act.eth(d, a, amount)
            if deploy and i == 0:
                act.deploy_tx(d, creation, TOKEN_ARGS)
    if until is None:
        return pad_to_range_end(peer)
    while peer.head() < until:
        peer.mine()
    return peer.head()


def _keys(start: int, end: int) -> list[str]:
    return [f"{s:010d}-{s + RANGE - 1:010d}" for s in range(start, end + 1, RANGE)]


def _reorg(peer: PeerNode, played: Played, indexer: Indexer) -> None:
    base = played.head
    before = peer.rpc("evm_snapshot")
    indexer.catch_up()
    assert not indexer.failures, "\n".join(indexer.failures)
    try:
        head = _branch(peer, played, [11, 12], deploy=True)
        requests = indexer.catch_up()
        assert [r.partition_key for r in requests] == _keys(base + 1, head)
        assert not indexer.failures, "\n".join(indexer.failures)
        old = read_truth(peer, base + 1, head)
        assert old.contracts and old.token_transfers

        assert peer.rpc("evm_revert", before) is True
        before = peer.rpc("evm_snapshot")  # the revert spent the first one
        assert peer.head() == base
        assert _branch(peer, played, [21, 22], deploy=False, until=head) == head  # the same heights again

        reorgs = indexer.catch_up()
        assert [r.partition_key for r in reorgs] == _keys(base + 1, head)
        assert all(r.tags.get("sextant/reorg") == "true" for r in reorgs)
        assert not indexer.failures, "\n".join(indexer.failures)
        new = assert_tables_match(indexer.warehouse, peer, 0, head)

        assert [b["hash"] for b in new.blocks[base + 1 :]] != [b["hash"] for b in old.blocks]
        orphans = {t["hash"] for t in old.transactions} - {t["hash"] for t in new.transactions}
        assert orphans
        wh = indexer.warehouse
        assert wh.count("chain_transactions", {"hash": sorted(orphans)}) == 0
        assert wh.count("chain_logs", {"transaction_hash": sorted(orphans)}) == 0
        assert wh.count("token_transfers", {"transaction_hash": sorted(orphans)}) == 0
        assert wh.count("contracts", {"address": [c["address"] for c in old.contracts]}) == 0
        assert wh.count("chain_blocks", {"hash": [b["hash"] for b in old.blocks]}) == 0
        assert indexer.tick() == []  # nothing left to fix
    finally:
        assert peer.rpc("evm_revert", before) is True  # the next test finds the played chain
