"""The assets' events reach a WebSocket client: a real Dagster run of the chain assets on the devnet,
and an NLP batch's status changes (only to the batch's own client)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.chain.assets import CHAIN_ASSETS
from assets.nlp.triggers import finish_batch
from ops.chain.ranges import BlockRange
from ops.nlp import schema
from resources.configurable import build_resources
from resources.tables import CHAIN_BLOCKS, NLP_BATCHES
from tests.stream.conftest import events, open_stream, receive, serving, stream_settings, token

RANGE = 10


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_chain_run_streams_its_blocks(tmp_path, warehouse_url, warehouse, played_devnet):
    server, _truth = played_devnet
    settings = stream_settings(tmp_path, warehouse_url, CHAIN_RPC_URL=server.url, CHAIN_RANGE_SIZE=RANGE,
                               CHAIN_CONFIRMATIONS=0)  # fmt: skip
    key = BlockRange(10, 19).key
    bearer = token(warehouse)
    with dg.instance_for_test() as instance, serving(settings, warehouse) as (url, _app):
        instance.add_dynamic_partitions("chain_ranges", [key])
        with open_stream(url, bearer, "?topics=blocks") as ws:
            assert receive(ws)["type"] == "subscribed"
            with set_defs_state_storage(instance.defs_state_storage):
                result = dg.materialize(CHAIN_ASSETS, instance=instance, resources=build_resources(settings),
                                        partition_key=key)  # fmt: skip
            assert result.success
            got = events(ws, RANGE)
    stored = warehouse.read(CHAIN_BLOCKS.name, order_by=["number"], columns=["number", "hash"])
    assert [(e["data"]["number"], e["data"]["hash"]) for e in got] == list(stored.iter_rows())
    assert [e["key"] for e in got] == [str(n) for n in range(10, 20)]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_batch_status_reaches_only_its_own_client(tmp_path, warehouse_url, warehouse):
    now = datetime.now(UTC)
    warehouse.upsert(NLP_BATCHES, pl.DataFrame([{
        "batch_id": "b-alice", "status": schema.SUBMITTED, "texts": 1, "target_lang": "en", "source_lang": None,
        "callback_url": None, "run_id": None, "detail": None, "callback_status": None, "created_at": now,
        "updated_at": now, "client_id": "alice",
    }], schema=NLP_BATCHES.schema))  # fmt: skip
    alice, bob = token(warehouse, "alice"), token(warehouse, "bob")
    with (
        serving(stream_settings(tmp_path, warehouse_url), warehouse) as (url, _app),
        open_stream(url, alice, "?topics=nlp_batches") as a,
        open_stream(url, bob, "?topics=*") as b,
    ):
        assert receive(a)["type"] == receive(b)["type"] == "subscribed"
        run = dg.DagsterRun(job_name="nlp_job", run_id="run-1", tags={schema.BATCH_TAG: "b-alice"})
        finish_batch(warehouse, run, schema.DONE, [], None, logging.getLogger("test"))
        [event] = events(a, 1)
        assert event["data"] == {"batch_id": "b-alice", "status": "done", "run_id": "run-1"}
        with pytest.raises(TimeoutError):
            _next_event(b, 1.5)


def _next_event(ws, timeout):
    """The next event frame (heartbeats skipped); TimeoutError when none comes."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        if message["type"] == "event":
            return message
