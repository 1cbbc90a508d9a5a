"""The `stream_events` log (both warehouses) and the pure event and protocol code."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import pytest

from ops.stream import protocol as p
from ops.stream.events import (
    InvalidEvent,
    StreamEvent,
    batch_status,
    block_events,
    mev_events,
    model_promoted,
    risk_changes,
)
from resources.stream_events import append_events, bounds, prune, read_after


def test_concurrent_writers_get_dense_unique_seqs_in_commit_order(warehouse):
    """Four writers at once: seqs 1..N, each append contiguous, none twice (both warehouses)."""
    got: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        try:
            for i in range(15):
                seqs = append_events(warehouse, [StreamEvent("blocks", f"{worker}-{i}-{j}") for j in range(3)])
                with lock:
                    got.append(seqs)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(s for seqs in got for s in seqs) == list(range(1, 181))
    assert all(seqs == list(range(seqs[0], seqs[0] + 3)) for seqs in got)
    assert bounds(warehouse) == (1, 180)
    assert [e.seq for e in read_after(warehouse, 175, any_client=True)] == [176, 177, 178, 179, 180]


def test_reads_filter_by_topic_and_client_and_prune_keeps_the_newest(warehouse):
    append_events(warehouse, [
        StreamEvent("blocks", "1", {"number": 1}),
        batch_status("b1", "done", "alice"),
        batch_status("b2", "done", "bob"),
        model_promoted("price_model", "v2", previous="v1"),
    ])  # fmt: skip
    alice = read_after(warehouse, 0, client_id="alice")
    assert [(e.topic, e.key) for e in alice] == [("blocks", "1"), ("nlp_batches", "b1"), ("models", "price_model")]
    assert [e.key for e in read_after(warehouse, 0, topics=["nlp_batches"], client_id="bob")] == ["b2"]
    assert len(read_after(warehouse, 0, any_client=True)) == 4
    assert json.loads(alice[2].payload) == {"model": "price_model", "previous": "v1", "version": "v2"}
    assert prune(warehouse, 3600) == 0  # nothing old yet
    assert prune(warehouse, 3600, now=datetime.now(UTC) + timedelta(hours=2)) == 3
    assert bounds(warehouse) == (4, 4)
    assert append_events(warehouse, [StreamEvent("blocks", "2")]) == [5]  # never reuses a cursor


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_invalid_events_are_refused_where_they_are_made(warehouse):
    for bad in (
        StreamEvent("weather", "x"),
        StreamEvent("blocks", ""),
        StreamEvent("blocks", "1", {"v": float("nan")}),
        StreamEvent("blocks", "1", {"v": object()}),
        StreamEvent("blocks", "1", {"v": "x" * 20_000}),
    ):
        with pytest.raises(InvalidEvent):
            append_events(warehouse, [bad])
    assert bounds(warehouse) == (0, 0)


def test_builders_say_what_happened():
    [b] = block_events([{"number": 7, "hash": "0xab", "parent_hash": "0xaa", "timestamp": 1, "transaction_count": 2,
                         "gas_used": 3, "miner": "0xm"}])  # fmt: skip
    assert (b.topic, b.key, b.data["number"]) == ("blocks", "7", 7)
    [m] = mev_events("sandwich", [{"block_number": 5, "victim_tx": "0x1", "profit": 1.5, "ts": datetime(2024, 1, 1)}],
                     ["block_number", "victim_tx"])  # fmt: skip
    assert m.key == "sandwich:5:0x1" and m.data["ts"] == "2024-01-01 00:00:00"
    risks = risk_changes({"0xa": 0.2, "0xb": 0.95, "0xc": 0.95},
                         {"0xa": (0.91, "high"), "0xb": (0.97, "critical"), "0xc": (0.5, "low"), "0xd": (0.99, "critical")},
                         threshold=0.9)  # fmt: skip
    assert [(e.key, e.data["previous_score"]) for e in risks] == [("0xa", 0.2), ("0xd", None)]
    rises = risk_changes({"0xb": 0.91}, {"0xb": (0.99, "critical")}, threshold=0.9, min_change=0.05)
    assert [e.key for e in rises] == ["0xb"]
    assert batch_status("b", "done", None).client_id is None


def test_protocol_parsing_and_frames():
    assert p.parse_client_message('{"type":"subscribe","topics":"blocks, mev","cursor":"12"}') == p.ClientMessage(
        "subscribe", ("blocks", "mev"), 12)
    assert p.parse_client_message('{"type":"subscribe","topics":["*"]}').topics == p.TOPICS
    for bad in ("[]", "{}", "nope", '{"type":"subscribe"}', '{"type":"subscribe","topics":["x"]}',
                '{"type":"subscribe","topics":["blocks"],"cursor":-1}', '{"type":"subscribe","topics":[]}',
                '{"type":"subscribe","topics":["blocks"],"cursor":true}', "x" * 5000):  # fmt: skip
        with pytest.raises(p.ProtocolError):
            p.parse_client_message(bad)
    assert p.token_from_subprotocols(["sextant.stream.v1", "bearer.sxt_a_b"]) == "sxt_a_b"
    assert p.token_from_subprotocols(["sextant.stream.v1"]) is None
    frame = json.loads(p.event_message(3, "blocks", "7", '{"number":7}', "2024-01-01T00:00:00Z"))
    assert frame == {"type": "event", "cursor": 3, "topic": "blocks", "key": "7", "created_at": "2024-01-01T00:00:00Z",
                     "data": {"number": 7}}  # fmt: skip
    assert len(p.reason("é" * 200).encode()) <= p.MAX_REASON_BYTES
