"""The market data endpoints, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from ops.market.features import FEATURES_SCHEMA
from ops.market.schema import conform
from ops.market.summary import SUMMARY_SCHEMA
from resources.tables import MARKET_DAILY_SUMMARY, OHLCV, OHLCV_FEATURES
from tests.serving.conftest import T0, bars

API = "/api/v1/data"
HOUR = timedelta(hours=1)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def seeded(warehouse):
    """BTC-USD: 25 hourly and 5 daily bars; ETH-USD: 3 hourly bars."""
    warehouse.upsert(
        OHLCV, pl.concat([bars("BTC-USD", "1h", 25), bars("BTC-USD", "1d", 5), bars("ETH-USD", "1h", 3)])
    )
    return warehouse


# -- /symbols -------------------------------------------------------------------------------------
def test_symbols(client, seeded):
    response = client.get(f"{API}/symbols")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    btc, eth = body["items"]
    assert btc["symbol"] == "BTC-USD" and eth["symbol"] == "ETH-USD"
    assert btc["intervals"] == [
        {"interval": "1d", "first_ts": iso(T0), "last_ts": iso(T0 + timedelta(days=4)), "rows": 5},
        {"interval": "1h", "first_ts": iso(T0), "last_ts": iso(T0 + 24 * HOUR), "rows": 25},
    ]
    assert eth["intervals"] == [
        {"interval": "1h", "first_ts": iso(T0), "last_ts": iso(T0 + 2 * HOUR), "rows": 3}
    ]


# -- /ohlcv ---------------------------------------------------------------------------------------
def test_ohlcv_item_shape(client, seeded):
    body = client.get(f"{API}/ohlcv/BTC-USD", params={"limit": 5}).json()
    assert set(body) == {
        "symbol",
        "interval",
        "start",
        "end",
        "count",
        "total",
        "limit",
        "offset",
        "next_offset",
        "as_of",
        "items",
    }
    assert (body["symbol"], body["interval"], body["start"], body["end"]) == ("BTC-USD", "1h", None, None)
    assert body["as_of"] == iso(T0 + 24 * HOUR)
    first, second, *_, fourth = body["items"][:4]
    assert first == {
        "ts": iso(T0),
        "open": 99.5,
        "high": 101.0,
        "low": 99.0,
        "close": 100.0,
        "volume": 10.0,
        "quote_volume": 0.0,
        "trade_count": 0,
        "gap_before": False,
    }
    assert second["quote_volume"] is None
    assert fourth["gap_before"] is True


def test_ohlcv_pages_cover_the_series_once_in_order(client, seeded):
    pages, offset = [], 0
    while offset is not None:
        body = client.get(f"{API}/ohlcv/BTC-USD", params={"limit": 10, "offset": offset}).json()
        pages.append(body)
        offset = body["next_offset"]
    assert [p["offset"] for p in pages] == [0, 10, 20]
    assert [p["next_offset"] for p in pages] == [10, 20, None]
    assert [p["count"] for p in pages] == [10, 10, 5]
    assert {p["total"] for p in pages} == {25}
    assert {p["limit"] for p in pages} == {10}
    ts = [item["ts"] for p in pages for item in p["items"]]
    assert ts == [iso(T0 + i * HOUR) for i in range(25)]  # ascending, disjoint, complete


def test_ohlcv_page_past_the_end(client, seeded):
    body = client.get(f"{API}/ohlcv/BTC-USD", params={"offset": 25}).json()
    assert (body["count"], body["total"], body["next_offset"], body["items"]) == (0, 25, None, [])


def test_ohlcv_default_interval_and_daily_series(client, seeded):
    assert client.get(f"{API}/ohlcv/BTC-USD").json()["total"] == 25
    daily = client.get(f"{API}/ohlcv/BTC-USD", params={"interval": "1d"}).json()
    assert (daily["interval"], daily["total"], daily["as_of"]) == ("1d", 5, iso(T0 + timedelta(days=4)))


def test_ohlcv_window_is_start_inclusive_end_exclusive(client, seeded):
    start, end = T0 + 5 * HOUR, T0 + 10 * HOUR
    body = client.get(f"{API}/ohlcv/BTC-USD", params={"start": iso(start), "end": iso(end)}).json()
    assert [item["ts"] for item in body["items"]] == [iso(start + i * HOUR) for i in range(5)]
    assert (body["total"], body["start"], body["end"]) == (5, iso(start), iso(end))
    # Freshness is the series' newest bar, whatever the window.
    assert body["as_of"] == iso(T0 + 24 * HOUR)


def test_ohlcv_window_naive_is_utc_and_offsets_are_converted(client, seeded):
    utc = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "2024-01-01T05:00:00Z"}).json()
    naive = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "2024-01-01T05:00:00"}).json()
    shifted = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "2024-01-01T07:00:00+02:00"}).json()
    assert utc["total"] == naive["total"] == shifted["total"] == 20
    assert utc["start"] == naive["start"] == shifted["start"] == "2024-01-01T05:00:00Z"


def test_ohlcv_window_accepts_dates(client, seeded):
    body = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "2024-01-02", "interval": "1h"}).json()
    assert body["total"] == 1 and body["items"][0]["ts"] == "2024-01-02T00:00:00Z"
    daily = client.get(f"{API}/ohlcv/BTC-USD", params={"interval": "1d", "end": "2024-01-03"}).json()
    assert [item["ts"] for item in daily["items"]] == ["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"]


def test_ohlcv_symbol_is_case_insensitive(client, seeded):
    body = client.get(f"{API}/ohlcv/btc-usd", params={"limit": 1}).json()
    assert body["symbol"] == "BTC-USD" and body["total"] == 25


def test_ohlcv_unknown_symbol_is_404_with_the_known_ones(client, seeded):
    response = client.get(f"{API}/ohlcv/XYZ-USD")
    assert response.status_code == 404
    assert response.json() == {"detail": "unknown symbol 'XYZ-USD'; known: BTC-USD, ETH-USD"}


def test_ohlcv_known_symbol_without_that_interval_is_an_empty_page(client, seeded):
    body = client.get(f"{API}/ohlcv/ETH-USD", params={"interval": "1d"}).json()
    assert body["total"] == body["count"] == 0
    assert body["next_offset"] is None and body["as_of"] is None and body["items"] == []


BAD_QUERIES = [  # (query, the field the 422 must name)
    ({"interval": "5m"}, "interval"),
    ({"limit": 0}, "limit"),
    ({"limit": 5001}, "limit"),
    ({"offset": -1}, "offset"),
    ({"offset": 2**53}, "offset"),
    ({"start": "yesterday"}, "start"),
    # ISO 8601 text only: pydantic's lax datetime would take numbers as unix times (1970).
    ({"start": "0.5"}, "start"),
    ({"start": "0"}, "start"),
    ({"end": "1704067200"}, "end"),
    ({"start": "20240101"}, "start"),
    ({"start": "2024-02-30"}, "start"),
    ({"start": "2024-01-01T05:00"}, "start"),
    ({"start": "2024-01-01 05:00:00"}, "start"),
    ({"end": "2024-01-01T24:00:00Z"}, "end"),
]


def test_ohlcv_bad_queries_are_422_naming_the_field(client, seeded):
    # One test over all cases: each parametrized case would pay for a fresh PostgreSQL database.
    for params, field in BAD_QUERIES:
        response = client.get(f"{API}/ohlcv/BTC-USD", params=params)
        assert response.status_code == 422, params
        assert [e["loc"] for e in response.json()["detail"]] == [["query", field]], params


def test_ohlcv_numbers_are_not_times_the_422_names_the_parameter(client, seeded):
    response = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "0.5"})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["query", "start"] and "ISO 8601" in error["msg"]
    features = client.get(f"{API}/features/BTC-USD", params={"start": "0.5"})
    assert features.status_code == 422 and features.json()["detail"][0]["loc"] == ["query", "start"]


def test_ohlcv_start_at_or_after_end_is_an_empty_page(client, seeded):
    for start, end in [("2024-01-02", "2024-01-01"), ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z")]:
        response = client.get(f"{API}/ohlcv/BTC-USD", params={"start": start, "end": end})
        assert response.status_code == 200, (start, end)
        body = response.json()
        assert (body["count"], body["total"], body["next_offset"], body["items"]) == (0, 0, None, [])
        assert body["as_of"] == iso(T0 + 24 * HOUR)  # freshness is the series', whatever the window


def test_ohlcv_window_beyond_the_representable_utc_range(client, seeded):
    # Year 1 with a positive offset is before 0001-01-01T00:00Z: open on that side, echoed as asked.
    early = client.get(f"{API}/ohlcv/BTC-USD", params={"start": "0001-01-01T00:00:00+05:00"})
    assert early.status_code == 200 and early.json()["total"] == 25
    assert early.json()["start"] == "0001-01-01T00:00:00+05:00"
    assert client.get(f"{API}/ohlcv/BTC-USD", params={"end": "0001-01-01T00:00:00+05:00"}).json()["total"] == 0
    # The end of 9999 with a negative offset is after every representable instant.
    late = "9999-12-31T23:00:00-05:00"
    assert client.get(f"{API}/ohlcv/BTC-USD", params={"start": late}).json()["total"] == 0
    assert client.get(f"{API}/ohlcv/BTC-USD", params={"end": late}).json()["total"] == 25


def test_ohlcv_page_size_follows_the_setting(make_client, settings, seeded):
    client = make_client(settings=settings.model_copy(update={"max_page_size": 7}))
    body = client.get(f"{API}/ohlcv/BTC-USD").json()
    assert (body["limit"], body["count"], body["next_offset"]) == (7, 7, 7)
    # Within the schema's ceiling a larger limit is cut to the deployment's page size, not refused.
    larger = client.get(f"{API}/ohlcv/BTC-USD", params={"limit": 8})
    assert larger.status_code == 200
    assert (larger.json()["limit"], larger.json()["count"], larger.json()["next_offset"]) == (7, 7, 7)


def test_page_limits_are_in_the_schema_and_enforced(client, seeded):
    from serving.params import MAX_QUERY_INT, PAGE_SIZE_CEILING

    schema = client.app.openapi()
    for path in ("/ohlcv/{symbol}", "/summary/{symbol}", "/features/{symbol}"):
        params = {p["name"]: p["schema"] for p in schema["paths"][f"{API}{path}"]["get"]["parameters"]}
        (limit,) = [branch for branch in params["limit"]["anyOf"] if branch.get("type") == "integer"]
        assert (limit["minimum"], limit["maximum"]) == (1, PAGE_SIZE_CEILING), path
        assert (params["offset"]["minimum"], params["offset"]["maximum"]) == (0, MAX_QUERY_INT), path
        over = client.get(f"{API}{path.format(symbol='BTC-USD')}", params={"limit": PAGE_SIZE_CEILING + 1})
        assert over.status_code == 422 and over.json()["detail"][0]["loc"] == ["query", "limit"], path
    assert client.get(f"{API}/summary/BTC-USD", params={"limit": 5727}).status_code == 422


def test_window_parameters_say_which_text_they_take(client):
    schema = client.app.openapi()
    params = {p["name"]: p["schema"] for p in schema["paths"][f"{API}/ohlcv/{{symbol}}"]["get"]["parameters"]}
    forms = [branch.get("format", "pattern") for branch in params["start"]["anyOf"] if branch.get("type") == "string"]
    assert forms == ["date-time", "date", "pattern"]
    daily = {p["name"]: p["schema"] for p in schema["paths"][f"{API}/summary/{{symbol}}"]["get"]["parameters"]}
    assert [b.get("format") for b in daily["start"]["anyOf"] if b.get("type") == "string"] == ["date"]


def test_invalid_symbol_text_is_422(client, seeded):
    assert client.get(f"{API}/ohlcv/BTC USD;drop").status_code == 422


# -- missing tables -------------------------------------------------------------------------------
def test_missing_tables_are_404_not_500(client):
    for path in ["/symbols", "/ohlcv/BTC-USD", "/summary/BTC-USD", "/features/BTC-USD"]:
        response = client.get(f"{API}{path}")
        assert response.status_code == 404, path
        assert "not been materialized yet" in response.json()["detail"], path
    # A bad request is a bad request whether or not the data exists yet.
    assert client.get(f"{API}/ohlcv/BTC-USD", params={"interval": "5m"}).status_code == 422
    # An empty window is a valid request: the missing data set is what the answer says.
    assert (
        client.get(f"{API}/ohlcv/BTC-USD", params={"start": "2024-01-02", "end": "2024-01-01"}).status_code
        == 404
    )


# -- /summary -------------------------------------------------------------------------------------
def summary_rows(symbol: str, interval: str, days: int) -> pl.DataFrame:
    dates = [date(2024, 1, 1) + timedelta(days=i) for i in range(days)]
    values: dict[str, list] = {"symbol": [symbol] * days, "interval": [interval] * days}
    for column, dtype in SUMMARY_SCHEMA.items():
        if column in values:
            continue
        if column == "date":
            values[column] = dates if dtype == pl.Date else [d.isoformat() for d in dates]
        elif dtype.is_float():
            values[column] = [float(i) for i in range(days)]
        elif dtype.is_integer():
            values[column] = list(range(days))
    return conform(pl.DataFrame(values), SUMMARY_SCHEMA)


def test_summary(client, warehouse):
    warehouse.upsert(
        MARKET_DAILY_SUMMARY,
        pl.concat(
            [
                summary_rows("BTC-USD", "1h", 6),
                summary_rows("BTC-USD", "1d", 2),
                summary_rows("ETH-USD", "1h", 1),
            ]
        ),
    )
    body = client.get(f"{API}/summary/btc-usd", params={"limit": 4}).json()
    assert (body["symbol"], body["interval"]) == ("BTC-USD", "1h")
    assert (body["total"], body["count"], body["next_offset"]) == (6, 4, 4)
    assert body["as_of"] == "2024-01-06"
    assert [item["date"] for item in body["items"]] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
    ]
    assert "symbol" not in body["items"][0] and "interval" not in body["items"][0]

    window = client.get(f"{API}/summary/BTC-USD", params={"start": "2024-01-02", "end": "2024-01-04"}).json()
    assert [item["date"] for item in window["items"]] == ["2024-01-02", "2024-01-03"]
    assert (window["start"], window["end"]) == ("2024-01-02", "2024-01-04")

    assert client.get(f"{API}/summary/BTC-USD", params={"interval": "1d"}).json()["total"] == 2
    missing = client.get(f"{API}/summary/DOGE-USD")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("unknown symbol 'DOGE-USD'")
    reversed_window = client.get(f"{API}/summary/BTC-USD", params={"start": "2024-01-04", "end": "2024-01-02"})
    assert reversed_window.status_code == 200
    assert (reversed_window.json()["count"], reversed_window.json()["total"]) == (0, 0)
    assert reversed_window.json()["as_of"] == "2024-01-06"
    for bad in ("0", "2024-01-02T00:00:00Z", "2024-1-2", "1704067200"):
        response = client.get(f"{API}/summary/BTC-USD", params={"start": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["query", "start"], bad


# -- /features ------------------------------------------------------------------------------------
def feature_rows(symbol: str, interval: str, n: int) -> pl.DataFrame:
    ts = [T0 + i * HOUR for i in range(n)]
    frame = pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "interval": [interval] * n,
            "ts": ts,
            "date": [t.date().isoformat() for t in ts],
            "close": [100.0 + i for i in range(n)],
            "rsi_14": [None] * 2 + [50.0 + i for i in range(n - 2)],
        }
    )
    return conform(frame, FEATURES_SCHEMA)


def test_features(client, warehouse):
    warehouse.upsert(
        OHLCV_FEATURES, pl.concat([feature_rows("BTC-USD", "1h", 8), feature_rows("ETH-USD", "1h", 2)])
    )
    body = client.get(f"{API}/features/BTC-USD").json()
    assert (body["total"], body["order"], body["next_offset"]) == (8, "asc", None)
    assert body["as_of"] == iso(T0 + 7 * HOUR)
    first = body["items"][0]
    assert first["ts"] == iso(T0) and first["close"] == 100.0 and first["rsi_14"] is None
    assert set(first) == set(FEATURES_SCHEMA) - {"symbol", "interval"}

    latest = client.get(f"{API}/features/BTC-USD", params={"order": "desc", "limit": 3}).json()
    assert [item["ts"] for item in latest["items"]] == [iso(T0 + i * HOUR) for i in (7, 6, 5)]
    assert latest["next_offset"] == 3
    rest = client.get(f"{API}/features/BTC-USD", params={"order": "desc", "limit": 3, "offset": 3}).json()
    assert [item["ts"] for item in rest["items"]] == [iso(T0 + i * HOUR) for i in (4, 3, 2)]

    window = client.get(
        f"{API}/features/BTC-USD",
        params={"start": iso(T0 + 2 * HOUR), "end": iso(T0 + 4 * HOUR), "order": "desc"},
    ).json()
    assert [item["ts"] for item in window["items"]] == [iso(T0 + 3 * HOUR), iso(T0 + 2 * HOUR)]
    assert window["items"][0]["rsi_14"] == 51.0

    backwards = client.get(f"{API}/features/BTC-USD", params={"start": iso(T0 + 4 * HOUR), "end": iso(T0)})
    assert backwards.status_code == 200
    assert (backwards.json()["count"], backwards.json()["total"], backwards.json()["items"]) == (0, 0, [])

    assert client.get(f"{API}/features/BTC-USD", params={"order": "sideways"}).status_code == 422
    assert client.get(f"{API}/features/XYZ-USD").status_code == 404


def test_the_schema_pattern_and_the_parser_agree_on_which_days_exist():
    import re

    from serving.params import NAIVE_DATETIME_PATTERN, parse_iso_date, parse_iso_datetime

    pattern = re.compile(NAIVE_DATETIME_PATTERN)
    for year in (0, 1, 4, 100, 400, 1900, 2000, 2023, 2024, 9999):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                try:
                    exists = date(year, month, day) is not None
                except ValueError:
                    exists = False
                assert bool(pattern.match(f"{text}T00:00:00")) is exists, text
                for parse in (parse_iso_date, parse_iso_datetime):
                    try:
                        parsed = parse(text) is not None
                    except ValueError:
                        parsed = False
                    assert parsed is exists, (parse.__name__, text)
