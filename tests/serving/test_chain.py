"""The chain endpoints over real mainnet rows (blocks 17173049-17173050), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from resources.tables import CHAIN_BLOCKS, CHAIN_LOGS, CHAIN_TRANSACTIONS, TOKEN_TRANSFERS
from resources.warehouse import TableSpec

API = "/api/v1/chain"
EXPORT = "chain/ethereum-etl_blocks_17173049_17173050"


def etl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # topics are comma-joined; withdrawals are JSON text
        return ",".join(value) if all(isinstance(v, str) for v in value) else json.dumps(value)
    return str(value)


def as_table(rows: list[dict], spec: TableSpec) -> pl.DataFrame:
    """ethereum-etl JSON rows in our column contract: big quantities as decimal text, lists joined."""
    out = {}
    for column, dtype in spec.schema.items():
        values = [row.get(column) for row in rows]
        if dtype == pl.Utf8:
            values = [_text(v) for v in values]
        out[column] = values
    return pl.DataFrame(out, schema=dict(spec.schema))


@pytest.fixture
def export(shared_data: Path) -> dict[str, list[dict]]:
    folder = shared_data / EXPORT
    return {name: etl_rows(folder / f"expected_{name}.json") for name in ("blocks", "transactions", "logs", "token_transfers")}


@pytest.fixture
def indexed(warehouse, export):
    logs = [
        {**log, **{f"topic{i}": (log["topics"][i] if i < len(log["topics"]) else None) for i in range(4)}}
        for log in export["logs"]
    ]
    transfers = [{**t, "token_standard": "erc20"} for t in export["token_transfers"]]
    warehouse.upsert(CHAIN_BLOCKS, as_table(export["blocks"], CHAIN_BLOCKS))
    warehouse.upsert(CHAIN_TRANSACTIONS, as_table(export["transactions"], CHAIN_TRANSACTIONS))
    warehouse.upsert(CHAIN_LOGS, as_table(logs, CHAIN_LOGS))
    warehouse.upsert(TOKEN_TRANSFERS, as_table(transfers, TOKEN_TRANSFERS))
    return export


def test_block_by_number(client, indexed):
    response = client.get(f"{API}/blocks/17173049")
    assert response.status_code == 200
    body = response.json()
    expected = indexed["blocks"][0]
    assert body["hash"] == expected["hash"] and body["transaction_count"] == expected["transaction_count"]
    assert body["total_difficulty"] == str(expected["total_difficulty"])  # beyond int64: decimal text


def test_unknown_block_is_404_and_malformed_numbers_are_422(client, indexed):
    missing = client.get(f"{API}/blocks/1")
    assert missing.status_code == 404 and "block 1 is not indexed" in missing.json()["detail"]
    for bad in ("-1", "abc", "1.5"):
        response = client.get(f"{API}/blocks/{bad}")
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["path", "number"]


def test_transaction_with_receipt_logs_and_transfers(client, indexed):
    per_tx = Counter(t["transaction_hash"] for t in indexed["token_transfers"])
    tx_hash, transfers = per_tx.most_common(1)[0]
    logs = sorted((log for log in indexed["logs"] if log["transaction_hash"] == tx_hash), key=lambda r: r["log_index"])

    body = client.get(f"{API}/tx/{tx_hash.upper().replace('0X', '0x')}").json()  # hex case does not matter
    assert body["hash"] == tx_hash
    expected = next(t for t in indexed["transactions"] if t["hash"] == tx_hash)
    assert body["receipt_gas_used"] == expected["receipt_gas_used"]
    assert [log["log_index"] for log in body["logs"]] == [log["log_index"] for log in logs]
    assert body["logs"][0]["topics"] == ",".join(logs[0]["topics"])
    assert len(body["token_transfers"]) == transfers


@pytest.mark.parametrize("bad", ["0x123", "0x" + "g" * 64, "ab" * 33])
def test_malformed_transaction_hash_is_422_naming_the_field(client, indexed, bad):
    response = client.get(f"{API}/tx/{bad}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "tx_hash"]


def test_unknown_transaction_is_404(client, indexed):
    response = client.get(f"{API}/tx/0x{'ab' * 32}")
    assert response.status_code == 404 and "not indexed" in response.json()["detail"]


def test_address_transfers_in_pages_newest_first(client, indexed):
    transfers = indexed["token_transfers"]
    sides = Counter(t["from_address"] for t in transfers) + Counter(t["to_address"] for t in transfers)
    address = sides.most_common(1)[0][0]
    mine = [t for t in transfers if address in (t["from_address"], t["to_address"])]
    expected = sorted(((t["block_number"], t["log_index"]) for t in mine), reverse=True)

    seen, offset = [], 0
    while offset is not None:
        page = client.get(f"{API}/address/{address.upper().replace('0X', '0x')}/transfers", params={"limit": 3, "offset": offset})
        assert page.status_code == 200
        body = page.json()
        assert body["total"] == len(mine) and body["count"] <= 3
        seen += [(item["block_number"], item["log_index"]) for item in body["items"]]
        offset = body["next_offset"]
    assert seen == expected

    incoming = client.get(f"{API}/address/{address}/transfers", params={"direction": "in"}).json()
    outgoing = client.get(f"{API}/address/{address}/transfers", params={"direction": "out"}).json()
    assert incoming["total"] == sum(t["to_address"] == address for t in transfers)
    assert outgoing["total"] == sum(t["from_address"] == address for t in transfers)
    assert all(item["to_address"] == address for item in incoming["items"])


def test_address_transfers_validation(client, indexed):
    assert client.get(f"{API}/address/0x12/transfers").status_code == 422
    assert client.get(f"{API}/address/{'0x' + '1' * 40}/transfers", params={"direction": "sideways"}).status_code == 422
    too_big = client.get(f"{API}/address/{'0x' + '1' * 40}/transfers", params={"limit": 10**6})
    assert too_big.status_code == 422 and too_big.json()["detail"][0]["loc"] == ["query", "limit"]
    empty = client.get(f"{API}/address/{'0x' + '1' * 40}/transfers").json()
    assert empty["total"] == 0 and empty["items"] == [] and empty["next_offset"] is None


def test_chain_limits_are_in_the_schema_and_the_database_takes_every_allowed_value(client, indexed):
    from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING

    operations = client.app.openapi()["paths"]
    transfers = {p["name"]: p["schema"] for p in operations[f"{API}/address/{{address}}/transfers"]["get"]["parameters"]}
    (limit,) = [branch for branch in transfers["limit"]["anyOf"] if branch.get("type") == "integer"]
    assert limit["maximum"] == PAGE_SIZE_CEILING and transfers["offset"]["maximum"] == MAX_QUERY_INT
    (number,) = operations[f"{API}/blocks/{{number}}"]["get"]["parameters"]
    assert number["schema"]["maximum"] == MAX_QUERY_INT

    address = indexed["token_transfers"][0]["from_address"]
    over = client.get(f"{API}/address/{address}/transfers", params={"limit": PAGE_SIZE_CEILING + 1})
    assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["query", "limit"]
    # The largest offset and page the schema allows reach the database (offset + limit) and answer.
    deepest = client.get(f"{API}/address/{address}/transfers", params={"limit": PAGE_SIZE_CEILING, "offset": MAX_QUERY_INT})
    assert deepest.status_code == 200 and deepest.json()["items"] == [] and deepest.json()["next_offset"] is None
    assert client.get(f"{API}/address/{address}/transfers", params={"offset": MAX_QUERY_INT + 1}).status_code == 422
    assert client.get(f"{API}/blocks/{MAX_QUERY_INT}").status_code == 404
    assert client.get(f"{API}/blocks/{10**19}").status_code == 422


def test_address_transfers_page_size_follows_the_setting(make_client, settings, indexed):
    client = make_client(settings=settings.model_copy(update={"max_page_size": 2}))
    address = indexed["token_transfers"][0]["from_address"]
    body = client.get(f"{API}/address/{address}/transfers", params={"limit": 50}).json()
    assert body["limit"] == 2 and body["count"] <= 2


def test_chain_routes_need_a_token_and_say_when_nothing_is_indexed(make_client, warehouse):
    assert make_client(anonymous=True).get(f"{API}/blocks/1").status_code == 401
    response = make_client().get(f"{API}/blocks/1")
    assert response.status_code == 404 and "materialized" in response.json()["detail"]
