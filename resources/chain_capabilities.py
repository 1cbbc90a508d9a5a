"""What a JSON-RPC node can do, learnt once per endpoint and remembered for the process and across runs.

Nodes disagree on how they say "I have no such method": geth answers -32601, others -32700 (a
"parse error" for a request they parsed), -32600, or -32000 with a message. One code is no
evidence, so ``unknown_method_verdict`` reads code and message together, and an ambiguous answer is
settled by a control call (see ``ChainRPC``). A decision is stored under the endpoint's id (its URL
without credentials, the path hashed: hosted nodes put API keys there) in process memory and, when
a warehouse is attached, in the ``chain_node_capabilities`` table, so the next run, sensor or
replica does not ask again.
"""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import polars as pl

#: Codes some node uses for "no such method"; only -32601 says so on its own.
UNKNOWN_METHOD_CODES = frozenset({-32601, -32700, -32600, -32000, -32004})
_UNKNOWN_METHOD_TEXT = re.compile(
    r"\bmethod\b.*\b(not|unknown|unsupported|unavailable)\b|\b(unknown|unsupported|invalid) method\b"
    r"|\bnot supported\b|\bunsupported\b|\bnot implemented\b",
    re.IGNORECASE,
)

#: Capability names (the JSON-RPC method whose support was learnt).
BLOCK_RECEIPTS = "eth_getBlockReceipts"


def unknown_method_verdict(code: int | None, message: str | None) -> bool | None:
    """True: the node says it lacks the method; None: a code some nodes use for that, with a message
    that does not say it (a control call must settle it); False: any other error."""
    if code == -32601:
        return True
    if code not in UNKNOWN_METHOD_CODES:
        return False
    if message and _UNKNOWN_METHOD_TEXT.search(message):
        return True
    return None if code in (-32700, -32600) else False


def endpoint_id(url: str) -> str:
    """``scheme://host:port`` plus a hash of the path and query: stable, and never a credential."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    rest = parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    suffix = f"/#{hashlib.sha256(rest.encode()).hexdigest()[:12]}" if rest else ""
    return f"{parts.scheme}://{host}{port}{suffix}"


class CapabilityStore(Protocol):
    """Where decisions outlive the process (the warehouse); ``ChainRPC`` keeps its own memory too."""

    def load(self, endpoint: str) -> dict[str, bool]: ...

    def save(self, endpoint: str, capability: str, supported: bool, detail: str) -> None: ...


CAPABILITIES_SCHEMA = {
    "endpoint": pl.Utf8,
    "capability": pl.Utf8,
    "supported": pl.Boolean,
    "detail": pl.Utf8,
    "detected_at": pl.Datetime("us", "UTC"),
}
CAPABILITIES_KEY = ("endpoint", "capability")


class WarehouseCapabilityStore:
    """The ``chain_node_capabilities`` table (one row per endpoint and capability)."""

    def __init__(self, warehouse) -> None:  # resources.warehouse.Warehouse
        from resources.tables import CHAIN_NODE_CAPABILITIES

        self._warehouse = warehouse
        self._spec = CHAIN_NODE_CAPABILITIES

    def load(self, endpoint: str) -> dict[str, bool]:
        if not self._warehouse.has_table(self._spec.name):
            return {}
        rows = self._warehouse.read(self._spec.name, {"endpoint": endpoint}, columns=["capability", "supported"])
        return {name: bool(value) for name, value in rows.iter_rows()}

    def save(self, endpoint: str, capability: str, supported: bool, detail: str) -> None:
        row = {
            "endpoint": endpoint,
            "capability": capability,
            "supported": supported,
            "detail": detail[:500],
            "detected_at": datetime.now(UTC),
        }
        self._warehouse.upsert(self._spec, pl.DataFrame([row], schema=CAPABILITIES_SCHEMA))


class ProcessMemory:
    """Decisions learnt in this process, by (endpoint, capability): every client of one node shares them."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], bool] = {}
        self._lock = threading.Lock()

    def get(self, endpoint: str, capability: str) -> bool | None:
        with self._lock:
            return self._known.get((endpoint, capability))

    def put(self, endpoint: str, capability: str, supported: bool) -> None:
        with self._lock:
            self._known[(endpoint, capability)] = supported

    def forget(self) -> None:
        with self._lock:
            self._known.clear()


PROCESS_MEMORY = ProcessMemory()
