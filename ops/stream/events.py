"""The events assets publish to the live stream, and their validation.

An event is a topic, a key (what it is about: a block number, a model name, a batch id), a small
JSON object and, when only one API client may see it, that client's id (a translation batch belongs
to the client that queued it). Validation happens where events are made, so a bad event fails the
run that produced it rather than every client that would have received it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

BLOCKS = "blocks"
MEV = "mev"
RISK = "risk"
NLP_BATCHES = "nlp_batches"
MODELS = "models"
#: Every topic a client may subscribe to, in the order the documentation lists them.
TOPICS: tuple[str, ...] = (BLOCKS, MEV, RISK, NLP_BATCHES, MODELS)

#: Largest JSON payload of one event, in bytes: events say what happened, the REST API has the rows.
MAX_PAYLOAD_BYTES = 16_384
MAX_KEY_CHARS = 200


class InvalidEvent(ValueError):
    """An event that would not be stored (unknown topic, empty key, payload not JSON or too large)."""


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One fact for the stream. `client_id`: only that API client receives it (None: every client)."""

    topic: str
    key: str
    data: Mapping[str, Any] = field(default_factory=dict)
    client_id: str | None = None

    def payload(self) -> str:
        """The data as compact JSON text (validated)."""
        return encode_payload(self.data)


def encode_payload(data: Mapping[str, Any]) -> str:
    if not isinstance(data, Mapping):
        raise InvalidEvent(f"event data must be a JSON object, not {type(data).__name__}")
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"event data is not JSON: {exc}") from None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidEvent(f"event data is {len(text.encode())} bytes of JSON; at most {MAX_PAYLOAD_BYTES}")
    return text


def validate(event: StreamEvent) -> StreamEvent:
    """`event`, or InvalidEvent naming what is wrong."""
    if event.topic not in TOPICS:
        raise InvalidEvent(f"unknown topic {event.topic!r}; topics: {', '.join(TOPICS)}")
    if not isinstance(event.key, str) or not event.key or len(event.key) > MAX_KEY_CHARS:
        raise InvalidEvent(f"event key must be text of 1-{MAX_KEY_CHARS} characters, got {event.key!r}")
    if event.client_id is not None and (not isinstance(event.client_id, str) or not event.client_id):
        raise InvalidEvent(f"client_id must be a non-empty text or None, got {event.client_id!r}")
    event.payload()
    return event


# -- builders the assets use (one per source, so every producer of a topic says the same thing) ------


def block_events(blocks: Iterable[Mapping[str, Any]]) -> list[StreamEvent]:
    """One `blocks` event per indexed block row (chain_blocks columns), in block order."""
    rows = sorted(blocks, key=lambda row: row["number"])
    return [
        StreamEvent(
            BLOCKS,
            str(row["number"]),
            {
                "number": int(row["number"]),
                "hash": row.get("hash"),
                "parent_hash": row.get("parent_hash"),
                "timestamp": row.get("timestamp"),
                "transaction_count": row.get("transaction_count"),
                "gas_used": row.get("gas_used"),
                "miner": row.get("miner"),
            },
        )
        for row in rows
    ]


def model_promoted(model: str, version: str, *, previous: str | None = None, reason: str | None = None,
                   metrics: Mapping[str, Any] | None = None) -> StreamEvent:  # fmt: skip
    """A `models` event: `model` now serves `version` (was `previous`)."""
    data: dict[str, Any] = {"model": model, "version": version, "previous": previous}
    if reason:
        data["reason"] = reason
    if metrics:
        data["metrics"] = {k: _finite_or_none(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    return StreamEvent(MODELS, model, data)


def batch_status(batch_id: str, status: str, client_id: str | None, **fields: Any) -> StreamEvent:
    """An `nlp_batches` event for the batch's own client only (other clients may not see its id)."""
    data = {"batch_id": batch_id, "status": status, **{k: v for k, v in fields.items() if v is not None}}
    return StreamEvent(NLP_BATCHES, batch_id, data, client_id=client_id or None)


def mev_events(kind: str, rows: Iterable[Mapping[str, Any]], key_columns: Iterable[str]) -> list[StreamEvent]:
    """One `mev` event per detected sandwich or arbitrage row (`kind`: "sandwich" or "arbitrage").

    The key joins `key_columns` of the row (the table's key), so a re-detected row has the same key.
    Values that are not JSON scalars are sent as their text.
    """
    columns = tuple(key_columns)
    out = []
    for row in rows:
        key = ":".join(str(row[c]) for c in columns)
        data = {"kind": kind, **{k: _json_scalar(v) for k, v in row.items()}}
        out.append(StreamEvent(MEV, f"{kind}:{key}"[:MAX_KEY_CHARS], data))
    return out


def risk_changes(previous: Mapping[str, float], current: Mapping[str, tuple[float, str | None]],
                 threshold: float, min_change: float = 0.0) -> list[StreamEvent]:  # fmt: skip
    """`risk` events for the addresses whose score is at or above `threshold` now and was not before
    (or rose by more than `min_change` while above it).

    `previous`: address -> last stored score (absent: never scored); `current`: address -> (score,
    band). Addresses that stay below the threshold say nothing: the stream is for what needs a look.
    """
    out = []
    for address in sorted(current):
        score, band = current[address]
        if score is None or not math.isfinite(score) or score < threshold:
            continue
        before = previous.get(address)
        crossed = before is None or before < threshold
        rose = before is not None and score - before > min_change > 0
        if crossed or rose:
            out.append(StreamEvent(RISK, address, {
                "address": address, "score": _number(score), "band": band,
                "previous_score": None if before is None else _number(before), "threshold": threshold,
            }))  # fmt: skip
    return out


def _number(value: Any) -> int | float:
    """Scores as they are stored: the API's 0-100 integers stay integers, probabilities floats."""
    if isinstance(value, bool):
        raise InvalidEvent("a score is a number, not a boolean")
    return int(value) if isinstance(value, int) else float(value)


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _finite_or_none(value)
    return str(value)
