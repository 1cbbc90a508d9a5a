"""The devnet chain: py-evm through eth-tester, answering JSON-RPC the way a real node does.

eth-tester's own provider takes Python-typed parameters and answers in Python types, lacks
``eth_getBlockReceipts``, numbers logs per transaction, scans the whole chain for each transaction
lookup, and stamps blocks with the wall clock and a random ``mixHash``. A real node speaks hex
quantities, geth-shaped JSON and block-wide log indexes. So this backend keeps eth-tester for what
it does well (signing, executing, mining, snapshots) and serializes blocks, transactions, receipts
and logs itself straight from py-evm's objects (`block_json.py`), with parameters parsed and values
encoded by `rpc_codec.py`. Its blocks are deterministic (`deterministic_evm.py`): the same scenario
yields the same block hashes on every run.

Thread-safety: every call takes ``self.lock`` (re-entrant), so the HTTP server's threads and a
block-producing thread may share one backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from orchestration.simulator.block_json import _BlockView, _pending_block_json
from orchestration.simulator.deterministic_evm import BLOCK_BUILDER, _make_backend
from orchestration.simulator.rpc_codec import (
    _bad,
    _log_matcher,
    _param,
    hex_data,
    hex_quantity,
    hex_word,
    parse_address,
    parse_data,
    parse_hash,
    parse_quantity,
    parse_transaction,
)
from orchestration.simulator.rpc_server import RpcError, method_not_found

CHAIN_ID = 31337
GENESIS_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so block hashes repeat run to run
BLOCK_SECONDS = 12
DEFAULT_ACCOUNTS = 60
MAX_LOG_BLOCK_RANGE = 10_000
CLIENT_VERSION = "sextant-devnet/0.1/py-evm"

EXECUTION_REVERTED = 3  # geth's code for a reverted eth_call / eth_estimateGas
SERVER_ERROR = -32000


class DevnetBackend:
    """An eth-tester chain behind ``call(method, params)``, for ``JsonRpcServer``."""

    def __init__(
        self,
        *,
        accounts: int = DEFAULT_ACCOUNTS,
        chain_id: int = CHAIN_ID,
        genesis_timestamp: int = GENESIS_TIMESTAMP,
        block_seconds: int = BLOCK_SECONDS,
        salt: bytes = b"sextant-devnet",
        balances: dict[str, int] | None = None,
    ) -> None:
        """``balances`` overrides the genesis balance (1,000,000 ether) of some of the accounts."""
        from eth_tester import EthereumTester, PyEVMBackend

        self.lock = threading.RLock()
        self.chain_id = chain_id
        self.block_seconds = block_seconds
        #: When set (``--live``), new blocks take the wall clock, at least a second after their parent.
        self.wall_clock = False
        params = PyEVMBackend.generate_genesis_params(overrides={"timestamp": genesis_timestamp})
        state = PyEVMBackend.generate_genesis_state(num_accounts=accounts)
        for address, balance in (balances or {}).items():
            state[bytes.fromhex(address[2:])]["balance"] = balance
        self.pyevm = _make_backend(PyEVMBackend, params, state, chain_id, self._next_timestamp, salt)
        self.tester = EthereumTester(backend=self.pyevm, auto_mine_transactions=True)
        self._accounts: list[str] | None = None
        self._snapshots: dict[int, int] = {}
        self._next_snapshot = 1
        self._views: dict[bytes, _BlockView] = {}
        self._methods: dict[str, Callable[[list[Any]], Any]] = {
            name[5:]: getattr(self, name) for name in dir(self) if name.startswith("_rpc_")
        }

    # --- the backend protocol ------------------------------------------------------------------

    def call(self, method: str, params: list[Any]) -> Any:
        handler = self._methods.get(method)
        if handler is None:
            raise method_not_found(method)
        with self.lock:
            return handler(params)

    @property
    def methods(self) -> list[str]:
        return sorted(self._methods)

    # --- direct API for the scenario (Python types, no JSON) -------------------------------------

    @property
    def chain(self):
        return self.pyevm.chain

    def accounts(self) -> list[str]:
        if self._accounts is None or len(self._accounts) != len(self.pyevm.account_keys):
            self._accounts = ["0x" + k.public_key.to_canonical_address().hex() for k in self.pyevm.account_keys]
        return list(self._accounts)

    def use_wall_clock(self) -> None:
        """From now on blocks take the wall clock (``--live``); also the block being built, if empty."""
        with self.lock:
            self.wall_clock = True
            header = self.chain.header
            if header.gas_used == 0:
                parent = self.chain.get_canonical_head()
                self.chain.header = header.copy(timestamp=self._next_timestamp(parent.timestamp))

    def head_number(self) -> int:
        return self.chain.get_canonical_head().block_number

    def pending_nonce(self, address: str) -> int:
        return self.chain.get_vm().state.get_nonce(bytes.fromhex(address[2:]))

    def pending_balance(self, address: str) -> int:
        return self.chain.get_vm().state.get_balance(bytes.fromhex(address[2:]))

    def pending_base_fee(self) -> int:
        return self.chain.header.base_fee_per_gas

    def add_to_pending_block(self, tx: dict[str, Any]) -> str:
        """Execute ``tx`` into the block being built, without mining it (the caller orders a block).

        eth-tester's own non-automine mode re-imports the head block around every send (a
        snapshot/revert per transaction); going one level down keeps a block of n transactions at
        n executions. Give ``nonce`` and ``gas``: eth-tester would read the nonce from the mined
        state, which is stale for a sender's second transaction in a block.
        """
        return self.tester._add_transaction_to_pending_block(tx)

    def mine(self, blocks: int = 1) -> list[str]:
        return [h.lower() for h in self.tester.mine_blocks(blocks, coinbase=BLOCK_BUILDER)]

    def eth_call(self, tx: dict[str, Any], block: str | int = "latest") -> bytes:
        return self.tester.call(tx, block)

    def receipt(self, tx_hash: str) -> dict[str, Any] | None:
        return self._rpc_eth_getTransactionReceipt([tx_hash])

    # --- clock and block lookup ----------------------------------------------------------------

    def _next_timestamp(self, parent_timestamp: int) -> int:
        if self.wall_clock:
            return max(parent_timestamp + 1, int(time.time()))
        return parent_timestamp + self.block_seconds

    def _resolve_block(self, tag: Any) -> Any | None:
        """A block param (tag, hex number or EIP-1898 object) as a py-evm block, None if unknown."""
        chain = self.chain
        if isinstance(tag, dict):
            if "blockHash" in tag:
                return self._block_by_hash(parse_hash(tag["blockHash"], "blockHash"))
            tag = tag.get("blockNumber", "latest")
        if tag in (None, "latest", "safe", "finalized"):
            return chain.get_canonical_block_by_number(self.head_number())
        if tag == "earliest":
            return chain.get_canonical_block_by_number(0)
        if tag == "pending":
            return chain.get_block()
        number = parse_quantity(tag, "block number")
        if number > self.head_number():
            return None
        return chain.get_canonical_block_by_number(number)

    def _block_by_hash(self, block_hash: bytes) -> Any | None:
        from eth.exceptions import BlockNotFound, HeaderNotFound

        try:
            return self.chain.get_block_by_hash(block_hash)
        except (BlockNotFound, HeaderNotFound):
            return None

    def _view(self, block: Any) -> _BlockView:
        view = self._views.get(block.hash)
        if view is None:
            view = _BlockView(block, self.chain.chaindb)
            if len(self._views) > 4096:
                self._views.clear()
            self._views[block.hash] = view
        return view

    def _state_at(self, tag: Any):
        block = self._resolve_block(tag)
        if block is None:
            raise RpcError(SERVER_ERROR, "header not found")
        if tag == "pending":
            return self.chain.get_vm().state
        return self.chain.get_vm(at_header=block.header).state

    def _tester_block(self, tag: Any) -> str | int:
        """A block param in eth-tester's Python form, for call and estimate_gas."""
        if isinstance(tag, dict):
            block = self._resolve_block(tag)
            if block is None:
                raise RpcError(SERVER_ERROR, "header not found")
            return block.number
        if tag in (None, "latest", "safe", "finalized", "earliest", "pending"):
            return tag or "latest"
        number = parse_quantity(tag, "block number")
        if number > self.head_number():
            raise RpcError(SERVER_ERROR, "header not found")
        return number

    def _locate_transaction(self, tx_hash: bytes) -> tuple[Any, int] | None:
        from eth.exceptions import TransactionNotFound

        try:
            number, index = self.chain.chaindb.get_transaction_index(tx_hash)
        except TransactionNotFound:
            return None
        if number > self.head_number():
            return None
        block = self.chain.get_canonical_block_by_number(number)
        if index >= len(block.transactions) or block.transactions[index].hash != tx_hash:
            return None  # a stale lookup from a reverted fork
        return block, index

    # --- JSON-RPC methods ----------------------------------------------------------------------

    def _rpc_web3_clientVersion(self, params: list[Any]) -> str:
        return CLIENT_VERSION

    def _rpc_net_version(self, params: list[Any]) -> str:
        return str(self.chain_id)

    def _rpc_net_listening(self, params: list[Any]) -> bool:
        return True

    def _rpc_eth_chainId(self, params: list[Any]) -> str:
        return hex_quantity(self.chain_id)

    def _rpc_eth_syncing(self, params: list[Any]) -> bool:
        return False

    def _rpc_eth_blockNumber(self, params: list[Any]) -> str:
        return hex_quantity(self.head_number())

    def _rpc_eth_accounts(self, params: list[Any]) -> list[str]:
        return self.accounts()

    def _rpc_eth_gasPrice(self, params: list[Any]) -> str:
        return hex_quantity(self.pending_base_fee() + 10**9)

    def _rpc_eth_maxPriorityFeePerGas(self, params: list[Any]) -> str:
        return hex_quantity(10**9)

    def _rpc_eth_feeHistory(self, params: list[Any]) -> dict[str, Any]:
        count = min(parse_quantity(_param(params, 0, "blockCount"), "blockCount"), 1024)
        newest = self._resolve_block(_param(params, 1, "newestBlock"))
        if newest is None:
            raise RpcError(SERVER_ERROR, "header not found")
        percentiles = _param(params, 2, "rewardPercentiles", [])
        first = max(0, newest.number - count + 1)
        headers = [self.chain.get_canonical_block_header_by_number(n) for n in range(first, newest.number + 1)]
        result: dict[str, Any] = {
            "oldestBlock": hex_quantity(first),
            "baseFeePerGas": [hex_quantity(h.base_fee_per_gas) for h in headers] + [hex_quantity(self.pending_base_fee())],
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        }
        if percentiles:
            result["reward"] = [[hex_quantity(10**9) for _ in percentiles] for _ in headers]
        return result

    def _rpc_eth_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        tag = _param(params, 0, "block")
        full = bool(_param(params, 1, "fullTransactions", False))
        if tag == "pending":
            return _pending_block_json(self.chain.get_block(), full)
        block = self._resolve_block(tag)
        return None if block is None else self._view(block).block_json(full)

    def _rpc_eth_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        block = self._block_by_hash(parse_hash(_param(params, 0, "blockHash"), "blockHash"))
        full = bool(_param(params, 1, "fullTransactions", False))
        return None if block is None else self._view(block).block_json(full)

    def _rpc_eth_getBlockTransactionCountByNumber(self, params: list[Any]) -> str | None:
        block = self._resolve_block(_param(params, 0, "block"))
        return None if block is None else hex_quantity(len(block.transactions))

    def _rpc_eth_getTransactionByHash(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._locate_transaction(parse_hash(_param(params, 0, "hash")))
        if found is None:
            return None
        block, index = found
        return self._view(block).transactions()[index]

    def _rpc_eth_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._locate_transaction(parse_hash(_param(params, 0, "hash")))
        if found is None:
            return None
        block, index = found
        return self._view(block).receipts()[index]

    def _rpc_eth_getBlockReceipts(self, params: list[Any]) -> list[dict[str, Any]] | None:
        tag = _param(params, 0, "block")
        if isinstance(tag, str) and len(tag) == 66:  # a block hash, as geth also accepts
            block = self._block_by_hash(parse_hash(tag))
        else:
            block = self._resolve_block(tag)
        if block is None or block.number > self.head_number():
            return None
        return self._view(block).receipts()

    def _rpc_eth_getLogs(self, params: list[Any]) -> list[dict[str, Any]]:
        query = _param(params, 0, "filter")
        if not isinstance(query, dict):
            raise _bad("filter must be an object")
        if query.get("blockHash") is not None:
            if query.get("fromBlock") is not None or query.get("toBlock") is not None:
                raise _bad("cannot specify both blockHash and fromBlock/toBlock")
            block = self._block_by_hash(parse_hash(query["blockHash"], "blockHash"))
            if block is None:
                raise RpcError(SERVER_ERROR, "unknown block")
            blocks: Iterable[Any] = [block]
        else:
            start = self._resolve_block(query.get("fromBlock") or "latest")
            end = self._resolve_block(query.get("toBlock") or "latest")
            if start is None or end is None:
                return []
            if end.number - start.number >= MAX_LOG_BLOCK_RANGE:
                raise RpcError(-32005, f"query exceeds the max block range {MAX_LOG_BLOCK_RANGE}")
            blocks = (self.chain.get_canonical_block_by_number(n) for n in range(start.number, end.number + 1))
        match = _log_matcher(query.get("address"), query.get("topics"))
        out: list[dict[str, Any]] = []
        for block in blocks:
            for receipt in self._view(block).receipts():
                out.extend(log for log in receipt["logs"] if match(log))
        return out

    def _rpc_eth_getBalance(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        return hex_quantity(self._state_at(_param(params, 1, "block", "latest")).get_balance(address))

    def _rpc_eth_getTransactionCount(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        return hex_quantity(self._state_at(_param(params, 1, "block", "latest")).get_nonce(address))

    def _rpc_eth_getCode(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        return hex_data(self._state_at(_param(params, 1, "block", "latest")).get_code(address))

    def _rpc_eth_getStorageAt(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        slot = parse_quantity(_param(params, 1, "slot"), "slot")
        return hex_word(self._state_at(_param(params, 2, "block", "latest")).get_storage(address, slot))

    def _read_only_tx(self, value: Any) -> dict[str, Any]:
        """A call's transaction: eth-tester charges gas even here, so a missing sender is the first
        (funded) account rather than the empty zero address."""
        tx = parse_transaction(value, require_from=False)
        if tx["from"] == "0x" + "00" * 20 and not (isinstance(value, dict) and value.get("from")):
            tx["from"] = self.accounts()[0]
        return tx

    def _rpc_eth_call(self, params: list[Any]) -> str:
        tx = self._read_only_tx(_param(params, 0, "transaction"))
        block = self._tester_block(_param(params, 1, "block", "latest"))
        out = self._run(lambda: self.tester.call(tx, block))
        return out.lower() if isinstance(out, str) else hex_data(out)

    def _rpc_eth_estimateGas(self, params: list[Any]) -> str:
        tx = self._read_only_tx(_param(params, 0, "transaction"))
        block = self._tester_block(_param(params, 1, "block", "latest"))
        return hex_quantity(self._run(lambda: self.tester.estimate_gas(tx, block)))

    def _rpc_eth_sendTransaction(self, params: list[Any]) -> str:
        tx = parse_transaction(_param(params, 0, "transaction"), require_from=True)
        if tx["from"] not in self.accounts():
            raise RpcError(SERVER_ERROR, f"unknown account {tx['from']}")
        return self._run(lambda: self.tester.send_transaction(tx)).lower()

    def _rpc_eth_sendRawTransaction(self, params: list[Any]) -> str:
        raw = parse_data(_param(params, 0, "raw transaction"), "raw transaction")
        if not raw:
            raise _bad("empty raw transaction")
        return self._run(lambda: self.tester.send_raw_transaction(hex_data(raw))).lower()

    def _rpc_evm_mine(self, params: list[Any]) -> str:
        timestamp = _param(params, 0, "timestamp", None)
        if timestamp is not None:
            when = parse_quantity(timestamp, "timestamp") if isinstance(timestamp, str) else int(timestamp)
            if when <= self.chain.get_canonical_head().timestamp:
                raise _bad("timestamp must be after the head block's")
            self.chain.header = self.chain.header.copy(timestamp=when)
        self.mine(1)
        return "0x0"

    def _rpc_hardhat_mine(self, params: list[Any]) -> bool:
        count = parse_quantity(_param(params, 0, "blocks", "0x1"), "blocks")
        if not 0 < count <= 10_000:
            raise _bad("blocks must be between 1 and 10000")
        self.mine(count)
        return True

    def _rpc_evm_snapshot(self, params: list[Any]) -> str:
        snapshot_id = self._next_snapshot
        self._next_snapshot += 1
        self._snapshots[snapshot_id] = self.tester.take_snapshot()
        return hex_quantity(snapshot_id)

    def _rpc_evm_revert(self, params: list[Any]) -> bool:
        """Back to a snapshot; like Hardhat, that snapshot and every later one are used up."""
        snapshot_id = parse_quantity(_param(params, 0, "snapshot id"), "snapshot id")
        tester_id = self._snapshots.get(snapshot_id)
        if tester_id is None:
            return False
        self.tester.revert_to_snapshot(tester_id)
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        return True

    # --- helpers -------------------------------------------------------------------------------

    @staticmethod
    def _run(action: Callable[[], Any]) -> Any:
        """Run an eth-tester action; its failures become the JSON-RPC errors a node would send."""
        from eth_tester.exceptions import TransactionFailed, ValidationError

        try:
            return action()
        except TransactionFailed as failed:
            reason = failed.args[0] if failed.args else ""
            if isinstance(reason, bytes):
                reason = reason.hex()
            raise RpcError(EXECUTION_REVERTED, f"execution reverted: {reason}".rstrip(": ")) from None
        except ValidationError as invalid:
            raise RpcError(SERVER_ERROR, str(invalid)) from None
        except Exception as error:
            if type(error).__module__.startswith(("eth.", "eth_tester", "eth_utils", "rlp")):
                raise RpcError(SERVER_ERROR, f"{type(error).__name__}: {error}") from None
            raise
