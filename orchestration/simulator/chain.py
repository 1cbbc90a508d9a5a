"""The devnet chain: py-evm through eth-tester, answering JSON-RPC the way a real node does.

eth-tester's own provider takes Python-typed parameters and answers in Python types, lacks
``eth_getBlockReceipts``, numbers logs per transaction, scans the whole chain for each transaction
lookup, and stamps blocks with the wall clock and a random ``mixHash``. A real node speaks hex
quantities, geth-shaped JSON and block-wide log indexes. So this backend keeps eth-tester for what
it does well (signing, executing, mining, snapshots) and serializes blocks, transactions, receipts
and logs itself straight from py-evm's objects.

Determinism: block timestamps advance a fixed step from a fixed genesis time, and ``mixHash``
comes from a counter of blocks ever mined. The same scenario therefore yields the same block
hashes on every run, while re-mining a height after ``evm_revert`` (a simulated reorg) yields a
different hash even for an empty block, because the counter is never reverted.

Thread-safety: every call takes ``self.lock`` (re-entrant), so the HTTP server's threads and a
block-producing thread may share one backend.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from orchestration.simulator.rpc_server import INVALID_PARAMS, RpcError, method_not_found

CHAIN_ID = 31337
GENESIS_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z: fixed so block hashes repeat run to run
BLOCK_SECONDS = 12
DEFAULT_ACCOUNTS = 60
#: The fee recipient of every devnet block (a fixed, keyless address).
BLOCK_BUILDER = "0x" + "b1d0" * 10
MAX_LOG_BLOCK_RANGE = 10_000
CLIENT_VERSION = "sextant-devnet/0.1/py-evm"

EXECUTION_REVERTED = 3  # geth's code for a reverted eth_call / eth_estimateGas
SERVER_ERROR = -32000


def _q(value: int) -> str:
    return hex(value)


def _b(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def _h32(value: int | bytes) -> str:
    if isinstance(value, int):
        return "0x" + value.to_bytes(32, "big").hex()
    return "0x" + bytes(value).rjust(32, b"\0").hex()


def _addr(value: bytes | None) -> str | None:
    if not value:
        return None
    return "0x" + bytes(value).hex()


def _bloom(value: int) -> str:
    return "0x" + value.to_bytes(256, "big").hex()


# --- parameter parsing (hex in) ----------------------------------------------------------------


def _bad(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, f"invalid argument: {message}")


def parse_quantity(value: Any, name: str = "quantity") -> int:
    """A JSON-RPC quantity: a 0x-prefixed hex string (numbers are refused, as geth refuses them)."""
    if not isinstance(value, str) or not value.startswith(("0x", "0X")) or len(value) < 3:
        raise _bad(f"{name} must be a 0x-prefixed hex string, got {value!r}")
    try:
        return int(value, 16)
    except ValueError:
        raise _bad(f"{name} is not hex: {value!r}") from None


def parse_data(value: Any, name: str = "data", size: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise _bad(f"{name} must be 0x-prefixed hex, got {value!r}")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise _bad(f"{name} is not hex: {value!r}") from None
    if size is not None and len(raw) != size:
        raise _bad(f"{name} must be {size} bytes, got {len(raw)}")
    return raw


def parse_address(value: Any, name: str = "address") -> bytes:
    return parse_data(value, name, 20)


def parse_hash(value: Any, name: str = "hash") -> bytes:
    return parse_data(value, name, 32)


def _param(params: list[Any], index: int, name: str, default: Any = ...) -> Any:
    if index < len(params):
        return params[index]
    if default is ...:
        raise _bad(f"missing value for required argument {index} ({name})")
    return default


_TX_FIELDS = {
    "from": ("from", "address"),
    "to": ("to", "address"),
    "gas": ("gas", "quantity"),
    "gasPrice": ("gas_price", "quantity"),
    "maxFeePerGas": ("max_fee_per_gas", "quantity"),
    "maxPriorityFeePerGas": ("max_priority_fee_per_gas", "quantity"),
    "value": ("value", "quantity"),
    "nonce": ("nonce", "quantity"),
    "data": ("data", "data"),
    "input": ("data", "data"),
}


def parse_transaction(value: Any, *, require_from: bool) -> dict[str, Any]:
    """A JSON-RPC transaction object (camelCase, hex) as eth-tester's Python-typed dict."""
    if not isinstance(value, dict):
        raise _bad("transaction must be an object")
    tx: dict[str, Any] = {}
    for key, raw in value.items():
        if key not in _TX_FIELDS or raw is None:
            continue  # chainId, type, accessList...: eth-tester fills its own
        name, kind = _TX_FIELDS[key]
        if kind == "quantity":
            tx[name] = parse_quantity(raw, key)
        elif kind == "address":
            tx[name] = "0x" + parse_address(raw, key).hex()
        else:
            tx[name] = "0x" + parse_data(raw, key).hex()
    if require_from and "from" not in tx:
        raise _bad("transaction needs a from address")
    tx.setdefault("from", "0x" + "00" * 20)
    if "gas_price" in tx and ("max_fee_per_gas" in tx or "max_priority_fee_per_gas" in tx):
        raise _bad("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified")
    return tx


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
        return _q(self.chain_id)

    def _rpc_eth_syncing(self, params: list[Any]) -> bool:
        return False

    def _rpc_eth_blockNumber(self, params: list[Any]) -> str:
        return _q(self.head_number())

    def _rpc_eth_accounts(self, params: list[Any]) -> list[str]:
        return self.accounts()

    def _rpc_eth_gasPrice(self, params: list[Any]) -> str:
        return _q(self.pending_base_fee() + 10**9)

    def _rpc_eth_maxPriorityFeePerGas(self, params: list[Any]) -> str:
        return _q(10**9)

    def _rpc_eth_feeHistory(self, params: list[Any]) -> dict[str, Any]:
        count = min(parse_quantity(_param(params, 0, "blockCount"), "blockCount"), 1024)
        newest = self._resolve_block(_param(params, 1, "newestBlock"))
        if newest is None:
            raise RpcError(SERVER_ERROR, "header not found")
        percentiles = _param(params, 2, "rewardPercentiles", [])
        first = max(0, newest.number - count + 1)
        headers = [self.chain.get_canonical_block_header_by_number(n) for n in range(first, newest.number + 1)]
        result: dict[str, Any] = {
            "oldestBlock": _q(first),
            "baseFeePerGas": [_q(h.base_fee_per_gas) for h in headers] + [_q(self.pending_base_fee())],
            "gasUsedRatio": [h.gas_used / h.gas_limit for h in headers],
        }
        if percentiles:
            result["reward"] = [[_q(10**9) for _ in percentiles] for _ in headers]
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
        return None if block is None else _q(len(block.transactions))

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
        return _q(self._state_at(_param(params, 1, "block", "latest")).get_balance(address))

    def _rpc_eth_getTransactionCount(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        return _q(self._state_at(_param(params, 1, "block", "latest")).get_nonce(address))

    def _rpc_eth_getCode(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        return _b(self._state_at(_param(params, 1, "block", "latest")).get_code(address))

    def _rpc_eth_getStorageAt(self, params: list[Any]) -> str:
        address = parse_address(_param(params, 0, "address"))
        slot = parse_quantity(_param(params, 1, "slot"), "slot")
        return _h32(self._state_at(_param(params, 2, "block", "latest")).get_storage(address, slot))

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
        return out.lower() if isinstance(out, str) else _b(out)

    def _rpc_eth_estimateGas(self, params: list[Any]) -> str:
        tx = self._read_only_tx(_param(params, 0, "transaction"))
        block = self._tester_block(_param(params, 1, "block", "latest"))
        return _q(self._run(lambda: self.tester.estimate_gas(tx, block)))

    def _rpc_eth_sendTransaction(self, params: list[Any]) -> str:
        tx = parse_transaction(_param(params, 0, "transaction"), require_from=True)
        if tx["from"] not in self.accounts():
            raise RpcError(SERVER_ERROR, f"unknown account {tx['from']}")
        return self._run(lambda: self.tester.send_transaction(tx)).lower()

    def _rpc_eth_sendRawTransaction(self, params: list[Any]) -> str:
        raw = parse_data(_param(params, 0, "raw transaction"), "raw transaction")
        if not raw:
            raise _bad("empty raw transaction")
        return self._run(lambda: self.tester.send_raw_transaction(_b(raw))).lower()

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
        return _q(snapshot_id)

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


class _BlockView:
    """One mined block serialized once: blocks are immutable by hash, so the JSON is cached."""

    def __init__(self, block: Any, chaindb: Any) -> None:
        self.block = block
        self._chaindb = chaindb
        self._txs: list[dict[str, Any]] | None = None
        self._receipts: list[dict[str, Any]] | None = None
        self._json: dict[bool, dict[str, Any]] = {}

    def transactions(self) -> list[dict[str, Any]]:
        if self._txs is None:
            self._txs = [_tx_json(self.block, tx, i) for i, tx in enumerate(self.block.transactions)]
        return self._txs

    def block_json(self, full: bool) -> dict[str, Any]:
        if full not in self._json:
            body = self.transactions() if full else [_b(tx.hash) for tx in self.block.transactions]
            self._json[full] = _header_json(self.block, body)
        return self._json[full]

    def receipts(self) -> list[dict[str, Any]]:
        if self._receipts is None:
            self._receipts = _receipts_json(self.block, self._chaindb)
        return self._receipts


def _header_json(block: Any, transactions: list[Any]) -> dict[str, Any]:
    import rlp

    h = block.header
    out: dict[str, Any] = {
        "number": _q(h.block_number),
        "hash": _b(h.hash),
        "parentHash": _b(h.parent_hash),
        "nonce": _b(h.nonce),
        "sha3Uncles": _b(h.uncles_hash),
        "logsBloom": _bloom(h.bloom),
        "transactionsRoot": _b(h.transaction_root),
        "stateRoot": _b(h.state_root),
        "receiptsRoot": _b(h.receipt_root),
        "miner": _addr(h.coinbase) or "0x" + "00" * 20,
        "difficulty": _q(h.difficulty),
        "totalDifficulty": _q(h.difficulty),
        "extraData": _b(h.extra_data),
        "size": _q(len(rlp.encode(block))),
        "gasLimit": _q(h.gas_limit),
        "gasUsed": _q(h.gas_used),
        "timestamp": _q(h.timestamp),
        "mixHash": _b(h.mix_hash),
        "transactions": transactions,
        "uncles": [],
    }
    for field, name in (
        ("base_fee_per_gas", "baseFeePerGas"),
        ("withdrawals_root", "withdrawalsRoot"),
        ("blob_gas_used", "blobGasUsed"),
        ("excess_blob_gas", "excessBlobGas"),
        ("parent_beacon_block_root", "parentBeaconBlockRoot"),
        ("requests_hash", "requestsHash"),
    ):
        value = getattr(h, field, None)
        if value is not None:
            out[name] = _q(value) if isinstance(value, int) else _b(value)
    if "withdrawalsRoot" in out:
        out["withdrawals"] = []
    return out


def _pending_block_json(block: Any, full: bool) -> dict[str, Any]:
    body = [_tx_json(block, tx, i, pending=True) for i, tx in enumerate(block.transactions)] if full else [
        _b(tx.hash) for tx in block.transactions
    ]
    out = _header_json(block, body)
    out.update(hash=None, nonce=None, miner=None)
    return out


def _tx_type(tx: Any) -> int:
    return getattr(tx, "type_id", None) or 0


def _effective_gas_price(tx: Any, base_fee: int | None) -> int:
    if _tx_type(tx) >= 2:
        return min(tx.max_fee_per_gas, (base_fee or 0) + tx.max_priority_fee_per_gas)
    return tx.gas_price


def _tx_json(block: Any, tx: Any, index: int, pending: bool = False) -> dict[str, Any]:
    kind = _tx_type(tx)
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    out: dict[str, Any] = {
        "blockHash": None if pending else _b(block.hash),
        "blockNumber": None if pending else _q(block.number),
        "from": _addr(tx.sender),
        "gas": _q(tx.gas),
        "gasPrice": _q(_effective_gas_price(tx, base_fee) if not pending or kind < 2 else tx.max_fee_per_gas),
        "hash": _b(tx.hash),
        "input": _b(tx.data),
        "nonce": _q(tx.nonce),
        "to": _addr(tx.to),
        "transactionIndex": None if pending else _q(index),
        "value": _q(tx.value),
        "type": _q(kind),
    }
    if kind >= 2:
        out["maxFeePerGas"] = _q(tx.max_fee_per_gas)
        out["maxPriorityFeePerGas"] = _q(tx.max_priority_fee_per_gas)
    if kind >= 1:
        out["chainId"] = _q(tx.chain_id)
        out["accessList"] = [
            {"address": _addr(address), "storageKeys": [_h32(key) for key in keys]}
            for address, keys in (tx.access_list or ())
        ]
        out["v"] = _q(tx.y_parity)
        out["yParity"] = _q(tx.y_parity)
    else:
        out["v"] = _q(tx.v)
        if tx.v >= 35:
            out["chainId"] = _q((tx.v - 35) // 2)
    out["r"] = _q(tx.r)
    out["s"] = _q(tx.s)
    return out


def _receipts_json(block: Any, chaindb: Any) -> list[dict[str, Any]]:
    from eth._utils.address import generate_contract_address

    receipts = block.get_receipts(chaindb)
    base_fee = getattr(block.header, "base_fee_per_gas", None)
    block_hash, block_number = _b(block.hash), _q(block.number)
    out: list[dict[str, Any]] = []
    log_index = 0
    previous_cumulative = 0
    for index, (tx, receipt) in enumerate(zip(block.transactions, receipts, strict=True)):
        tx_hash = _b(tx.hash)
        logs = []
        for log in receipt.logs:
            logs.append(
                {
                    "address": _addr(log.address),
                    "topics": [_h32(topic) for topic in log.topics],
                    "data": _b(log.data),
                    "blockNumber": block_number,
                    "transactionHash": tx_hash,
                    "transactionIndex": _q(index),
                    "blockHash": block_hash,
                    "logIndex": _q(log_index),
                    "removed": False,
                }
            )
            log_index += 1
        created = _addr(generate_contract_address(tx.sender, tx.nonce)) if not tx.to else None
        out.append(
            {
                "blockHash": block_hash,
                "blockNumber": block_number,
                "contractAddress": created,
                "cumulativeGasUsed": _q(receipt.gas_used),
                "effectiveGasPrice": _q(_effective_gas_price(tx, base_fee)),
                "from": _addr(tx.sender),
                "gasUsed": _q(receipt.gas_used - previous_cumulative),
                "logs": logs,
                "logsBloom": _bloom(receipt.bloom),
                "status": "0x1" if receipt.state_root == b"\x01" else "0x0",
                "to": _addr(tx.to),
                "transactionHash": tx_hash,
                "transactionIndex": _q(index),
                "type": _q(_tx_type(tx)),
            }
        )
        previous_cumulative = receipt.gas_used
    return out


def _log_matcher(address: Any, topics: Any) -> Callable[[dict[str, Any]], bool]:
    """eth_getLogs filter semantics: address or list of addresses; topics by position, null = any,
    a list = any of."""
    if address is None:
        addresses = None
    else:
        items = address if isinstance(address, list) else [address]
        addresses = {_b(parse_address(a)) for a in items}
    wanted: list[set[str] | None] = []
    if topics is not None:
        if not isinstance(topics, list):
            raise _bad("topics must be an array")
        for position in topics:
            if position is None:
                wanted.append(None)
            elif isinstance(position, list):
                wanted.append({_b(parse_hash(t, "topic")) for t in position if t is not None} or None)
            else:
                wanted.append({_b(parse_hash(position, "topic"))})

    def match(log: dict[str, Any]) -> bool:
        if addresses is not None and log["address"] not in addresses:
            return False
        log_topics = log["topics"]
        for i, options in enumerate(wanted):
            if options is None:
                continue
            if i >= len(log_topics) or log_topics[i] not in options:
                return False
        return True

    return match


def _make_backend(pyevm_backend_class, params, state, chain_id, next_timestamp, salt):
    """A PyEVMBackend whose blocks are deterministic: our clock, our mixHash, our chain id."""
    from eth.vm.forks import PragueVM
    from eth_hash.auto import keccak
    from eth_tester.backends.pyevm.main import get_total_blob_gas

    builder = bytes.fromhex(BLOCK_BUILDER[2:])

    class DeterministicBackend(pyevm_backend_class):
        blocks_ever_mined = 0  # never reverted: a height re-mined after evm_revert gets a new mixHash
        _keys_by_address: dict[bytes, Any] | None = None

        @property
        def _key_lookup(self):
            # eth-tester rebuilds this map (a keccak per account) on every send; the keys only grow.
            if self._keys_by_address is None or len(self._keys_by_address) != len(self.account_keys):
                self._keys_by_address = {k.public_key.to_canonical_address(): k for k in self.account_keys}
            return self._keys_by_address

        def mine_blocks(self, num_blocks=1, coinbase=None):
            coinbase = builder  # every block, also those eth-tester's automine makes
            hashes = []
            for _ in range(num_blocks):
                self.blocks_ever_mined += 1
                mix_hash = keccak(salt + self.blocks_ever_mined.to_bytes(8, "big"))
                kwargs = {"coinbase": coinbase, "mix_hash": mix_hash}
                if isinstance(self.chain.get_vm(), PragueVM):
                    kwargs["blob_gas_used"] = sum(get_total_blob_gas(tx) for tx in self.chain.get_block().transactions)
                hashes.append(self.chain.mine_block(**kwargs).hash)
            return tuple(hashes)

    backend = DeterministicBackend(genesis_parameters=params, genesis_state=state)
    base = type(backend.chain)

    class DevnetChain(base):
        def create_header_from_parent(self, parent_header, **header_params):
            header_params.setdefault("timestamp", next_timestamp(parent_header.timestamp))
            # The pending block's fees must go to the coinbase its header will name: a header whose
            # coinbase changed at mining time has a state root re-execution cannot reproduce, and
            # evm_revert (which re-imports the snapshot's head block) then fails.
            header_params.setdefault("coinbase", builder)
            return super().create_header_from_parent(parent_header, **header_params)

    DevnetChain.chain_id = chain_id
    backend.chain.__class__ = DevnetChain
    backend.chain.header = backend.chain.create_header_from_parent(backend.chain.get_canonical_head())
    return backend
