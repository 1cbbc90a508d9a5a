"""An API batch end to end: POST -> sensor -> Dagster run -> run-status sensor -> callback -> GET results."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

from assets.nlp.triggers import nlp_batch_failed_sensor, nlp_batch_finished_sensor, nlp_inputs_sensor
from ops.nlp.schema import BATCH_TAG
from resources.configurable import build_resources
from tests.nlp.conftest import materialize_nlp
from tests.serving.conftest import bearer

API = "/api/v1/nlp"


class CallbackServer:
    """A real HTTP server on 127.0.0.1 that records the JSON bodies POSTed to it."""

    def __init__(self):
        self.received: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/done"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def run_request_of(instance, resources, batch_id):
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = nlp_inputs_sensor(context)
    [request] = [r for r in result.run_requests if r.tags.get(BATCH_TAG) == batch_id]
    assert request.run_key == batch_id
    return request


def test_batch_runs_and_calls_back(instance, make_client, nlp_settings, warehouse):
    api = make_client(settings=nlp_settings.model_copy(update={"rate_limit_default": "100000/minute"}))
    api.headers.update(bearer(warehouse, "batcher", "read,write"))  # queueing a batch needs write
    resources = build_resources(nlp_settings)
    with CallbackServer() as callback:
        accepted = api.post(f"{API}/translate/batch", json={
            "texts": ["BTC rose today.", "The market is calm.", "Prices are rising."], "target": "de",
            "callback_url": callback.url,
        }).json()  # fmt: skip
        batch_id = accepted["id"]

        request = run_request_of(instance, resources, batch_id)
        assert api.get(f"{API}/translate/batch/{batch_id}").json()["status"] == "submitted"
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            assert not [r for r in nlp_inputs_sensor(context).run_requests if r.tags.get(BATCH_TAG)]  # not twice

        selection = [dg.AssetKey(k) for k in ("translation_inputs", "language_detections", "translations")]
        result = materialize_nlp(instance, resources, selection=selection, run_config=request.run_config,
                                 tags=request.tags)  # fmt: skip
        assert result.success
        context = dg.build_run_status_sensor_context(
            sensor_name="nlp_batch_finished_sensor", dagster_event=result.get_run_success_event(),
            dagster_instance=instance, dagster_run=result.dagster_run, resources=resources,
        )  # fmt: skip
        nlp_batch_finished_sensor(context)

    assert callback.received == [{"id": batch_id, "status": "done", "run_id": result.run_id, "detail": None}]
    status = api.get(f"{API}/translate/batch/{batch_id}").json()
    assert status["status"] == "done" and status["run_id"] == result.run_id
    assert status["callback_status"] == "http 204"
    assert status["completed"] == 3
    assert [i["translation"] for i in status["items"]] == ["BTC stieg heute.", "Der Markt ist ruhig.",
                                                            "Die Preise steigen."]  # fmt: skip
    assert all(i["source"] == "en" and i["status"] == "ok" for i in status["items"])


def test_failed_run_marks_the_batch_failed(instance, make_client, settings, warehouse):
    """No model promoted and none configured: the translations step fails, and the batch says so."""
    api = make_client()
    api.headers.update(bearer(warehouse, "batcher", "read,write"))
    resources = build_resources(settings)
    batch_id = api.post(f"{API}/translate/batch", json={"texts": ["BTC rose today."], "target": "de"}).json()["id"]
    request = run_request_of(instance, resources, batch_id)
    selection = [dg.AssetKey(k) for k in ("translation_inputs", "language_detections", "translations")]
    result = materialize_nlp(instance, resources, selection=selection, run_config=request.run_config,
                             tags=request.tags, raise_on_error=False)  # fmt: skip
    assert not result.success
    context = dg.build_run_status_sensor_context(
        sensor_name="nlp_batch_failed_sensor", dagster_event=result.get_run_failure_event(),
        dagster_instance=instance, dagster_run=result.dagster_run, resources=resources,
    ).for_run_failure()  # fmt: skip
    nlp_batch_failed_sensor(context)
    status = api.get(f"{API}/translate/batch/{batch_id}").json()
    assert status["status"] == "failed" and status["completed"] == 0
    assert status["detail"]


def test_landing_file_requests_one_run_until_it_changes(instance, nlp_settings):
    resources = build_resources(nlp_settings)
    folder = nlp_settings.resolved_nlp_landing_dir
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(json.dumps({"text": "BTC rose today."}) + "\n")
    (folder / "notes.txt").write_text("ignored")
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        first = nlp_inputs_sensor(context)
    assert [r.tags["sextant/nlp_landing_file"] for r in first.run_requests] == ["a.jsonl"]
    assert first.run_requests[0].run_config["ops"]["translation_inputs"]["config"]["files"] == ["a.jsonl"]
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
        assert nlp_inputs_sensor(context).run_requests == []
    (folder / "a.jsonl").write_text(json.dumps({"text": "ETH fell today."}) + "\n" * 2)
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=first.cursor) as context:
        assert len(nlp_inputs_sensor(context).run_requests) == 1
