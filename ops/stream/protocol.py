"""What the stream's WebSocket clients and the API say to each other (JSON text frames), pure.

Client -> server: `{"type": "subscribe", "topics": [...], "cursor": N}` (cursor only on the first
subscription), `{"type": "unsubscribe", "topics": [...]}`, `{"type": "pong"}` (the answer to a
heartbeat). Server -> client: `subscribed`, `event`, `heartbeat`, `error`. Every event carries its
`cursor` (the global sequence number); a heartbeat carries the cursor up to which the client has
everything it asked for, so a client of a quiet topic can resume from there too.

Close codes: the 4000 range mirrors the HTTP status a request would have had (as graphql-ws does:
4401, 4403, 4429), so clients handle them like the REST answers; 1013 (try again later) is a slow
client dropped, or the stream not able to serve right now (starting, warehouse down): reconnect with
the cursor. Every close says in its reason what to do next.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ops.stream.events import TOPICS

#: The subprotocol a client offers (and the server selects) when it sends its token as a subprotocol.
SUBPROTOCOL = "sextant.stream.v1"
#: Prefix of the subprotocol that carries a bearer token: `bearer.<token>` (browsers cannot set headers).
TOKEN_SUBPROTOCOL_PREFIX = "bearer."

CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN_LATER = 1013  # a slow client dropped, the stream starting, the warehouse down
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_CURSOR_GONE = 4410
CLOSE_RATE_LIMITED = 4429

#: Longest client message read (a subscription is a few topic names).
MAX_CLIENT_MESSAGE_CHARS = 4096
#: A close reason is at most 123 bytes of UTF-8 (RFC 6455, 5.5: 125 bytes of control payload).
MAX_REASON_BYTES = 123


class ProtocolError(ValueError):
    """A client message the server cannot act on; the message says why (sent back as an `error`)."""


@dataclass(frozen=True, slots=True)
class ClientMessage:
    type: str  # subscribe | unsubscribe | pong
    topics: tuple[str, ...] = ()
    cursor: int | None = None


def parse_topics(value: Any) -> tuple[str, ...]:
    """Topics from a list or a comma-separated text; `*` or `all` means every topic."""
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value]
    else:
        raise ProtocolError("topics must be a list of topic names or a comma-separated text")
    if any(item in ("*", "all") for item in items):
        return TOPICS
    unknown = [item for item in items if item not in TOPICS]
    if unknown:
        raise ProtocolError(f"unknown topic {unknown[0]!r}; topics: {', '.join(TOPICS)}")
    if not items:
        raise ProtocolError(f"name at least one topic: {', '.join(TOPICS)}")
    return tuple(dict.fromkeys(items))


def parse_cursor(value: Any) -> int | None:
    """A cursor (a non-negative integer, or its decimal text); None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ProtocolError("cursor must be a non-negative integer")
    if isinstance(value, str):
        if not value.isascii() or not value.isdigit() or len(value) > 19:
            raise ProtocolError("cursor must be a non-negative integer")
        value = int(value)
    if not isinstance(value, int) or value < 0 or value >= 2**63:
        raise ProtocolError("cursor must be a non-negative integer")
    return value


def parse_client_message(text: str | bytes | None) -> ClientMessage:
    """A client frame as a `ClientMessage`, or ProtocolError."""
    if text is None:
        raise ProtocolError("send JSON text frames")
    if isinstance(text, bytes):
        try:
            text = text.decode()
        except UnicodeDecodeError:
            raise ProtocolError("messages must be UTF-8 JSON") from None
    if len(text) > MAX_CLIENT_MESSAGE_CHARS:
        raise ProtocolError(f"message longer than {MAX_CLIENT_MESSAGE_CHARS} characters")
    try:
        message = json.loads(text)
    except ValueError:
        raise ProtocolError("message is not JSON") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError('a message is a JSON object with a "type"')
    kind = message["type"]
    if kind == "pong":
        return ClientMessage("pong")
    if kind in ("subscribe", "unsubscribe"):
        if "topics" not in message:
            raise ProtocolError(f"{kind} needs topics")
        cursor = parse_cursor(message.get("cursor")) if kind == "subscribe" else None
        return ClientMessage(kind, parse_topics(message["topics"]), cursor)
    raise ProtocolError(f"unknown message type {kind!r}; expected subscribe, unsubscribe or pong")


def token_from_subprotocols(offered: Iterable[str]) -> str | None:
    """The token of a `bearer.<token>` subprotocol among those a client offered, or None."""
    for protocol in offered:
        if protocol.startswith(TOKEN_SUBPROTOCOL_PREFIX):
            return protocol[len(TOKEN_SUBPROTOCOL_PREFIX):] or None
    return None


def reason(text: str) -> str:
    """`text` cut to what a close frame can carry (at most 123 bytes of UTF-8, on a character boundary)."""
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


# -- server messages (built as text once per event, shared by every client that receives it) ---------


def event_message(seq: int, topic: str, key: str, payload: str, created_at: str) -> str:
    """The `event` frame; `payload` is the stored JSON text (inserted as is, never re-encoded)."""
    head = json.dumps({"type": "event", "cursor": seq, "topic": topic, "key": key, "created_at": created_at},
                      separators=(",", ":"), ensure_ascii=False)  # fmt: skip
    return head[:-1] + ',"data":' + payload + "}"


def subscribed_message(topics: Iterable[str], cursor: int, *, live_from: int, heartbeat_seconds: float,
                       retention_seconds: float) -> str:  # fmt: skip
    """The answer to a subscription: events after `cursor` follow (from the log up to `live_from`,
    then live), then heartbeats every `heartbeat_seconds`."""
    return _dump({"type": "subscribed", "topics": list(topics), "cursor": cursor, "live_from": live_from,
                  "heartbeat_seconds": heartbeat_seconds, "retention_seconds": retention_seconds})  # fmt: skip


def heartbeat_message(cursor: int, now: str) -> str:
    return _dump({"type": "heartbeat", "cursor": cursor, "time": now})


def error_message(detail: str) -> str:
    return _dump({"type": "error", "detail": detail})


def _dump(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
