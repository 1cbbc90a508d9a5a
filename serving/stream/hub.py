"""The fan-out of one app: every event once, in seq order, to every connection that wants it.

The hub keeps `position`, the last seq it delivered, and delivers densely: an event whose seq jumps
ahead (a Redis entry after an outage, a leader change) first has the missing ones read from the
warehouse log, and one at or below the position is ignored. Any source may therefore feed it, and
feeds may overlap, without a client seeing a gap or a duplicate.

Delivery never waits for a client: each connection has a bounded queue, `put_nowait`, and a full
queue drops that connection (it resumes from its cursor when it reconnects). Every event's frame is
encoded once and shared by every connection that receives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from ops.stream.protocol import event_message
from resources.stream_events import StoredEvent

log = logging.getLogger("serving.stream")

#: Reads the log: (after, upto) -> events with after < seq <= upto, in order (any client, any topic).
GapReader = Callable[[int, int], Awaitable[list[StoredEvent]]]


def frame_of(event: StoredEvent) -> str:
    created = event.created_at.isoformat().replace("+00:00", "Z")
    return event_message(event.seq, event.topic, event.key, event.payload, created)


class Subscriber:
    """One connection's subscription: its topics, its client, its queue of (seq, frame)."""

    def __init__(self, client_id: str, topics: Iterable[str], queue_size: int, start: int):
        self.client_id = client_id
        self.topics: set[str] = set(topics)
        self.queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue(maxsize=queue_size)
        self.queue_size = queue_size
        #: The hub's position when this subscriber joined: later events come through the queue.
        self.start = start
        #: The cursor up to which this client has everything it asked for (the sender moves it).
        self.delivered = start
        self.dropped = asyncio.Event()
        self.drop_reason = ""

    def offer(self, event: StoredEvent, frame: str) -> bool:
        """Queue `event` when this subscriber wants it; False when the queue was full (dropped)."""
        if event.topic not in self.topics or not event.visible_to(self.client_id):
            return True
        try:
            self.queue.put_nowait((event.seq, frame))
        except asyncio.QueueFull:
            self.drop_reason = (
                f"too slow: {self.queue_size} events unread; reconnect with cursor={self.delivered}"
            )
            self.dropped.set()
            return False
        return True


class Hub:
    """Subscribers of one app and the position of the stream they follow."""

    def __init__(self, read_gap: GapReader, *, chunk: int = 500):
        self._read_gap = read_gap
        self.chunk = max(1, chunk)
        self.position: int | None = None  # unknown until a feed has read the log once
        self.subscribers: set[Subscriber] = set()
        self.delivered_events = 0
        self.dropped_clients = 0
        self.gaps_filled = 0
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        return self.position is not None

    def start_at(self, position: int) -> None:
        if self.position is None:
            self.position = position

    def subscribe(self, client_id: str, topics: Iterable[str], queue_size: int) -> Subscriber:
        if self.position is None:
            raise RuntimeError("the stream has not read its log yet")
        subscriber = Subscriber(client_id, topics, queue_size, self.position)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    async def ingest(self, events: Iterable[StoredEvent]) -> int:
        """Deliver `events` (any order, overlaps allowed) densely after the position; delivered count."""
        async with self._lock:  # two feeds (Redis and the table fallback) never interleave
            delivered = 0
            for event in sorted(events, key=lambda e: e.seq):
                if self.position is None or event.seq <= self.position:
                    continue
                if event.seq > self.position + 1:
                    delivered += await self._fill(event.seq - 1)
                    if event.seq <= self.position:
                        continue
                self._deliver(event)
                delivered += 1
                if delivered % self.chunk == 0:
                    await asyncio.sleep(0)  # let the connections drain their queues between chunks
            return delivered

    async def _fill(self, upto: int) -> int:
        """Deliver the log's events after the position up to `upto` (they were missed by the source)."""
        filled = 0
        while self.position is not None and self.position < upto:
            missing = await self._read_gap(self.position, upto)
            if not missing:
                log.warning("stream events %d-%d are gone from the log (pruned); skipping them",
                            self.position + 1, upto)  # fmt: skip
                self.position = upto
                break
            for event in missing:
                if event.seq > self.position:
                    self._deliver(event)
                    filled += 1
                    if filled % self.chunk == 0:
                        await asyncio.sleep(0)
        self.gaps_filled += filled
        return filled

    def _deliver(self, event: StoredEvent) -> None:
        self.position = event.seq
        self.delivered_events += 1
        if not self.subscribers:
            return
        frame = frame_of(event)
        for subscriber in list(self.subscribers):
            if not subscriber.offer(event, frame):
                self.subscribers.discard(subscriber)
                self.dropped_clients += 1
