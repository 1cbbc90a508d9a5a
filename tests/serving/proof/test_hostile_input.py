"""Hostile request bodies get a 4xx that says what is wrong, never a 500; and a 500 that does happen
costs the client nothing more than that answer (its keep-alive connection stays usable).

The corpus is what a probe of the running API found answered with 500: NaN and Infinity (Python's
JSON parser takes them, JSON does not have them) and lone UTF-16 surrogates (valid JSON escapes that
are no Unicode character). The property test throws arbitrary JSON, unicode and numbers at every
write route of the app's OpenAPI schema.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from serving.errors import json_safe
from tests.serving.proof.conftest import UvicornServer, auth, issue, running

ADDRESS = "0x00000000000000000000000000000000000000a1"
BAR = {"ts": "2026-01-01T00:00:00Z", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}

#: (route, raw body, what the 422 must say) - each answered 500 before.
CORPUS = [
    ("/api/v1/ml/predict", (b'{"bars": [{"ts": "2026-01-01T00:00:00Z", "open": NaN, "high": 1, "low": 1,'
                            b' "close": 1, "volume": 1}], "horizon": 1}'), "NaN is not a JSON number"),
    ("/api/v1/ml/predict", b'{"bars": [], "horizon": Infinity}', "Infinity is not a JSON number"),
    ("/api/v1/ml/predict", b'{"bars": [], "horizon": -Infinity}', "-Infinity is not a JSON number"),
    ("/api/v1/fraud/score", b'{"records": [{"address": "' + ADDRESS.encode() + b'", "tx_count": NaN}]}',
     "NaN is not a JSON number"),
    ("/api/v1/nlp/translate/batch", b'{"texts": ["a"], "target": "de", "callback_url": NaN}',
     "NaN is not a JSON number"),
    ("/api/v1/nlp/detect", b'{"texts": ["\\udfff abc"]}', "lone surrogate U+DFFF"),
    ("/api/v1/nlp/translate", b'{"texts": ["ok", "\\ud83d"], "target": "de"}', "lone surrogate U+D83D"),
    ("/api/v1/fraud/feedback", b'{"address": "' + ADDRESS.encode() + b'", "label": true, "\\udc00": 1}',
     "lone surrogate U+DC00"),
]


@pytest.fixture
def write_client(make_app, seeded):
    with running(make_app(), raise_server_exceptions=False) as client:
        client.headers.update(auth(issue(seeded, "hostile", "read,write")))
        yield client


@pytest.mark.parametrize(("route", "body", "message"), CORPUS, ids=[f"{c[0]}:{c[2][:14]}" for c in CORPUS])
def test_the_bodies_that_answered_500_are_422_naming_the_value(write_client, route, body, message):
    answer = write_client.post(route, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert message in error["msg"]


def test_a_surrogate_is_located_in_the_body(write_client):
    answer = write_client.post("/api/v1/nlp/translate", content=b'{"texts": ["ok", "x\\ud83d"], "target": "de"}',
                               headers={"Content-Type": "application/json"})
    assert answer.json()["detail"][0]["loc"] == ["body", "texts", 1]
    assert "character 1" in answer.json()["detail"][0]["msg"]


def test_a_proper_surrogate_pair_is_a_character_and_passes(write_client):
    answer = write_client.post("/api/v1/nlp/detect", content=b'{"texts": ["hello there \\ud83d\\ude00 friends"]}',
                               headers={"Content-Type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"][0]["language"] == "en"


def test_what_a_422_echoes_is_made_json_safe():
    """Defence in depth: an echoed input JSON cannot carry becomes text instead of failing the answer."""
    echoed = json_safe({"input": [float("nan"), float("-inf"), "x\udfff", {"k": (1.5, "ok")}]})
    assert json.dumps(echoed, allow_nan=False) == '{"input": ["nan", "-inf", "x\\\\udfff", {"k": [1.5, "ok"]}]}'


# -- a 500 keeps the connection ---------------------------------------------------------------------


def test_after_a_500_the_same_connection_serves_the_next_request(make_app, seeded):
    app: FastAPI = make_app()

    @app.get("/api/v1/proof/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with UvicornServer(app) as server:
        connection = http.client.HTTPConnection("127.0.0.1", int(server.url.rsplit(":", 1)[1]), timeout=10)
        try:
            connection.request("GET", "/api/v1/proof/boom")
            failed = connection.getresponse()
            assert (failed.status, json.loads(failed.read())) == (500, {"detail": "internal error"})
            assert failed.getheader("connection") != "close"
            connection.request("GET", "/api/health/live")  # the same socket: reset before the fix
            answer = connection.getresponse()
            assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok"})
        finally:
            connection.close()
    failures = [sample.value for family in app.state.metrics.registry.collect() for sample in family.samples
                if sample.name == "python_services_requests_failed_total"]
    assert sum(failures) == 1  # still counted as the server failure it was


# -- arbitrary JSON at every write route ----------------------------------------------------------

#: Field names of the write routes' bodies, so generated objects get past the first "field required".
KEYS = st.sampled_from(["texts", "target", "source", "bars", "horizon", "records", "addresses", "address",
                        "label", "callback_url", "keep_markup", "ts", "open", "high", "low", "close",
                        "volume", "tx_count", "note", "id"]) | st.text(max_size=8)
LEAVES = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=24)
    | st.sampled_from([ADDRESS, "de", "en", "2026-01-01T00:00:00Z", "http://127.0.0.1:1/cb"])
)
JSON_VALUES = st.recursive(
    LEAVES, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6), max_leaves=20
)


def _write_routes(app: FastAPI) -> list[str]:
    return sorted(path for path, ops in app.openapi()["paths"].items() if "post" in ops and "{" not in path)


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
@hypothesis_settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_arbitrary_json_at_every_write_route_is_never_a_server_error(write_client, data):
    for route in _write_routes(write_client.app):
        value: Any = data.draw(JSON_VALUES | st.fixed_dictionaries({"bars": st.lists(
            st.fixed_dictionaries({k: LEAVES for k in BAR}), max_size=3)}), label=route)
        body = json.dumps(value, allow_nan=True).encode()  # NaN, Infinity and \\udxxx escapes included
        answer = write_client.post(route, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code < 500, f"{route} {body[:300]!r} -> {answer.status_code} {answer.text[:300]}"


# -- the schema and the server agree on types and limits -------------------------------------------

#: (route, body) a lax parser took as data: `false` stored as 0, `0` as False, 0.5 as a 1970 time.
LAX = [
    ("/api/v1/fraud/feedback", {"address": ADDRESS, "label": False}),
    ("/api/v1/fraud/feedback", {"address": ADDRESS, "label": "1"}),
    ("/api/v1/nlp/detect", {"texts": ["Bitcoin stieg heute um 5 Prozent."], "segments": 0}),
    ("/api/v1/nlp/translate/batch", {"texts": ["a"], "target": "de", "keep_markup": 0}),
    ("/api/v1/ml/predict", {"bars": [{**BAR, "ts": 0.5}] * 49}),
    ("/api/v1/ml/predict", {"bars": [{**BAR, "ts": "1700000000"}] * 49}),
    ("/api/v1/ml/predict", {"bars": [{**BAR, "open": True}] * 49}),
    ("/api/v1/ml/predict", {"bars": [{**BAR, "close": "1.5"}] * 49}),
    ("/api/v1/ml/predict", {"bars": [BAR] * 49, "horizon": True}),
]


@pytest.mark.parametrize(("route", "body"), LAX, ids=[f"{r}:{sorted(b)}" for r, b in LAX])
def test_values_of_the_wrong_json_type_are_422(write_client, route, body):
    answer = write_client.post(route, json=body)
    assert answer.status_code == 422, answer.text


def test_an_integral_number_is_an_integer_as_json_schema_says(write_client):
    answer = write_client.post("/api/v1/fraud/feedback", json={"address": ADDRESS, "label": 1.0})
    assert answer.status_code == 200, answer.text
    assert answer.json()["label"] == 1


def test_the_schema_declares_what_the_server_enforces(write_client):
    schemas = write_client.app.openapi()["components"]["schemas"]
    predict = write_client.app.openapi()["paths"]["/api/v1/ml/predict/{symbol}"]["get"]["parameters"]
    assert next(p for p in predict if p["name"] == "horizon")["schema"]["enum"] == [1, 3]  # PRICE_HORIZONS
    assert schemas["PredictRequest"]["properties"]["horizon"]["enum"] == [1, 3]
    assert schemas["PredictRequest"]["properties"]["bars"]["minItems"] == 49
    assert {"required": ["records"], "properties": {"records": {"minItems": 1}}} in schemas["ScoreRequest"]["anyOf"]
    assert schemas["Feedback"]["properties"]["label"]["type"] == "integer"
    too_short = write_client.post("/api/v1/ml/predict", json={"bars": [BAR] * 48})
    assert too_short.status_code == 422 and too_short.json()["detail"][0]["type"] == "too_short"
    neither = write_client.post("/api/v1/fraud/score", json={})
    assert neither.status_code == 422 and "addresses or records" in neither.text
