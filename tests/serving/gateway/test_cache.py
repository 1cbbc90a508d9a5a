"""Response cache: hits and misses, versions and clients in the key, stale-on-error, Redis failover."""

from __future__ import annotations

import anyio
import pytest
import redis

from serving.cache import CacheResult, ResponseCache, key_digest

pytestmark = pytest.mark.anyio

TTLS = {"data": 1800, "summary": 3600, "reference": 604_800}


class Loader:
    """An async loader that counts its calls and can be told to fail."""

    def __init__(self, value):
        self.value = value
        self.calls = 0
        self.fail: Exception | None = None

    async def __call__(self):
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return self.value


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def cache(request):
    """A ResponseCache on both backends, closed after the test."""
    if request.param == "memory":
        rc = ResponseCache("mem://", TTLS, namespace="gwtest")
    else:
        rc = ResponseCache(
            request.getfixturevalue("redis_url"), TTLS, namespace=request.getfixturevalue("redis_namespace")
        )
    yield rc
    await rc.close()


async def test_miss_then_hit(cache: ResponseCache) -> None:
    load = Loader({"symbol": "BTC-USD", "bars": [{"close": 1.5}, {"close": 2.0}]})
    parts = {"symbol": "BTC-USD", "interval": "1h", "limit": 100}

    first = await cache.get_or_load("data", parts, load, version="v1")
    assert first == CacheResult(load.value, hit=False, stale=False)
    second = await cache.get_or_load("data", dict(reversed(parts.items())), load, version="v1")  # order-free
    assert second.hit and not second.stale
    assert second.value == load.value
    assert second.stored_at is not None
    assert load.calls == 1
    assert (cache.hits, cache.misses, cache.stale_served) == (1, 1, 0)

    other = await cache.get_or_load("data", {**parts, "limit": 50}, load, version="v1")
    assert not other.hit
    assert load.calls == 2
    assert (cache.hits, cache.misses) == (1, 2)
    assert cache.backend == ("memory" if cache._redis is None else "redis")


async def test_new_version_misses(cache: ResponseCache) -> None:
    load = Loader([1, 2, 3])
    parts = {"symbol": "ETH-USD"}
    assert not (await cache.get_or_load("summary", parts, load, version="run-1")).hit
    assert (await cache.get_or_load("summary", parts, load, version="run-1")).hit
    load.value = [1, 2, 3, 4]
    fresh = await cache.get_or_load("summary", parts, load, version="run-2")
    assert not fresh.hit
    assert fresh.value == [1, 2, 3, 4]
    assert load.calls == 2


async def test_client_is_part_of_the_key(cache: ResponseCache) -> None:
    parts = {"q": "portfolio"}
    alice = await cache.get_or_load(
        "data", parts, Loader({"owner": "alice"}), version="v1", client="client:alice"
    )
    bob_loader = Loader({"owner": "bob"})
    bob = await cache.get_or_load("data", parts, bob_loader, version="v1", client="client:bob")
    assert alice.value == {"owner": "alice"}
    assert bob.value == {"owner": "bob"} and not bob.hit and bob_loader.calls == 1
    again = await cache.get_or_load(
        "data", parts, Loader({"owner": "nobody"}), version="v1", client="client:bob"
    )
    assert again.hit and again.value == {"owner": "bob"}
    shared = await cache.get_or_load("data", parts, Loader({"owner": "anyone"}), version="v1")
    assert not shared.hit and shared.value == {"owner": "anyone"}
    # Separators inside a client id cannot make two keys collide.
    assert cache.key_for("data", parts, version="v1", client="a:b") != cache.key_for(
        "data", parts, version="v1:a", client="b"
    )


async def test_stale_copy_served_when_the_loader_fails(cache: ResponseCache) -> None:
    short = ResponseCache("mem://", {"data": 1}, stale_seconds=3600) if cache._redis is None else cache
    kind = "data"
    load = Loader({"price": 42})
    parts = {"symbol": "SOL-USD"}
    await short.get_or_load(kind, parts, load, version="v1")
    # Drop the fresh entry (as its TTL would), keep the stale copy.
    await short.invalidate(kind, parts, version="v1")
    load.fail = ConnectionError("warehouse is down")
    result = await short.get_or_load(kind, parts, load, version="v1")
    assert result.stale and not result.hit
    assert result.value == {"price": 42}
    assert short.stale_served == 1

    # No stale copy (a new version): the loader's error is the caller's.
    with pytest.raises(ConnectionError):
        await short.get_or_load(kind, parts, load, version="v2")
    if short is not cache:
        await short.close()


async def test_fresh_entry_expires_and_stale_copy_outlives_it() -> None:
    rc = ResponseCache("mem://", {"data": 1}, stale_seconds=3600)
    try:
        load = Loader({"n": 1})
        await rc.get_or_load("data", {}, load, version="v1")
        with anyio.fail_after(10):
            while (await rc.get_or_load("data", {}, load, version="v1")).hit:
                await anyio.sleep(0.2)
        assert load.calls == 2
        load.fail = RuntimeError("boom")
        await rc.invalidate("data", {}, version="v1")
        assert (await rc.get_or_load("data", {}, load, version="v1")).stale
    finally:
        await rc.close()


async def test_bad_use_is_loud() -> None:
    rc = ResponseCache("mem://", TTLS)
    try:
        with pytest.raises(ValueError, match="unknown cache kind"):
            await rc.get_or_load("nope", {}, Loader({}), version="v1")
        with pytest.raises(TypeError):
            await rc.get_or_load("data", {}, Loader({"when": object()}), version="v1")
    finally:
        await rc.close()
    with pytest.raises(ValueError):
        ResponseCache("memcached://x", TTLS)
    with pytest.raises(ValueError):
        ResponseCache("mem://", {"data": 0})


async def test_two_caches_in_one_process_share_nothing() -> None:
    one, two = ResponseCache("mem://", TTLS), ResponseCache("mem://", TTLS)
    try:
        await one.get_or_load("data", {"k": 1}, Loader({"from": "one"}), version="v1")
        result = await two.get_or_load("data", {"k": 1}, Loader({"from": "two"}), version="v1")
        assert not result.hit and result.value == {"from": "two"}
    finally:
        await one.close()
        await two.close()


@pytest.mark.redis
async def test_entries_are_json_text_in_redis(redis_url: str, redis_namespace: str) -> None:
    rc = ResponseCache(redis_url, TTLS, namespace=redis_namespace)
    try:
        await rc.get_or_load(
            "reference", {"a": 1}, Loader({"x": [1, "two"]}), version="v9", client="client:c"
        )
        key = rc.key_for("reference", {"a": 1}, version="v9", client="client:c")
        assert key == f"{redis_namespace}:cache:reference:v9:client%3Ac:{key_digest({'a': 1})}"
        raw = redis.Redis.from_url(redis_url)
        try:
            stored = raw.get(key)
            assert stored is not None and stored.endswith(b'\n{"x":[1,"two"]}')
            assert 1790 < raw.ttl(key) <= 604_800
            stale_key = key.replace(":cache:", ":stale:", 1)
            assert raw.ttl(stale_key) > 604_800 - 60
        finally:
            raw.close()
        assert await rc.ping()
    finally:
        await rc.close()


@pytest.mark.redis
async def test_redis_outage_falls_back_to_memory_and_recovers(disposable_redis, caplog) -> None:
    rc = ResponseCache(disposable_redis.url, TTLS, namespace="gwtest", retry_seconds=0.2, socket_timeout=0.3)
    try:
        load = Loader({"v": 1})
        assert not (await rc.get_or_load("data", {"k": 1}, load, version="v1")).hit
        assert (await rc.get_or_load("data", {"k": 1}, load, version="v1")).hit
        assert rc.backend == "redis"

        disposable_redis.stop()
        with caplog.at_level("WARNING", logger="serving.cache"):
            for _ in range(5):
                result = await rc.get_or_load("data", {"k": 1}, load, version="v1")
                assert result.value == {"v": 1}
        assert rc.backend == "memory"
        assert rc.fallbacks == 1
        warnings = [r for r in caplog.records if "failed" in r.getMessage()]
        assert len(warnings) == 1  # one warning per outage
        assert not await rc.ping()
        # The memory cache works while Redis is away: the loader ran once more, then hits.
        assert load.calls == 2
        assert rc.hits >= 4

        disposable_redis.start()
        with anyio.fail_after(20):
            while rc.backend != "redis":
                await anyio.sleep(0.05)
                await rc.get_or_load("data", {"k": 2}, Loader({"v": 2}), version="v1")
        assert await rc.ping()
        # Back on Redis (emptied by the restart): a miss stored there, then a hit from there.
        load3 = Loader({"v": 3})
        assert not (await rc.get_or_load("data", {"k": 3}, load3, version="v1")).hit
        assert (await rc.get_or_load("data", {"k": 3}, load3, version="v1")).hit
        raw = redis.Redis.from_url(disposable_redis.url)
        try:
            assert raw.exists(rc.key_for("data", {"k": 3}, version="v1"))
        finally:
            raw.close()
        assert rc.fallbacks == 1
    finally:
        await rc.close()


@pytest.mark.redis
async def test_redis_down_from_the_start_still_answers(disposable_redis) -> None:
    url = disposable_redis.url
    disposable_redis.stop()
    rc = ResponseCache(url, TTLS, retry_seconds=60)
    try:
        load = Loader({"ok": True})
        assert (await rc.get_or_load("data", {}, load, version="v1")).value == {"ok": True}
        assert (await rc.get_or_load("data", {}, load, version="v1")).hit
        assert rc.backend == "memory" and rc.fallbacks == 1 and load.calls == 1
        assert not await rc.ping()
    finally:
        await rc.close()


async def test_hanging_redis_times_out_to_memory(hanging_redis_url: str) -> None:
    rc = ResponseCache(hanging_redis_url, TTLS, retry_seconds=60, socket_timeout=0.2)
    try:
        load = Loader({"ok": True})
        with anyio.fail_after(30):  # a guard against hanging forever, not a timing assertion
            assert (await rc.get_or_load("data", {}, load, version="v1")).value == {"ok": True}
            assert (await rc.get_or_load("data", {}, load, version="v1")).hit
            assert not await rc.ping()
        assert rc.backend == "memory" and rc.fallbacks == 1 and load.calls == 1
    finally:
        await rc.close()
