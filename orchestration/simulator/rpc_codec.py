"""JSON-RPC values in and out of the devnet chain: hex quantities and data, as a real node speaks them.

Out: ``hex_quantity`` (quantity), ``hex_data`` (data), ``hex_word`` (a 32-byte word), ``_addr``, ``_bloom``. In: parameters
checked the way geth checks them (``parse_*``, ``_param``, ``parse_transaction``) and the eth_getLogs
filter (``_log_matcher``). Shared by the chain (`chain.py`) and its block serialization
(`block_json.py`); the underscore names stay inside this package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestration.simulator.rpc_server import INVALID_PARAMS, RpcError


def hex_quantity(value: int) -> str:
    return hex(value)


def hex_data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def hex_word(value: int | bytes) -> str:
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


def _log_matcher(address: Any, topics: Any) -> Callable[[dict[str, Any]], bool]:
    """eth_getLogs filter semantics: address or list of addresses; topics by position, null = any,
    a list = any of."""
    if address is None:
        addresses = None
    else:
        items = address if isinstance(address, list) else [address]
        addresses = {hex_data(parse_address(a)) for a in items}
    wanted: list[set[str] | None] = []
    if topics is not None:
        if not isinstance(topics, list):
            raise _bad("topics must be an array")
        for position in topics:
            if position is None:
                wanted.append(None)
            elif isinstance(position, list):
                wanted.append({hex_data(parse_hash(t, "topic")) for t in position if t is not None} or None)
            else:
                wanted.append({hex_data(parse_hash(position, "topic"))})

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
