"""The WebSocket route `GET /api/v1/stream`: the gateway's rules, then one subscription per connection.

Order on connect: accept (so every refusal can carry a close code and a reason a browser can read),
authenticate (the `Authorization: Bearer` header, or a `bearer.<token>` subprotocol offered beside
`sextant.stream.v1` for browsers, which cannot set headers; never a query parameter, which access
logs and proxies record), demand the `read` scope, count the connection on the client's rate-limit
budget (the one its HTTP requests use) and cap its concurrent streams. Failed authentications count
on the address's budget, as over HTTP.

Then: topics and cursor from the query (`?topics=blocks,mev&cursor=N`) or the first `subscribe`
message; the events after the cursor still in the log, then live ones, without a gap or a
duplicate (the subscriber joins the hub before the log is read, and everything up to the hub's
position at that moment comes from the log, everything after from the queue). Every counted
message (subscribe, unsubscribe, an unanswerable one, a pong nobody asked for) is a hit on the
budget. Heartbeats every STREAM_HEARTBEAT_SECONDS; a client silent for STREAM_IDLE_SECONDS is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from anyio import to_thread
from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from sqlalchemy import exc as sa_exc

from ops.stream import protocol as p
from resources.stream_events import bounds, read_after
from serving.auth import INVALID_TOKEN, MISSING_TOKEN, bearer_token, verify_token
from serving.ratelimit import client_key, limit_failed_authentication
from serving.stream.hub import Subscriber, frame_of
from serving.stream.service import StreamService

log = logging.getLogger("serving.stream")

PATH = "/api/v1/stream"
#: Seconds a close may wait for the client's buffer to drain before the connection is just dropped.
CLOSE_TIMEOUT = 3.0
REPLAY_PAGE = 500

router = APIRouter()


class Closing(Exception):
    """End the session with this close code and reason."""

    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Dropped(Closing):
    """The hub dropped this client (its queue was full)."""


@router.websocket(PATH)
async def stream(websocket: WebSocket) -> None:
    service: StreamService = websocket.app.state.stream
    offered = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=p.SUBPROTOCOL if p.SUBPROTOCOL in offered else None)
    client_id: str | None = None
    try:
        client_id = await _admit(websocket, service, offered)
        service.connections[client_id] += 1
        service.opened += 1
        try:
            await Session(websocket, service, client_id).run()
        finally:
            service.connections[client_id] -= 1
            if service.connections[client_id] <= 0:
                del service.connections[client_id]
    except Closing as closing:
        await _close(websocket, service, closing.code, closing.reason, client_id)
    except WebSocketDisconnect:
        pass  # the client went away while something was being sent to it: nothing to answer
    except (sa_exc.DBAPIError, sa_exc.TimeoutError, ConnectionError) as exc:
        # As over HTTP (503), an outage is no client error: try again later, from the cursor it has.
        log.warning("stream connection ended: the warehouse failed (%s: %s)", exc.__class__.__name__, exc)
        await _close(websocket, service, p.CLOSE_TRY_AGAIN_LATER, "the warehouse does not answer; reconnect with "
                     "your last cursor in a few seconds", client_id)  # fmt: skip
    except Exception:
        log.exception("stream connection failed")
        await _close(websocket, service, p.CLOSE_INTERNAL, "internal error", client_id)


async def _admit(websocket: WebSocket, service: StreamService, offered: list[str]) -> str:
    """The client id of an authenticated, authorized, budgeted connection; Closing otherwise."""
    state = websocket.app.state
    token = bearer_token(websocket) or p.token_from_subprotocols(offered)  # type: ignore[arg-type]
    principal = None if token is None else await verify_token(state.token_store, token)
    if principal is None:
        try:
            await limit_failed_authentication(websocket)  # type: ignore[arg-type]
        except HTTPException as exc:
            raise Closing(p.CLOSE_RATE_LIMITED, p.reason(f"{exc.detail}; retry in {exc.headers['Retry-After']} s"))
        raise Closing(p.CLOSE_UNAUTHORIZED, MISSING_TOKEN if token is None else INVALID_TOKEN)
    websocket.state.principal = principal
    if "read" not in principal.scopes:
        raise Closing(p.CLOSE_FORBIDDEN, "missing scope 'read'")
    await _hit(websocket, principal.client_id)
    if service.connections[principal.client_id] >= service.settings.stream_max_connections:
        raise Closing(p.CLOSE_RATE_LIMITED, f"at most {service.settings.stream_max_connections} concurrent "
                      "streams per client; close one first")  # fmt: skip
    if not service.hub.ready:
        raise Closing(p.CLOSE_TRY_AGAIN_LATER, "the stream is starting (its log is not read yet); retry in 1 s")
    return principal.client_id


async def _hit(websocket: WebSocket, client_id: str) -> None:
    """One hit on the client's rate-limit budget (the HTTP one); Closing(4429) when it is spent."""
    limiter = websocket.app.state.rate_limiter
    decision = await limiter.hit(client_key(websocket, client_id, limiter.trusted_proxies), PATH)  # type: ignore[arg-type]
    if not decision.allowed:
        metrics = getattr(websocket.app.state, "metrics", None)
        if metrics is not None:
            metrics.rate_limited("stream")
        raise Closing(p.CLOSE_RATE_LIMITED, p.reason(
            f"rate limit exceeded: {decision.description}; retry in {decision.retry_after} s"))


async def _close(websocket: WebSocket, service: StreamService, code: int, reason: str, client_id: str | None) -> None:
    service.closed_codes[code] += 1
    log.info("stream closed %d: %s", code, reason, extra={"user_id": client_id} if client_id else None)
    # A full buffer (the slow client) holds the close frame too: wait a little, then let the server drop it.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, p.reason(reason)), CLOSE_TIMEOUT)


class Session:
    """One connection after admission: its subscription, its sender, its receiver."""

    def __init__(self, websocket: WebSocket, service: StreamService, client_id: str):
        self.ws = websocket
        self.service = service
        self.settings = service.settings
        self.client_id = client_id
        self.subscriber: Subscriber | None = None
        self.cursor = 0  # the highest seq sent, or the cursor the client came with
        self.last_heard = time.monotonic()
        self.pong_credit = 0
        self.joined = asyncio.Event()  # the subscriber is in the hub (its queue fills from now on)
        self.started = asyncio.Event()  # the log is replayed: the queue is what comes next
        self.initial: tuple[tuple[str, ...], int | None] | None = None

    async def run(self) -> None:
        query = self.ws.query_params
        try:
            topics = p.parse_topics(query["topics"]) if query.get("topics") else None
            cursor = p.parse_cursor(query.get("cursor"))
        except p.ProtocolError as exc:
            raise Closing(p.CLOSE_BAD_REQUEST, p.reason(str(exc))) from None
        if cursor is not None and topics is None:
            raise Closing(p.CLOSE_BAD_REQUEST, "a cursor in the query needs topics there too")
        self.initial = (topics, cursor) if topics is not None else None
        try:
            tasks = {asyncio.create_task(self._receive()), asyncio.create_task(self._send()),
                     asyncio.create_task(self._watch_drop())}  # fmt: skip
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            for task in done:
                try:
                    task.result()  # Closing, or the client went away (returns)
                except Dropped:
                    # Said now, after the sender stopped: the cursor is the last event it really sent.
                    raise Closing(p.CLOSE_TRY_AGAIN_LATER, f"too slow: {self.service.queue_size} events "
                                  f"unread; reconnect with cursor={self.cursor}") from None  # fmt: skip
        finally:
            if self.subscriber is not None:
                self.service.hub.unsubscribe(self.subscriber)

    # --- subscription --------------------------------------------------------------------------

    async def subscribe(self, topics: tuple[str, ...], cursor: int | None) -> None:
        hub = self.service.hub
        if self.subscriber is not None:
            if cursor is not None:
                await self.ws.send_text(p.error_message("a cursor applies to the first subscription only; "
                                                        "the topics were added from now on"))  # fmt: skip
            self.subscriber.topics.update(topics)
            await self.ws.send_text(self._subscribed(self.subscriber.delivered))
            return
        subscriber = hub.subscribe(self.client_id, topics, self.service.queue_size)
        self.subscriber = subscriber
        self.joined.set()
        start = subscriber.start
        if cursor is None:
            self.cursor = start
        else:
            low, high = await to_thread.run_sync(bounds, self.service.warehouse)
            if cursor > max(high, start):
                raise Closing(p.CLOSE_BAD_REQUEST, f"cursor {cursor} is ahead of the stream (newest {high}); "
                              "reconnect without a cursor")  # fmt: skip
            if low and cursor < low - 1:
                raise Closing(p.CLOSE_CURSOR_GONE, p.reason(
                    f"cursor {cursor} is older than the retention window (oldest kept {low}); "
                    "reload from the REST API, then reconnect without a cursor"))
            self.cursor = cursor
        subscriber.delivered = self.cursor
        await self.ws.send_text(self._subscribed(self.cursor, live_from=start))
        # The log up to the hub's position when we joined; the queue holds what came after.
        while self.cursor < start:
            rows = await to_thread.run_sync(lambda: read_after(
                self.service.warehouse, self.cursor, upto=start, topics=topics, client_id=self.client_id,
                limit=REPLAY_PAGE))  # fmt: skip
            for row in rows:
                await self.ws.send_text(frame_of(row))
                self.cursor = subscriber.delivered = row.seq
            if len(rows) < REPLAY_PAGE:
                break
        self.cursor = subscriber.delivered = max(self.cursor, start)
        self.started.set()

    def _subscribed(self, cursor: int, live_from: int | None = None) -> str:
        assert self.subscriber is not None
        return p.subscribed_message(
            sorted(self.subscriber.topics), cursor,
            live_from=self.subscriber.start if live_from is None else live_from,
            heartbeat_seconds=self.settings.stream_heartbeat_seconds,
            retention_seconds=self.settings.stream_retention_seconds,
        )

    # --- the two directions --------------------------------------------------------------------

    async def _receive(self) -> None:
        if self.initial is not None:  # the query's subscription, replayed here so a drop is watched meanwhile
            await self.subscribe(*self.initial)
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            self.last_heard = time.monotonic()
            try:
                parsed = p.parse_client_message(message.get("text", message.get("bytes")))
            except p.ProtocolError as exc:
                await _hit(self.ws, self.client_id)
                await self.ws.send_text(p.error_message(str(exc)))
                continue
            if parsed.type == "pong":
                if self.pong_credit > 0:
                    self.pong_credit -= 1
                else:
                    await _hit(self.ws, self.client_id)
                continue
            await _hit(self.ws, self.client_id)
            if parsed.type == "subscribe":
                await self.subscribe(parsed.topics, parsed.cursor)
            elif self.subscriber is not None:  # unsubscribe
                self.subscriber.topics.difference_update(parsed.topics)
                await self.ws.send_text(self._subscribed(self.subscriber.delivered))

    async def _send(self) -> None:
        heartbeat = self.settings.stream_heartbeat_seconds
        idle = self.settings.stream_idle_seconds
        next_beat = time.monotonic() + heartbeat
        while True:
            now = time.monotonic()
            if now - self.last_heard > idle:
                raise Closing(p.CLOSE_IDLE, f"nothing received for {idle:g} s; answer heartbeats with "
                              '{"type":"pong"}')  # fmt: skip
            subscriber = self.subscriber if self.started.is_set() else None
            if now >= next_beat:
                await self.ws.send_text(p.heartbeat_message(self._heartbeat_cursor(), _now()))
                self.pong_credit = min(self.pong_credit + 1, 2)
                next_beat = now + heartbeat
            wait = max(0.0, min(next_beat, self.last_heard + idle) - time.monotonic()) + 0.001
            if subscriber is None:
                await _sleep_until(wait, self.started)
                continue
            if subscriber.dropped.is_set():
                raise Dropped(p.CLOSE_TRY_AGAIN_LATER, subscriber.drop_reason)
            item = await _get(subscriber, wait)
            if item is None:
                continue
            seq, frame = item
            if seq <= self.cursor:  # already replayed from the log, or before the client's cursor
                continue
            await self.ws.send_text(frame)
            self.cursor = subscriber.delivered = seq

    async def _watch_drop(self) -> None:
        """The hub dropped this client (queue full): close it even while a send waits on its buffer."""
        await self.joined.wait()
        assert self.subscriber is not None
        await self.subscriber.dropped.wait()
        raise Dropped(p.CLOSE_TRY_AGAIN_LATER, self.subscriber.drop_reason)

    def _heartbeat_cursor(self) -> int:
        """Everything the client asked for up to here has been sent (the queue is empty: nothing pends)."""
        subscriber = self.subscriber
        if subscriber is None or not self.started.is_set():
            return self.cursor
        if subscriber.queue.empty() and self.service.hub.position is not None:
            self.cursor = subscriber.delivered = max(self.cursor, self.service.hub.position)
        return self.cursor


async def _get(subscriber: Subscriber, timeout: float) -> tuple[int, str] | None:
    """The next queued event, or None after `timeout` s. Awaited directly (no helper tasks), so a
    put wakes this sender on the loop's next turn: the hub's yield between chunks is enough for a
    client that keeps up to drain its queue."""
    if not subscriber.queue.empty():
        return subscriber.queue.get_nowait()
    try:
        async with asyncio.timeout(timeout):
            return await subscriber.queue.get()
    except TimeoutError:
        return None


async def _sleep_until(timeout: float, event: asyncio.Event) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
