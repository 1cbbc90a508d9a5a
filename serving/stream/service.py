"""The stream of one app (`app.state.stream`): its hub, its feed, its connections per client.

Started and stopped by the app's lifespan. The feed is chosen by CACHE_URL, like the cache and the
rate limits: Redis when replicas share one, the table directly otherwise.
"""

from __future__ import annotations

import logging
from collections import Counter

from anyio import to_thread

from resources.settings import Settings
from resources.stream_events import StoredEvent, read_after
from resources.warehouse import Warehouse
from serving.stream.feeds import RedisFeed, TableFeed
from serving.stream.hub import Hub

log = logging.getLogger("serving.stream")


class StreamService:
    def __init__(self, settings: Settings, warehouse: Warehouse):
        self.settings = settings
        self.warehouse = warehouse
        self.queue_size = settings.stream_queue_size
        # Chunks of half a queue between yields: a client that keeps up always drains between them.
        self.hub = Hub(self._read_gap, chunk=max(1, min(500, self.queue_size // 2)))
        options = {"poll_seconds": settings.stream_poll_seconds, "retention_seconds": settings.stream_retention_seconds}
        if settings.cache_url.startswith(("redis://", "rediss://")):
            self.feed: TableFeed | RedisFeed = RedisFeed(
                self.hub, warehouse, settings.cache_url, settings.service_name, **options
            )
        else:
            self.feed = TableFeed(self.hub, warehouse, **options)
        #: client id -> open connections on this replica (STREAM_MAX_CONNECTIONS caps it).
        self.connections: Counter[str] = Counter()
        self.opened = 0
        self.closed_codes: Counter[int] = Counter()

    @property
    def backend(self) -> str:
        return "redis" if isinstance(self.feed, RedisFeed) else "table"

    async def _read_gap(self, after: int, upto: int) -> list[StoredEvent]:
        return await to_thread.run_sync(
            lambda: read_after(self.warehouse, after, upto=upto, any_client=True, limit=self.feed.page)
        )

    def start(self) -> None:
        self.feed.start()

    async def stop(self) -> None:
        await self.feed.stop()
        self.hub.subscribers.clear()
