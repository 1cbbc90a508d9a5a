"""`/api/v1/stream` against a running server: delivery, resumption, refusals, backpressure, heartbeats."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from websockets.sync.client import connect

from ops.stream import protocol as p
from ops.stream.events import StreamEvent
from tests.stream.conftest import (
    SlowClient,
    blocks,
    close_of,
    events,
    open_stream,
    publish,
    receive,
    serving,
    stream_settings,
    strip_scopes,
    token,
    until,
)


def test_events_arrive_and_a_reconnect_with_the_cursor_loses_and_repeats_nothing(tmp_path, warehouse_url, warehouse):
    publish(warehouse, blocks(1, 3))  # before the server: history, resumable but not live
    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app):
        with open_stream(url, bearer, "?topics=blocks,models") as ws:
            subscribed = receive(ws)
            assert subscribed["type"] == "subscribed" and subscribed["topics"] == ["blocks", "models"]
            assert subscribed["cursor"] == 3  # no cursor: live from the newest event
            publish(warehouse, blocks(4, 5) + [StreamEvent("models", "price_model", {"version": "v1"})])
            publish(warehouse, [StreamEvent("mev", "sandwich:1", {"kind": "sandwich"})])  # not subscribed
            got = events(ws, 6)
            assert [e["cursor"] for e in got] == [4, 5, 6, 7, 8, 9]
            assert [e["topic"] for e in got] == ["blocks"] * 5 + ["models"]
            assert got[0]["data"]["number"] == 4 and got[0]["key"] == "4"
            last = got[-1]["cursor"]
        # Disconnected: these happen while nobody listens.
        publish(warehouse, blocks(9, 4))  # seqs 11..14
        with open_stream(url, bearer, f"?topics=blocks,models&cursor={last}") as ws:
            assert receive(ws)["type"] == "subscribed"
            replayed = events(ws, 4)
            publish(warehouse, blocks(13, 2))  # 15, 16: live again
            live = events(ws, 2)
            cursors = [e["cursor"] for e in replayed + live]
            assert cursors == [11, 12, 13, 14, 15, 16]  # 10 was mev: not asked for; nothing twice
            assert [e["data"]["number"] for e in replayed + live] == [9, 10, 11, 12, 13, 14]
            # A heartbeat's cursor covers what was sent, so a quiet client resumes from there too.
            beat = until(ws, "heartbeat")
            assert beat["cursor"] >= 16
            ws.send('{"type":"pong"}')


def test_subscribe_message_with_cursor_replays_from_the_log(tmp_path, warehouse_url, warehouse):
    publish(warehouse, blocks(1, 5))
    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app), open_stream(url, bearer) as ws:
        ws.send('{"type":"subscribe","topics":["blocks"],"cursor":2}')
        assert receive(ws)["type"] == "subscribed"
        assert [e["cursor"] for e in events(ws, 3)] == [3, 4, 5]
        ws.send('{"type":"nonsense"}')
        assert "unknown message type" in until(ws, "error")["detail"]


def test_a_cursor_older_than_the_retention_window_is_refused_with_a_reason(tmp_path, warehouse_url, warehouse):
    from datetime import UTC, datetime, timedelta

    from resources.stream_events import bounds, prune

    publish(warehouse, blocks(1, 10))
    prune(warehouse, 60, now=datetime.now(UTC) + timedelta(hours=1))  # everything but the newest is old
    assert bounds(warehouse) == (10, 10)
    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app):
        with open_stream(url, bearer, "?topics=blocks&cursor=3") as ws:
            code, reason = close_of(ws)
        assert code == p.CLOSE_CURSOR_GONE and "older than the retention window" in reason
        with open_stream(url, bearer, "?topics=blocks&cursor=99") as ws:
            code, reason = close_of(ws)
        assert code == p.CLOSE_BAD_REQUEST and "ahead of the stream" in reason
        with open_stream(url, bearer, "?topics=blocks&cursor=9") as ws:  # 10 is still there: fine
            assert receive(ws)["type"] == "subscribed"
            assert [e["cursor"] for e in events(ws, 1)] == [10]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_refusals_carry_the_http_status_as_a_close_code(tmp_path, warehouse_url, warehouse):
    good = token(warehouse)
    scopeless = token(warehouse, "no-scope")
    strip_scopes(warehouse, scopeless)
    with serving(stream_settings(tmp_path, warehouse_url, STREAM_MAX_CONNECTIONS=1), warehouse) as (url, _app):
        with open_stream(url, None) as ws:
            assert close_of(ws) == (p.CLOSE_UNAUTHORIZED, "missing bearer token")
        with open_stream(url, "sxt_000000000000_nope") as ws:
            assert close_of(ws) == (p.CLOSE_UNAUTHORIZED, "invalid or revoked token")
        with open_stream(url, scopeless, "?topics=blocks") as ws:
            assert close_of(ws) == (p.CLOSE_FORBIDDEN, "missing scope 'read'")
        with open_stream(url, good, "?topics=nope") as ws:
            code, reason = close_of(ws)
            assert code == p.CLOSE_BAD_REQUEST and "unknown topic 'nope'" in reason
        # Browsers cannot set headers: the token as a subprotocol, beside the stream's own.
        with connect(url + "?topics=blocks", subprotocols=[p.SUBPROTOCOL, f"bearer.{good}"], open_timeout=10) as ws:
            assert ws.subprotocol == p.SUBPROTOCOL  # the token is never echoed back
            assert receive(ws)["type"] == "subscribed"
            with open_stream(url, good, "?topics=blocks") as second:  # one stream per client here
                code, reason = close_of(second)
                assert code == p.CLOSE_RATE_LIMITED and "concurrent streams" in reason


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_connections_and_messages_count_on_the_clients_http_budget(tmp_path, warehouse_url, warehouse):

    import httpx

    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url, RATE_LIMIT_DEFAULT="4/minute")
    with serving(settings, warehouse) as (url, _app):
        http = url.replace("ws://", "http://").replace("/api/v1/stream", "/api/v1/data/symbols")
        assert httpx.get(http, headers={"Authorization": f"Bearer {bearer}"}).status_code != 429  # 1
        with open_stream(url, bearer) as ws:  # 2
            ws.send('{"type":"subscribe","topics":["blocks"]}')  # 3
            assert receive(ws)["type"] == "subscribed"
            ws.send('{"type":"subscribe","topics":["models"]}')  # 4
            assert receive(ws)["type"] == "subscribed"
            ws.send('{"type":"unsubscribe","topics":["models"]}')  # 5: over the budget
            code, reason = close_of(ws)
            assert code == p.CLOSE_RATE_LIMITED and "rate limit exceeded: 4 per 1 minute" in reason
        response = httpx.get(http, headers={"Authorization": f"Bearer {bearer}"})
        assert response.status_code == 429  # the same budget


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_silent_client_is_closed_as_idle(tmp_path, warehouse_url, warehouse):
    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url, STREAM_HEARTBEAT_SECONDS=0.2, STREAM_IDLE_SECONDS=0.8)
    with serving(settings, warehouse) as (url, _app):
        with open_stream(url, bearer, "?topics=blocks") as ws:
            assert receive(ws)["type"] == "subscribed"
            started = time.monotonic()
            code, reason = close_of(ws)  # reads heartbeats but never answers them
            assert code == p.CLOSE_IDLE and "pong" in reason
            assert 0.6 < time.monotonic() - started < 5
        with open_stream(url, bearer, "?topics=blocks") as ws:  # one that answers stays
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                message = receive(ws)
                if message["type"] == "heartbeat":
                    ws.send('{"type":"pong"}')
            ws.send('{"type":"pong"}')


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_slow_client_is_dropped_and_never_slows_the_others(tmp_path, warehouse_url, warehouse):
    """One client never reads; the other gets every event while the first is dropped with 1013."""
    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url, STREAM_QUEUE_SIZE=16)
    with serving(settings, warehouse) as (url, app):
        slow = SlowClient(url + "?topics=blocks", bearer)
        try:
            with open_stream(url, bearer, "?topics=blocks") as fast:
                assert receive(fast)["type"] == "subscribed"
                got: list[dict] = []
                stop = threading.Event()

                def read_all() -> None:
                    while not stop.is_set():
                        try:
                            message = receive(fast, timeout=0.2)
                        except TimeoutError:
                            continue
                        if message["type"] == "event":
                            got.append(message)

                reader = threading.Thread(target=read_all)
                reader.start()
                try:
                    stream = app.state.stream
                    published = 0
                    # ~4 KB events, 20 at a time, until the kernel's and the server's buffers are full
                    # behind the slow client and its queue overflows (the send buffer grows to MBs).
                    while stream.hub.dropped_clients == 0 and published < 6000:
                        publish(warehouse, blocks(published + 1, 20, pad=4000))
                        published += 20
                        time.sleep(0.002)
                    assert stream.hub.dropped_clients == 1, "the slow client was never dropped"
                    publish(warehouse, blocks(published + 1, 20))  # and the stream goes on
                    published += 20
                    deadline = time.monotonic() + 20
                    while len(got) < published and time.monotonic() < deadline:
                        time.sleep(0.05)
                finally:
                    stop.set()
                    reader.join(timeout=5)
                assert [e["cursor"] for e in got] == list(range(1, published + 1))
            # The slow client reads at last: what was in flight, then the close with its reason.
            code, reason, frames = slow.read_until_closed()
            assert code == p.CLOSE_TRY_AGAIN_LATER, (code, reason, frames)
            assert frames < published
            assert "too slow: 16 events unread; reconnect with cursor=" in reason
            # ... and loses nothing: from the cursor it was given, the rest, in order.
            cursor = int(reason.rsplit("=", 1)[1])
            assert cursor == frames - 1 < published  # text frames: `subscribed`, then exactly the events up to it
            with open_stream(url, bearer, f"?topics=blocks&cursor={cursor}") as again:
                assert receive(again)["type"] == "subscribed"
                rest = events(again, published - cursor)
                assert [e["cursor"] for e in rest] == list(range(cursor + 1, published + 1))
        finally:
            slow.close()


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_client_that_vanishes_is_forgotten_without_an_error(tmp_path, warehouse_url, warehouse, caplog):
    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, app):
        gone = open_stream(url, bearer, "?topics=blocks")
        assert receive(gone)["type"] == "subscribed"
        with open_stream(url, bearer, "?topics=blocks") as stays:
            assert receive(stays)["type"] == "subscribed"
            gone.socket.close()  # no close frame: the TCP connection just ends
            for first in range(1, 201, 20):
                publish(warehouse, blocks(first, 20, pad=1000))
            assert [e["cursor"] for e in events(stays, 200)] == list(range(1, 201))
            deadline = time.monotonic() + 10
            while app.state.stream.connections["streamer"] != 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert app.state.stream.connections["streamer"] == 1
            assert len(app.state.stream.hub.subscribers) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text[-2000:]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_server_shutting_down_says_restart_and_the_cursor_resumes_on_the_next(tmp_path, warehouse_url, warehouse):
    bearer = token(warehouse)
    settings = stream_settings(tmp_path, warehouse_url)
    with serving(settings, warehouse) as (url, _app):
        ws = open_stream(url, bearer, "?topics=blocks")
        assert receive(ws)["type"] == "subscribed"
        publish(warehouse, blocks(1, 2))
        last = events(ws, 2)[-1]["cursor"]
    code, _reason = close_of(ws)
    assert code == 1012  # service restart (the server's own close on shutdown)
    publish(warehouse, blocks(3, 2))  # while no server runs
    with serving(settings, warehouse) as (url, _app), open_stream(url, bearer, f"?topics=blocks&cursor={last}") as ws:
        assert receive(ws)["type"] == "subscribed"
        assert [e["cursor"] for e in events(ws, 2)] == [3, 4]


def test_metrics_show_connections_deliveries_and_closes(tmp_path, warehouse_url, warehouse):
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    def scrape(base: str) -> dict[tuple[str, tuple], float]:
        text = httpx.get(f"{base}/api/metrics", timeout=10).text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples
                if s.name.startswith("python_services_stream_")}  # fmt: skip

    bearer = token(warehouse)
    with serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app):
        base = url.replace("ws://", "http://").removesuffix("/api/v1/stream")
        with open_stream(url, bearer, "?topics=blocks") as ws:
            assert receive(ws)["type"] == "subscribed"
            publish(warehouse, blocks(1, 3))
            got = events(ws, 3)
            during = scrape(base)
        deadline = time.monotonic() + 10
        while (after := scrape(base))[("python_services_stream_connections", ())] and time.monotonic() < deadline:
            time.sleep(0.05)
        with open_stream(url, None) as ws:  # no token: the server closes it
            assert close_of(ws)[0] == p.CLOSE_UNAUTHORIZED
        refused = scrape(base)
    assert during[("python_services_stream_connections", ())] == 1
    assert during[("python_services_stream_connections_opened_total", ())] == 1
    assert during[("python_services_stream_events_delivered_total", ())] == 3
    assert during[("python_services_stream_position", ())] == got[-1]["cursor"]
    assert after[("python_services_stream_connections", ())] == 0
    assert not [name for (name, _) in after if name == "python_services_stream_closes_total"]  # the client closed
    assert refused[("python_services_stream_closes_total", (("code", str(p.CLOSE_UNAUTHORIZED)),))] == 1
    assert refused[("python_services_stream_connections_opened_total", ())] == 1  # a refusal is not admitted
