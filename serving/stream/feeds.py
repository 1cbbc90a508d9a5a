"""Where the hub's events come from: the warehouse log, read directly or through Redis.

`TableFeed` (CACHE_URL mem://): this process polls `stream_events` for seq > position every
STREAM_POLL_SECONDS (the primary key is the index) and feeds the hub.

`RedisFeed` (CACHE_URL redis://): one replica at a time holds a lease in Redis (SET NX PX, renewed
each poll) and copies new rows of the table into a Redis stream, with entry id `<seq>-0`: Redis
refuses an id not above the stream's last, so a former leader that still writes after losing its
lease cannot duplicate or reorder anything. Every replica XREADs the stream (blocking) into its own
hub, so the table is polled once whatever the number of replicas, and every replica sees every
event. While Redis fails, a replica polls the table itself (the hub drops what it already has and
fills gaps from the table), logs one warning, and goes back to Redis when it answers.

Both prune events older than STREAM_RETENTION_SECONDS once a minute (the leader only, with Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from datetime import datetime
from typing import Any

from anyio import to_thread

from resources.stream_events import StoredEvent, bounds, prune, read_after
from resources.warehouse import Warehouse
from serving.stream.hub import Hub

log = logging.getLogger("serving.stream")

PRUNE_EVERY_SECONDS = 60.0
#: Entries a Redis stream keeps (approximately): the live tail; resumption reads the table.
REDIS_MAXLEN = 10_000
_ERROR_PAUSE = 1.0


def _encode(event: StoredEvent) -> dict[str, str]:
    return {"e": json.dumps([event.topic, event.key, event.client_id, event.payload, event.created_at.isoformat()])}


def _decode(entry_id: bytes | str, fields: dict) -> StoredEvent:
    entry = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    raw = fields.get(b"e", fields.get("e"))
    topic, key, client_id, payload, created = json.loads(raw)
    return StoredEvent(int(entry.split("-", 1)[0]), topic, key, client_id, payload, datetime.fromisoformat(created))


class _Feed:
    """Shared by both feeds: the warehouse calls (in worker threads) and the task lifecycle."""

    def __init__(self, hub: Hub, warehouse: Warehouse, *, poll_seconds: float, retention_seconds: float):
        self.hub = hub
        self.warehouse = warehouse
        self.poll_seconds = poll_seconds
        self.retention_seconds = retention_seconds
        self.page = max(hub.chunk, 100)
        self._tasks: list[asyncio.Task] = []
        self._last_prune = 0.0
        self._failing: set[str] = set()

    # warehouse
    async def read(self, after: int, upto: int | None = None) -> list[StoredEvent]:
        return await to_thread.run_sync(
            lambda: read_after(self.warehouse, after, upto=upto, any_client=True, limit=self.page)
        )

    async def newest(self) -> int:
        return (await to_thread.run_sync(bounds, self.warehouse))[1]

    async def maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = now
        deleted = await to_thread.run_sync(prune, self.warehouse, self.retention_seconds)
        if deleted:
            log.info("pruned %d stream events older than %.0f s", deleted, self.retention_seconds)

    async def poll_table_once(self) -> int:
        """Feed the hub from the table directly; events delivered."""
        assert self.hub.position is not None
        return await self.hub.ingest(await self.read(self.hub.position))

    async def ensure_position(self) -> None:
        if self.hub.position is None:
            self.hub.start_at(await self.newest())

    # health of one loop, logged once per outage
    def failed(self, what: str, exc: BaseException) -> None:
        if what not in self._failing:
            self._failing.add(what)
            log.warning("stream %s failed (%s: %s); retrying", what, exc.__class__.__name__, exc)

    def recovered(self, what: str) -> None:
        if what in self._failing:
            self._failing.discard(what)
            log.info("stream %s answers again", what)

    # lifecycle
    def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
                await task
        self._tasks.clear()


class TableFeed(_Feed):
    """In process: this app polls the table."""

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="stream-table-feed"))

    async def _run(self) -> None:
        while True:
            delivered = 0
            try:
                await self.ensure_position()
                delivered = await self.poll_table_once()
                await self.maybe_prune()
                self.recovered("warehouse")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the warehouse may be down; the stream waits
                self.failed("warehouse", exc)
                await asyncio.sleep(_ERROR_PAUSE)
            if delivered < self.page:  # a full page: more may be waiting, read again at once
                await asyncio.sleep(self.poll_seconds)


class RedisFeed(_Feed):
    """Across replicas: one leader copies the table into a Redis stream, every replica reads it."""

    def __init__(self, hub: Hub, warehouse: Warehouse, url: str, namespace: str, **kwargs: Any):
        super().__init__(hub, warehouse, **kwargs)
        import redis.asyncio as aioredis

        self.stream_key = f"{namespace}:stream:events"
        self.lease_key = f"{namespace}:stream:leader"
        self.instance = uuid.uuid4().hex
        self.lease_ms = int(max(5.0, 10 * self.poll_seconds) * 1000)
        block = self.poll_seconds
        self.block_ms = max(1, int(block * 1000))
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=block + 5.0)
        self.leader = False
        self._top: int | None = None  # the stream's last seq, as the leader knows it

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._lead(), name="stream-redis-leader"))
        self._tasks.append(asyncio.create_task(self._follow(), name="stream-redis-reader"))

    async def stop(self) -> None:
        await super().stop()
        with contextlib.suppress(Exception):  # shutting down anyway
            if self.leader:  # hand the lease over at once rather than after it expires
                await self._redis.eval(_RELEASE, 1, self.lease_key, self.instance)
        with contextlib.suppress(Exception):
            await self._redis.aclose()

    # the leader: table -> Redis stream
    async def _lead(self) -> None:
        while True:
            copied = 0
            try:
                self.leader = await self._hold_lease()
                self.recovered("Redis lease")
                if self.leader:
                    copied = await self._copy()
                    await self.maybe_prune()
                else:
                    self._top = None
                self.recovered("leader")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.leader = False
                self._top = None
                self.failed("leader", exc)
                await asyncio.sleep(_ERROR_PAUSE)
            if copied < self.page:
                await asyncio.sleep(self.poll_seconds)

    async def _hold_lease(self) -> bool:
        if await self._redis.eval(_RENEW, 1, self.lease_key, self.instance, self.lease_ms):
            return True
        return bool(await self._redis.set(self.lease_key, self.instance, nx=True, px=self.lease_ms))

    async def _copy(self) -> int:
        if self._top is None:
            last = await self._redis.xrevrange(self.stream_key, count=1)
            if last:
                self._top = int(last[0][0].decode().split("-", 1)[0])
            else:
                await self.ensure_position()
                self._top = self.hub.position or 0
        rows = await self.read(self._top)
        if not rows:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for row in rows:
            pipe.xadd(self.stream_key, _encode(row), id=f"{row.seq}-0", maxlen=REDIS_MAXLEN, approximate=True)
        results = await pipe.execute(raise_on_error=False)
        if any(isinstance(result, Exception) for result in results):
            # Another leader wrote these ids first (a lease that changed hands): read its top again.
            self._top = None
        else:
            self._top = rows[-1].seq
        return len(rows)

    # every replica: Redis stream -> hub
    async def _follow(self) -> None:
        while True:
            try:
                await self.ensure_position()
                self.recovered("warehouse")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.failed("warehouse", exc)
                await asyncio.sleep(_ERROR_PAUSE)
                continue
            try:
                answer = await self._redis.xread(
                    {self.stream_key: f"{self.hub.position}-0"}, count=self.page, block=self.block_ms
                )
                self.recovered("Redis reader")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: read the table ourselves meanwhile
                self.failed("Redis reader", exc)
                try:
                    await self.poll_table_once()
                except asyncio.CancelledError:
                    raise
                except Exception as table_exc:  # noqa: BLE001
                    self.failed("warehouse", table_exc)
                await asyncio.sleep(self.poll_seconds)
                continue
            events = [_decode(entry_id, fields) for _key, entries in answer or () for entry_id, fields in entries]
            if events:
                try:
                    await self.hub.ingest(events)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a gap read that failed: the next round retries
                    self.failed("warehouse", exc)
                    await asyncio.sleep(_ERROR_PAUSE)


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
