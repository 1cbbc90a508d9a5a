"""GraphQL against REST on the same warehouse: equal answers, one round trip, no N+1, limits, the gate."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import event

from ops.market.features import compute_features
from resources.tables import OHLCV_FEATURES
from serving.graphql.limits import MAX_LIMIT
from serving.graphql.router import MAX_COST, MAX_DEPTH, PATH, build_schema
from tests.fraud.conftest import A, public_slice_csv, tiny_training  # noqa: F401 (fixtures)
from tests.fraud.test_api import published  # noqa: F401 (fixture)
from tests.intel.test_api_cli import BOT_EOA, CLONE, VICTIM, seeded  # noqa: F401 (fixture)
from tests.price.conftest import synthetic_bars
from tests.serving.test_chain import export, indexed  # noqa: F401 (fixtures)

SNAPSHOT = Path(__file__).with_name("schema.graphql")
FIRST, LAST = 17173049, 17173050


def gql(client, query: str, **variables):
    answer = client.post(PATH, json={"query": query, "variables": variables})
    assert answer.status_code == 200, answer.text
    return answer.json()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_schema_is_the_pinned_one():
    """A change to the schema is deliberate: regenerate with `python -m serving.graphql.schema > <this file>`."""
    assert build_schema().as_str() + "\n" == SNAPSHOT.read_text()


PROFILE = """
query Profiles($addresses: [String!]!) {
  addresses(addresses: $addresses) {
    address known labels
    cluster { clusterId size members heuristics behaviourCluster outlierScore evidence }
    mev { sandwichAttacks sandwiched arbitrages roles }
    contract { proxyKind implementation interfaces risky riskReasons }
    risk { address score probability band scoreBasis modelVersion anomalyScore
           reasons { feature description contribution } cluster { id outlierScore fraudRate } }
    transfers(limit: 5) { total nextOffset items { transactionHash logIndex value tokenAddress } }
  }
}
"""


def test_address_profiles_equal_the_rest_answers_in_one_round_trip(client, indexed, seeded, published):
    transfer_side = indexed["token_transfers"][0]["from_address"]
    addresses = [VICTIM, BOT_EOA, CLONE, A, transfer_side, "0x" + "0e" * 20]
    body = gql(client, PROFILE, addresses=addresses)
    assert "errors" not in body, body
    profiles = {p["address"]: p for p in body["data"]["addresses"]}
    assert set(profiles) == set(addresses)
    seen = {"known": 0, "risk": 0, "transfers": 0}
    for address, profile in profiles.items():
        rest = client.get(f"/api/v1/chain/address/{address}")
        assert profile["known"] is (rest.status_code == 200), (address, rest.text)
        if rest.status_code == 200:
            seen["known"] += 1
            expected = rest.json()
            assert profile["labels"] == expected["labels"]
            assert profile["mev"] == {camel(k): v for k, v in expected["mev"].items()}
            for part in ("cluster", "contract"):
                want = expected[part]
                assert profile[part] == (None if want is None else {camel(k): (v or [] if k in (
                    "interfaces", "risk_reasons") else v) for k, v in want.items()}), part  # fmt: skip
        score = client.get(f"/api/v1/fraud/score/{address}")
        if score.status_code == 200:
            seen["risk"] += 1
            want = score.json()
            got = profile["risk"]
            for key in ("address", "score", "probability", "band", "score_basis", "model_version", "anomaly_score"):
                assert got[camel(key)] == want[key], key
            assert got["reasons"] == [{camel(k): v for k, v in r.items()} for r in want["reasons"]]
            assert got["cluster"] == {camel(k): v for k, v in want["cluster"].items()}
        else:
            assert score.status_code == 404 and profile["risk"] is None
        page = client.get(f"/api/v1/chain/address/{address}/transfers", params={"limit": 5}).json()
        assert profile["transfers"]["total"] == page.get("total", 0)
        assert profile["transfers"]["nextOffset"] == page.get("next_offset")
        assert [(t["transactionHash"], t["logIndex"]) for t in profile["transfers"]["items"]] == [
            (t["transaction_hash"], t["log_index"]) for t in page.get("items", [])
        ]
        seen["transfers"] += bool(profile["transfers"]["total"])
    assert seen == {"known": 3, "risk": 1, "transfers": 1}  # each part of the profile was exercised


def test_blocks_and_transactions_equal_the_rest_rows(client, indexed):
    block = gql(client, "query($n: BigInt!) { block(number: $n) { number hash miner gasUsed baseFeePerGas "
                        "timestamp transactionCount } }", n=FIRST)["data"]["block"]  # fmt: skip
    rest = client.get(f"/api/v1/chain/blocks/{FIRST}").json()
    assert block == {camel(k): rest[k] for k in ("number", "hash", "miner", "gas_used", "base_fee_per_gas",
                                                 "timestamp", "transaction_count")}  # fmt: skip
    tx_hash = indexed["transactions"][5]["hash"]
    tx = gql(client, "query($h: String!) { transaction(hash: $h) { hash value gasPrice receiptStatus "
                     "tokenTransfers { logIndex value } block { number } } }", h=tx_hash)["data"]["transaction"]  # fmt: skip
    rest = client.get(f"/api/v1/chain/tx/{tx_hash}").json()
    assert (tx["hash"], tx["value"], tx["gasPrice"], tx["receiptStatus"]) == (
        rest["hash"], rest["value"], rest["gas_price"], rest["receipt_status"])
    assert tx["tokenTransfers"] == [{"logIndex": t["log_index"], "value": t["value"]} for t in rest["token_transfers"]]
    assert tx["block"]["number"] == rest["block_number"]
    assert tx["gasPrice"] > 2**31  # a 64-bit quantity GraphQL's Int could not carry


def test_forecast_equals_the_rest_answer(client, warehouse):
    warehouse.upsert(OHLCV_FEATURES, compute_features(synthetic_bars(("BTC-USD",), days=4)))
    got = gql(client, '{ forecast(symbol: "btc-usd", horizon: 1) { symbol horizon forecast asOf '
                      "predictionInterval { level lower upper } model { name baseline note } } }")["data"]["forecast"]  # fmt: skip
    rest = client.get("/api/v1/ml/predict/BTC-USD", params={"horizon": 1}).json()
    assert got["forecast"] == rest["forecast"] and got["symbol"] == rest["symbol"] == "BTC-USD"
    assert got["predictionInterval"] == rest["prediction_interval"]
    assert got["model"] == {k: rest["model"][k] for k in ("name", "baseline", "note")} and got["model"]["baseline"]
    refused = client.post(PATH, json={"query": '{ forecast(symbol: "BTC-USD", horizon: 999) { forecast } }'}).json()
    assert "horizons" in refused["errors"][0]["message"]


def _statements(warehouse):
    counted: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            counted.append(statement)

    event.listen(warehouse.engine, "before_cursor_execute", count)
    return counted, lambda: event.remove(warehouse.engine, "before_cursor_execute", count)


NESTED = """query($from: BigInt!, $to: BigInt!, $limit: Int!) {
  blocks(fromBlock: $from, toBlock: $to, limit: $limit) {
    number transactions(limit: 100) { hash tokenTransfers { value } block { number } }
  }
}"""


def test_nested_lists_cost_one_query_per_level_whatever_their_size(client, warehouse, indexed):
    gql(client, NESTED, **{"from": FIRST, "to": FIRST, "limit": 1})  # warm the app's table checks
    counts, sizes = [], []
    for last in (FIRST, LAST):
        counted, stop = _statements(warehouse)
        try:
            data = gql(client, NESTED, **{"from": FIRST, "to": last, "limit": 2})["data"]["blocks"]
        finally:
            stop()
        reads = [s for s in counted if re.search(r"FROM (chain_blocks|chain_transactions|token_transfers)\b", s)]
        counts.append(len(reads))
        sizes.append(sum(len(b["transactions"]) for b in data))
    assert sizes[1] > sizes[0] > 50  # twice the blocks, three times the objects ...
    assert counts[0] == counts[1] == 3  # ... the same three reads: blocks, their transactions, their transfers


def test_depth_cost_and_argument_limits_refuse_with_a_message(client):
    deep = "{ block(number: 1) " + "{ transactions { block " * 3 + "{ number }" + " } }" * 3 + " }"
    body = client.post(PATH, json={"query": deep}).json()
    assert body["data"] is None and any(f"depth of {MAX_DEPTH}" in e["message"] for e in body["errors"])
    costly = "{ blocks(fromBlock: 1, toBlock: 100, limit: 100) { transactions(limit: 100) { hash value } } }"
    body = client.post(PATH, json={"query": costly}).json()
    assert body["data"] is None and f"limit of {MAX_COST}" in body["errors"][0]["message"]
    too_many = client.post(PATH, json={"query": f"{{ blocks(fromBlock: 1, toBlock: 2, limit: {MAX_LIMIT + 1}) "
                                                "{ number } }"}).json()  # fmt: skip
    assert f"between 1 and {MAX_LIMIT}" in too_many["errors"][0]["message"]
    bad = client.post(PATH, json={"query": '{ address(address: "0x123") { known } }'}).json()
    assert bad["data"] is None and "40 hex digits" in bad["errors"][0]["message"]
    broken = client.post(PATH, json={"query": "{ block(number: 1) { number "}).json()
    assert "Syntax Error" in broken["errors"][0]["message"]


def test_the_gateway_guards_graphql_like_rest(make_client, warehouse):
    anonymous = make_client(anonymous=True)
    refused = anonymous.post(PATH, json={"query": "{ block(number: 1) { number } }"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = anonymous.post(PATH, json={"query": "{ block(number: 1) { number } }"},
                           headers={"Authorization": "Bearer sxt_nope_nope"})  # fmt: skip
    assert wrong.status_code == 401
    answer = make_client().post(PATH, json={"query": "{ block(number: 1) { number } }"})
    assert answer.status_code == 200 and answer.json() == {"data": {"block": None}}
    assert {"x-ratelimit-limit", "x-ratelimit-remaining"} <= {k.lower() for k in answer.headers}


@pytest.mark.parametrize("query", ["{ __schema { queryType { name } } }", "{ __typename }"])
def test_introspection_answers_for_generated_clients(client, query):
    assert "errors" not in gql(client, query)


@pytest.mark.parametrize("body", [b"null", b"[]", b"3", b'"q"', b"not json"])
def test_a_body_that_is_not_a_json_object_is_a_400_with_a_message(client, body):
    answer = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"]


def test_an_unsupported_content_type_is_a_json_400(client):
    answer = client.post(PATH, content=b"{ __typename }", headers={"Content-Type": "text/plain"})
    assert answer.status_code in (400, 415) and answer.json()["detail"]


def test_openapi_documents_the_route_and_the_sdl_is_served(client):
    spec = client.get("/api/openapi.json").json()
    post = spec["paths"][PATH]["post"]
    assert set(spec["paths"][PATH]) == {"post"}
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == ["query"]
    assert {"400", "401", "429"} <= set(post["responses"])
    assert client.get(f"{PATH}/schema").text == SNAPSHOT.read_text()


@pytest.mark.parametrize("body", [
    b"\xff\xfe{", b'{"query": ""}', b'{"query": 3}', b'{"query": "{ __typename }", "variables": []}',
    b'{"query": "{ __typename }", "operationName": {}}',
])  # fmt: skip
def test_a_malformed_graphql_request_is_a_400_naming_the_field(client, body):
    answer = client.post(PATH, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"]
