"""The NLP endpoints: detect, translate (with the tiny model promoted), languages, batch submit and status."""

from __future__ import annotations

import pytest

from tests.nlp.conftest import TINY_PAIRS, promote_tiny_model
from tests.serving.conftest import bearer

API = "/api/v1/nlp"


@pytest.fixture
def api(make_client, settings):
    return make_client(settings=settings.model_copy(update={"rate_limit_default": "100000/minute", "nlp_max_chars": 200,
                                                            "nlp_max_texts": 5, "torch_threads": 1}))  # fmt: skip


@pytest.fixture
def with_model(settings, tiny_model_dir):
    return promote_tiny_model(settings.resolved_model_store_url, tiny_model_dir)


def test_detect(api):
    body = api.post(f"{API}/detect", json={"texts": ["Der Markt ist heute sehr ruhig geblieben.", "ok", "123"]}).json()
    de, short, digits = body["items"]
    assert de["language"] == "de" and de["name"] == "German" and de["reliable"] and de["confidence"] > 0.5
    assert de["alternatives"][0]["confidence"] < de["confidence"]
    assert not short["reliable"]
    assert digits["language"] == "und"
    assert "en" in body["languages_considered"]


def test_detect_mixed_text(api):
    text = "The price of bitcoin went up again this morning. Aber die Analysten bleiben heute sehr vorsichtig."
    [item] = api.post(f"{API}/detect", json={"texts": [text]}).json()["items"]
    assert item["mixed"] and [s["language"] for s in item["segments"]] == ["en", "de"]


def test_too_long_or_too_many_texts_are_422_naming_the_field(api):
    response = api.post(f"{API}/detect", json={"texts": ["short", "x" * 201]})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "texts", 1] and "at most 200" in error["msg"]
    response = api.post(f"{API}/translate", json={"texts": ["a"] * 6, "target": "de"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "texts"]
    assert api.post(f"{API}/detect", json={"texts": []}).status_code == 422


def test_translate_without_a_model_is_404_with_a_message(api):
    response = api.post(f"{API}/translate", json={"texts": ["BTC rose today."], "target": "de"})
    assert response.status_code == 404
    assert "translation_model" in response.json()["detail"]


def test_translate_detects_the_source_and_translates_several_texts(api, with_model):
    texts = [src for s, _, src, _ in TINY_PAIRS if s == "en"]
    response = api.post(f"{API}/translate", json={"texts": texts, "target": "de"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == with_model and body["target"] == "de"
    assert [i["translation"] for i in body["items"]] == [tgt for s, _, _, tgt in TINY_PAIRS if s == "en"]
    assert all(i["source"] == "en" and i["source_detected"] and i["status"] == "ok" for i in body["items"])

    mixed = api.post(f"{API}/translate", json={"texts": ["Die Preise steigen.", "Le marché est calme.", "42"],
                                               "target": "en"}).json()["items"]  # fmt: skip
    assert [(i["status"], i["translation"]) for i in mixed] == [
        ("ok", "Prices are rising."), ("unsupported", None), ("undetermined", None)
    ]
    same = api.post(f"{API}/translate", json={"texts": ["Die Preise steigen."], "source": "de", "target": "de"})
    assert same.json()["items"][0] == {**same.json()["items"][0], "status": "same_language",
                                       "translation": "Die Preise steigen."}  # fmt: skip


def test_translate_refuses_pairs_and_codes_the_model_does_not_serve(api, with_model):
    response = api.post(f"{API}/translate", json={"texts": ["BTC rose today."], "source": "en", "target": "fr"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "source"]
    assert "does not translate en -> fr" in response.json()["detail"][0]["msg"]
    bad = api.post(f"{API}/translate", json={"texts": ["x"], "target": "klingon"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "target"]


def test_languages(api, with_model):
    body = api.get(f"{API}/languages").json()
    assert {"code": "en", "name": "English"} in body["detection"]
    assert body["translation"]["family"] == "marian-multi"
    assert body["translation"]["pairs"] == ["de-en", "en-de"]
    assert body["translation"]["model_version"] == with_model


def test_queueing_a_batch_needs_write_scope(api, warehouse):
    refused = api.post(f"{API}/translate/batch", json={"texts": ["BTC rose today."], "target": "de"})  # read token
    assert refused.status_code == 403 and "write" in refused.json()["detail"]
    assert not warehouse.has_table("nlp_batches") or warehouse.count("nlp_batches") == 0  # nothing queued
    api.headers.update(bearer(warehouse, "batcher", "read,write"))
    assert api.post(f"{API}/translate/batch", json={"texts": ["BTC rose today."], "target": "de"}).status_code == 202


def test_a_batch_is_read_back_only_by_the_client_that_queued_it(api, warehouse):
    owner, other, admin = (bearer(warehouse, client, scopes) for client, scopes in
                           (("owner", "read,write"), ("other", "read,write"), ("ops", "admin")))
    batch_id = api.post(f"{API}/translate/batch", json={"texts": ["BTC rose today."], "target": "de"},
                        headers=owner).json()["id"]
    assert api.get(f"{API}/translate/batch/{batch_id}", headers=owner).json()["status"] == "queued"
    stranger = api.get(f"{API}/translate/batch/{batch_id}", headers=other)
    assert stranger.status_code == 404 and stranger.json() == {"detail": f"unknown batch {batch_id!r}"}
    assert api.get(f"{API}/translate/batch/{batch_id}", headers=admin).status_code == 200
    assert warehouse.read("nlp_batches", {"batch_id": batch_id})["client_id"].to_list() == ["owner"]


def test_batch_submit_status_and_refusals(api, warehouse):
    api.headers.update(bearer(warehouse, "batcher", "read,write"))
    response = api.post(f"{API}/translate/batch", json={"texts": ["BTC rose today.", "ETH fell today."], "target": "de"})
    assert response.status_code == 202
    accepted = response.json()
    assert accepted["status"] == "queued" and accepted["texts"] == 2
    assert accepted["status_url"].endswith(f"{API}/translate/batch/{accepted['id']}")
    status = api.get(f"{API}/translate/batch/{accepted['id']}").json()
    assert status["status"] == "queued" and status["items"] == [] and status["target"] == "de"

    missing = api.get(f"{API}/translate/batch/{'0' * 32}")
    assert missing.status_code == 404 and "unknown batch" in missing.json()["detail"]
    assert api.get(f"{API}/translate/batch/not-an-id").status_code == 422
    refused = api.post(f"{API}/translate/batch", json={"texts": ["x"], "target": "de",
                                                        "callback_url": "http://169.254.169.254/latest"})  # fmt: skip
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "callback_url"]
    allowed = api.post(f"{API}/translate/batch", json={"texts": ["x"], "target": "de",
                                                        "callback_url": "http://127.0.0.1:9/done"})  # fmt: skip
    assert allowed.status_code == 202


def test_endpoints_need_a_token(make_client):
    anonymous = make_client(anonymous=True)
    assert anonymous.post(f"{API}/detect", json={"texts": ["hello"]}).status_code == 401
