"""read_market_csv on the real public files and on small hand-written files with one quirk each."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ops.market.parsing import (
    infer_interval,
    normalize_symbol,
    parse_date_text,
    parse_epoch,
    symbol_from_filename,
)
from ops.market.schema import RAW_SCHEMA
from resources.market_files import read_market_csv

MARKET_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "market"
HOURLY = "cdd_Binance_BTCUSDT_1h.csv"
DAILY = "cdd_Binance_BTCUSDT_d.csv"
YAHOO = "btc_usd_daily_yahoo_2014_2022.csv"


def _real(name: str) -> Path:
    path = MARKET_DATA / name
    if not path.is_file():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"test data {path} is required under CI")
        pytest.skip(f"test data {path} not available")
    return path


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture(scope="module")
def hourly() -> pl.DataFrame:
    return read_market_csv(_real(HOURLY))


@pytest.fixture(scope="module")
def hourly_text() -> pl.DataFrame:
    return pl.read_csv(_real(HOURLY), infer_schema=False)


# --- symbols --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT", "BTC-USDT"),
        ("btc_usd", "BTC-USD"),
        (" eth-usdt ", "ETH-USDT"),
        ("BTCUSDT", "BTC-USDT"),
        ("ETHBTC", "ETH-BTC"),
        ("sol usd", "SOL-USD"),
        ("XYZ", "XYZ"),
    ],
)
def test_normalize_symbol(text: str, expected: str) -> None:
    assert normalize_symbol(text) == expected


def test_normalize_symbol_rejects_empty_text() -> None:
    with pytest.raises(ValueError, match="empty symbol"):
        normalize_symbol(" / ")


def test_symbol_from_filename() -> None:
    assert symbol_from_filename("/x/btc_usd_daily_yahoo_2014_2022.csv") == "BTC-USD"
    assert symbol_from_filename("BTC-USD.csv") == "BTC-USD"


# --- cell parsers ---------------------------------------------------------------------------


def test_parse_epoch_decides_the_unit_per_value() -> None:
    texts = pl.Series(
        ["1623283200000", "1623283200", "1503014400.0", "1623283200000000", "1623283200000000000"]
        + [" 1623283200 ", "", "NULL", "nan", "inf", None]
    )
    parsed = parse_epoch(texts).to_list()
    june = _utc(2021, 6, 10)
    assert parsed[:6] == [june, june, _utc(2017, 8, 18), june, june, june]
    assert parsed[6:] == [None] * 5


def test_parse_date_text_formats() -> None:
    texts = pl.Series(
        ["2021-06-10 00:00:00", "2017-08-17 05-AM", "2017-08-17 12-AM", "2017-08-17 12-PM"]
        + ["2017-08-17 11-PM", "2017-08-17", "2017-08-17T05:00:00Z", "2017-08-17 05:00"]
        + ["2017-08-17 13-PM", "2017-02-30", "garbage", None]
    )
    assert parse_date_text(texts).to_list() == [
        _utc(2021, 6, 10),
        _utc(2017, 8, 17, 5),
        _utc(2017, 8, 17, 0),
        _utc(2017, 8, 17, 12),
        _utc(2017, 8, 17, 23),
        _utc(2017, 8, 17),
        _utc(2017, 8, 17, 5),
        _utc(2017, 8, 17, 5),
        None,
        None,
        None,
        None,
    ]


def test_infer_interval() -> None:
    # unordered, duplicated and with a gap: the median of the distinct spacings is still 1 h
    hours = pl.Series([_utc(2021, 1, 1, h) for h in (5, 1, 2, 2, 3, 4, 9)])
    assert infer_interval(hours) == "1h"
    days = pl.Series([_utc(2021, 1, d) for d in (3, 1, 2, 9)])
    assert infer_interval(days) == "1d"
    with pytest.raises(ValueError, match="median spacing is 1800"):
        infer_interval(pl.Series([_utc(2021, 1, 1, h, m) for h in (0, 1) for m in (0, 30)]))
    with pytest.raises(ValueError, match="fewer than two"):
        infer_interval(pl.Series([_utc(2021, 1, 1)], dtype=pl.Datetime("us", "UTC")))


# --- the real CryptoDataDownload hourly file ------------------------------------------------


def test_hourly_file_shape(hourly: pl.DataFrame) -> None:
    assert hourly.schema == pl.Schema(RAW_SCHEMA)
    assert hourly.height == 36_062
    assert hourly.get_column("source_row").to_list() == list(range(1, 36_063))
    assert hourly.get_column("source").unique().to_list() == [HOURLY]
    assert hourly.get_column("symbol").unique().to_list() == ["BTC-USDT"]
    assert hourly.get_column("interval").unique().to_list() == ["1h"]
    assert hourly.get_column("ts").null_count() == 0
    assert hourly.get_column("ts").n_unique() == 33_413


def test_hourly_file_first_and_last_rows(hourly: pl.DataFrame) -> None:
    first, last = hourly.row(0, named=True), hourly.row(-1, named=True)
    assert first["ts"] == _utc(2021, 6, 10) and first["ts_raw"] == "1623283200000"
    assert first["volume"] == pytest.approx(798.276499)  # "Volume BTC", the base asset
    assert first["quote_volume"] == pytest.approx(29889500.42010495)
    assert first["trade_count"] == 10796
    assert last["ts"] == _utc(2017, 8, 17, 4) and last["ts_raw"] == "1502942400.0"
    assert last["open"] == 16199.91 and last["trade_count"] is None


def test_hourly_file_old_rows_have_no_trade_count(hourly: pl.DataFrame, hourly_text: pl.DataFrame) -> None:
    assert hourly_text.get_column("tradecount").eq("NULL").sum() == 28_584
    assert hourly.get_column("trade_count").null_count() == 28_584
    assert (
        hourly.select(
            pl.col("open", "high", "low", "close", "volume", "quote_volume").null_count()
        ).sum_horizontal()[0]
        == 0
    )


def test_hourly_file_has_both_date_formats_and_both_epoch_units(hourly_text: pl.DataFrame) -> None:
    dates = hourly_text.get_column("date")
    twelve_hour = dates.str.contains(r" \d{2}-[AP]M$")
    assert twelve_hour.sum() == 28_584 and (~twelve_hour).sum() == 7_478
    assert parse_date_text(dates).null_count() == 0
    unix = hourly_text.get_column("unix")
    millis = unix.str.len_chars() == 13
    assert millis.sum() == 7_478 and unix.filter(~millis).str.ends_with(".0").all()


def test_hourly_epochs_agree_with_date_text_except_one_shifted_stretch(hourly_text: pl.DataFrame) -> None:
    """Seconds and milliseconds both land on the date text, except 91 rows whose text is 4 h early.

    Those rows (2017-09-22 20:00 .. 2017-09-26 14:00 by unix) are the only place where unix and
    text disagree; the prices follow the unix reading (the opens and closes chain up at the top
    of the stretch, not at the bottom), which is why the epoch is preferred when both exist.
    """
    from_unix = parse_epoch(hourly_text.get_column("unix"))
    from_text = parse_date_text(hourly_text.get_column("date"))
    assert from_unix.null_count() == 0
    disagree = hourly_text.with_columns(u=from_unix, d=from_text).filter(pl.col("u") != pl.col("d"))
    assert disagree.height == 91
    assert (disagree.get_column("u") - disagree.get_column("d")).unique().dt.total_hours().to_list() == [4]
    assert disagree.get_column("u").min() == _utc(2017, 9, 23, 0)
    assert disagree.get_column("u").max() == _utc(2017, 9, 26, 18)
    millis = hourly_text.get_column("unix").str.len_chars() == 13
    assert disagree.filter(pl.col("unix").str.len_chars() == 13).is_empty()
    assert (from_unix.filter(millis) == from_text.filter(millis)).all()


def test_daily_cdd_file() -> None:
    raw = read_market_csv(_real(DAILY))
    assert raw.height == 1_396 and raw.get_column("interval").unique().to_list() == ["1d"]
    assert raw.get_column("ts").null_count() == 0
    assert raw.get_column("ts").n_unique() == 1_395  # 2017-12-18 appears twice
    assert raw.get_column("ts").min() == _utc(2017, 8, 17) and raw.get_column("ts").max() == _utc(2021, 6, 11)
    # the old rows carry a date-only text ("2017-08-17"), agreeing with their float epochs
    text = pl.read_csv(_real(DAILY), infer_schema=False)
    date_only = text.get_column("date").str.len_chars() == 10
    assert date_only.sum() == 124
    assert (parse_date_text(text.get_column("date")) == parse_epoch(text.get_column("unix"))).all()


def test_yahoo_file() -> None:
    raw = read_market_csv(_real(YAHOO))
    assert raw.schema == pl.Schema(RAW_SCHEMA)
    assert raw.height == 2_723
    assert raw.get_column("symbol").unique().to_list() == ["BTC-USD"]
    assert raw.get_column("interval").unique().to_list() == ["1d"]
    assert raw.get_column("quote_volume").null_count() == raw.height
    assert raw.get_column("trade_count").null_count() == raw.height
    first = raw.row(0, named=True)
    assert first["ts"] == _utc(2014, 9, 17) and first["ts_raw"] == "2014-09-17"
    assert first["close"] == pytest.approx(457.334015) and first["volume"] == 21_056_800
    assert raw.get_column("ts").max() == _utc(2022, 3, 1)


def test_yahoo_symbol_argument_wins_over_file_name() -> None:
    raw = read_market_csv(_real(YAHOO), symbol="btc/eur")
    assert raw.get_column("symbol").unique().to_list() == ["BTC-EUR"]


# --- small files with one quirk each ---------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_header_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, "eth_usd.csv", "time,price,amount\n1,2,3\n")
    with pytest.raises(ValueError, match="unrecognised market CSV header 'time,price,amount'"):
        read_market_csv(path)


def test_yahoo_nulls_and_bad_cells_become_null_without_dropping_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "eth_usd_daily.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2021-01-01,10,11,9,10.5,10.5,100\n"
        "2021-01-02,null,null,null,null,null,null\n"
        "not a date,10,11,9,10.5,10.5,100\n"
        "2021-01-04,10,abc,9,,10.5,100\n"
        "2021-01-05,10,11,9,10.5,10.5,100",
    )
    raw = read_market_csv(path)
    assert raw.height == 5 and raw.get_column("source_row").to_list() == [1, 2, 3, 4, 5]
    assert raw.get_column("symbol").unique().to_list() == ["ETH-USD"]
    assert raw.get_column("interval")[0] == "1d"
    assert raw.get_column("ts").to_list()[2] is None and raw.get_column("ts_raw")[2] == "not a date"
    assert raw.row(1, named=True)["open"] is None and raw.row(1, named=True)["volume"] is None
    assert raw.row(3, named=True)["high"] is None and raw.row(3, named=True)["close"] is None
    assert raw.row(3, named=True)["low"] == 9.0


def test_cdd_quirks(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "Binance_ETHBTC_1h.csv",
        "https://www.CryptoDataDownload.com\n"
        "unix,date,symbol,open,high,low,close,Volume ETH,Volume BTC,tradecount\n"
        "1623283200000,2021-06-10 00:00:00,ETH/BTC,1,2,0.5,1.5,10,15,7\n"
        ",2021-06-09 23:00:00,ETH/BTC,1,2,0.5,1.5,10,15,\n"
        "\n"
        "1623276000.0,2021-06-09 10-PM,ETH/BTC,1,2,0.5,1.5,10,15,NULL\n"
        "garbage,garbage,,1,2,0.5,1.5,10,15,12.0\n",
    )
    raw = read_market_csv(path)
    assert raw.get_column("source_row").to_list() == [1, 2, 4, 5]  # the blank line is counted, not kept
    assert raw.get_column("symbol").to_list() == ["ETH-BTC"] * 4  # a missing symbol cell is filled
    assert raw.get_column("interval")[0] == "1h"
    assert raw.get_column("ts_raw").to_list() == [
        "1623283200000",
        "2021-06-09 23:00:00",
        "1623276000.0",
        "garbage",
    ]
    assert raw.get_column("ts").to_list() == [
        _utc(2021, 6, 10),
        _utc(2021, 6, 9, 23),
        _utc(2021, 6, 9, 22),
        None,
    ]
    assert raw.get_column("trade_count").to_list() == [7, None, None, 12]
    assert raw.get_column("volume").to_list() == [10.0] * 4  # "Volume ETH" is the base
    assert raw.get_column("quote_volume").to_list() == [15.0] * 4


def test_cdd_base_volume_found_by_name(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "odd.csv",
        "unix,date,symbol,open,high,low,close,Volume USDT,Volume BTC,tradecount\n"
        "1623283200000,2021-06-10 00:00:00,BTC/USDT,1,2,0.5,1.5,300,2,7\n",
    )
    raw = read_market_csv(path, interval="1h")  # a single row: nothing to infer from
    assert raw.row(0, named=True)["volume"] == 2.0 and raw.row(0, named=True)["quote_volume"] == 300.0


def test_interval_that_is_neither_hour_nor_day_raises(tmp_path: Path) -> None:
    rows = "".join(f"2021-01-01 00:{m:02d}:00,1,2,0.5,1.5,1.5,10\n" for m in (0, 15, 30, 45))
    path = _write(tmp_path, "btc_usd.csv", "Date,Open,High,Low,Close,Adj Close,Volume\n" + rows)
    with pytest.raises(ValueError, match="median spacing is 900 s"):
        read_market_csv(path)
    with pytest.raises(ValueError, match="unknown interval"):
        read_market_csv(path, interval="15m")
    assert read_market_csv(path, interval="1h").height == 4
