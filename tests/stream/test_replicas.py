"""Two app instances on one Redis: every replica sees every event, once, in order; the table is read
by one leader at a time, and a replica goes on from the table while Redis is down."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.services import delete_namespace
from tests.stream.conftest import (
    blocks,
    events,
    open_stream,
    publish,
    receive,
    serving,
    stream_settings,
    token,
)


@pytest.fixture
def namespace(redis_url: str):
    name = f"stream-{uuid.uuid4().hex[:12]}"
    delete_namespace(redis_url, name)
    yield name
    delete_namespace(redis_url, name)


@pytest.mark.redis
@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_two_replicas_on_one_redis_each_see_every_event(tmp_path, warehouse_url, warehouse, redis_url, namespace):
    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url, CACHE_URL=redis_url, SERVICE_NAME=namespace)
    with serving(settings, warehouse) as (url_a, app_a), serving(settings, warehouse) as (url_b, app_b):
        feeds = [app_a.state.stream.feed, app_b.state.stream.feed]
        deadline = time.monotonic() + 10
        while sum(feed.leader for feed in feeds) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sum(feed.leader for feed in feeds) == 1, "exactly one replica copies the table into Redis"
        with open_stream(url_a, bearer, "?topics=blocks") as a, open_stream(url_b, bearer, "?topics=blocks") as b:
            assert receive(a)["type"] == receive(b)["type"] == "subscribed"
            for first in range(1, 61, 6):
                publish(warehouse, blocks(first, 6))
            for ws in (a, b):
                assert [e["cursor"] for e in events(ws, 60)] == list(range(1, 61))
            assert sum(feed.leader for feed in feeds) == 1
            # Both hubs were fed from Redis, not from a table read each (no gap had to be filled).
            assert app_a.state.stream.hub.gaps_filled == app_b.state.stream.hub.gaps_filled == 0

        # The leader goes away (shutdown hands the lease over): the other one takes the table over.
        leader_app, other_url, other_app = (app_a, url_b, app_b) if feeds[0].leader else (app_b, url_a, app_a)
        with open_stream(other_url, bearer, "?topics=blocks&cursor=60") as ws:
            assert receive(ws)["type"] == "subscribed"
            import asyncio

            loop_feed = leader_app.state.stream.feed
            future = asyncio.run_coroutine_threadsafe(loop_feed.stop(), _loop_of(leader_app))
            future.result(timeout=10)
            publish(warehouse, blocks(61, 5))
            assert [e["cursor"] for e in events(ws, 5)] == list(range(61, 66))
            assert other_app.state.stream.feed.leader


def _loop_of(app):
    """The event loop the app's server runs on (each UvicornServer has its own thread and loop)."""
    return app.state.stream.feed._tasks[0].get_loop()


@pytest.mark.redis
@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_replica_reads_the_table_itself_while_redis_is_down(tmp_path, warehouse_url, warehouse, disposable_redis):
    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url, CACHE_URL=disposable_redis.url)
    with serving(settings, warehouse) as (url, _app), open_stream(url, bearer, "?topics=blocks") as ws:
        assert receive(ws)["type"] == "subscribed"
        publish(warehouse, blocks(1, 3))
        assert [e["cursor"] for e in events(ws, 3)] == [1, 2, 3]
        disposable_redis.kill()
        publish(warehouse, blocks(4, 3))
        assert [e["cursor"] for e in events(ws, 3)] == [4, 5, 6]
        disposable_redis.start()
        publish(warehouse, blocks(7, 3))
        assert [e["cursor"] for e in events(ws, 3)] == [7, 8, 9]  # once each, whichever path
