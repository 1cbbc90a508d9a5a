"""clean_ohlcv and find_gaps: one hand-made row per reject reason, the real files, and a property."""

from __future__ import annotations

import functools
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.market.cleaning import MAX_HIGH_LOW_RATIO, _row_rules, clean_ohlcv, find_gaps
from ops.market.schema import OHLCV_SCHEMA, RAW_SCHEMA, REJECT_REASONS, REJECTS_SCHEMA, conform
from resources.market_files import read_market_csv

MARKET_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "market"
HOURLY = "cdd_Binance_BTCUSDT_1h.csv"
DAILY = "cdd_Binance_BTCUSDT_d.csv"
YAHOO = "btc_usd_daily_yahoo_2014_2022.csv"

T0 = datetime(2021, 3, 1, tzinfo=UTC)
NOW = datetime(2021, 3, 10, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _real(name: str) -> Path:
    path = MARKET_DATA / name
    if not path.is_file():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"test data {path} is required under CI")
        pytest.skip(f"test data {path} not available")
    return path


def _bar(row: int, ts: datetime | None, **overrides: object) -> dict[str, object]:
    """A sound hourly bar (open 100, high 102, low 99, close 101), with some fields replaced."""
    bar: dict[str, object] = {
        "source": "test.csv",
        "source_row": row,
        "symbol": "BTC-USDT",
        "interval": "1h",
        "ts_raw": ts.isoformat() if ts else "??",
        "ts": ts,
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 5.0,
        "quote_volume": 500.0,
        "trade_count": 3,
    }
    bar.update(overrides)
    return bar


def _raw(bars: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(bars, schema=RAW_SCHEMA)


def _reasons(rejects: pl.DataFrame) -> dict[int, str]:
    return dict(
        zip(rejects.get_column("source_row").to_list(), rejects.get_column("reason").to_list(), strict=True)
    )


# --- one row per reason ---------------------------------------------------------------------


def test_rules_follow_the_order_of_reject_reasons() -> None:
    row_rules = [name for name, _, _ in _row_rules()]
    assert [*row_rules, "duplicate_timestamp", "future_timestamp"] == list(REJECT_REASONS)


def test_each_reject_reason() -> None:
    bars = [
        _bar(1, T0),
        _bar(2, None, ts_raw="2021-13-01"),
        _bar(3, T0 + 2 * HOUR, close=None),
        _bar(4, T0 + 3 * HOUR, volume=math.nan),
        _bar(5, T0 + 4 * HOUR, high=math.inf),
        _bar(6, T0 + 5 * HOUR, low=0.0),
        _bar(7, T0 + 6 * HOUR, volume=-1.0),
        _bar(8, T0 + 7 * HOUR, high=100.5),  # below the close
        _bar(9, T0 + 8 * HOUR, low=100.5),  # above the open
        _bar(10, T0 + 9 * HOUR, high=98.0, low=99.0, open=98.5, close=98.5),  # high < low
        _bar(11, T0 + 10 * HOUR, high=310.0, low=99.0),  # ratio 3.13 for an hour
        _bar(12, T0),  # same ts as row 1
        _bar(13, NOW + HOUR),
        _bar(14, NOW),  # exactly now is not the future
        _bar(15, T0 + 11 * HOUR, volume=0.0),  # no trades is valid
    ]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert _reasons(rejects) == {
        2: "unparseable_timestamp",
        3: "missing_value",
        4: "missing_value",
        5: "missing_value",
        6: "non_positive_price",
        7: "negative_volume",
        8: "ohlc_inconsistent",
        9: "ohlc_inconsistent",
        10: "ohlc_inconsistent",
        11: "implausible_range",
        12: "duplicate_timestamp",
        13: "future_timestamp",
    }
    assert sorted(clean.get_column("source_row").to_list()) == [1, 14, 15]
    details = dict(
        zip(rejects.get_column("source_row").to_list(), rejects.get_column("detail").to_list(), strict=True)
    )
    assert details[2] == "timestamp text 2021-13-01 could not be parsed"
    assert details[3] == "null or not a number: close"
    assert details[6] == "price <= 0: low"
    assert "high < max(open, close)" in details[8] and "low > min(open, close)" in details[9]
    assert "high < low" in details[10]
    assert "3.131" in details[11] and "1h" in details[11]
    assert "kept row 1 of test.csv" in details[12]
    assert "2021-03-10T01:00:00Z" in details[13]
    assert rejects.filter(pl.col("source_row") == 2).get_column("date").to_list() == [None]
    assert rejects.filter(pl.col("source_row") == 3).get_column("date").to_list() == ["2021-03-01"]


def test_first_failing_rule_wins() -> None:
    bars = [
        _bar(1, None, open=None),  # unparseable beats missing
        _bar(2, T0, open=None, volume=-3.0),  # missing beats negative volume
        _bar(3, T0 + HOUR, open=-1.0, high=0.5),  # non-positive beats inconsistent
        _bar(4, T0 + 2 * HOUR, volume=-1.0, high=100.5),  # negative volume beats inconsistent
        _bar(5, T0 + 3 * HOUR, high=99.5, low=20.0),  # inconsistent beats implausible
    ]
    _, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert _reasons(rejects) == {
        1: "unparseable_timestamp",
        2: "missing_value",
        3: "non_positive_price",
        4: "negative_volume",
        5: "ohlc_inconsistent",
    }
    assert rejects.filter(pl.col("source_row") == 2).get_column("detail")[0] == "null or not a number: open"


def test_ohlc_tolerance_accepts_round_off() -> None:
    clean, rejects = clean_ohlcv(_raw([_bar(1, T0, high=101.0 * (1 - 1e-12))]), now=NOW)
    assert clean.height == 1 and rejects.is_empty()


def test_range_limit_depends_on_interval() -> None:
    day = {"interval": "1d", "high": 350.0, "low": 99.0}  # ratio 3.5: a crash day, not an hour
    bars = [
        _bar(1, T0, **day),
        _bar(2, T0, high=350.0, low=99.0),
        _bar(3, T0 + 24 * HOUR, interval="1d", high=600.0),
    ]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert clean.get_column("source_row").to_list() == [1]
    assert _reasons(rejects) == {2: "implausible_range", 3: "implausible_range"}
    assert MAX_HIGH_LOW_RATIO == {"1h": 3.0, "1d": 5.0}


def test_duplicates_are_judged_among_valid_rows_only() -> None:
    bars = [
        _bar(1, T0, close=None),  # the first row for T0 is broken ...
        _bar(2, T0, close=101.5),  # ... so this one is kept
        _bar(3, T0, close=100.5),
        _bar(4, T0, symbol="ETH-USDT"),  # another series: not a duplicate
        _bar(5, T0, interval="1d"),  # another interval: not a duplicate
        _bar(6, NOW + HOUR),
        _bar(7, NOW + HOUR),  # duplicate wins over future (earlier in REJECT_REASONS)
    ]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert _reasons(rejects) == {
        1: "missing_value",
        3: "duplicate_timestamp",
        6: "future_timestamp",
        7: "duplicate_timestamp",
    }
    assert clean.filter(pl.col("source_row") == 2).get_column("close").to_list() == [101.5]
    assert clean.height == 3


def test_lowest_source_row_is_kept_whatever_the_input_order() -> None:
    bars = [_bar(9, T0, close=100.1), _bar(3, T0, close=100.2), _bar(5, T0, close=100.3)]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert clean.get_column("source_row").to_list() == [3]
    assert sorted(rejects.get_column("source_row").to_list()) == [5, 9]


def test_now_defaults_to_the_current_time() -> None:
    future = datetime.now(UTC) + timedelta(days=2)
    _, rejects = clean_ohlcv(_raw([_bar(1, T0), _bar(2, future)]))
    assert _reasons(rejects) == {2: "future_timestamp"}
    naive_now = datetime(2021, 3, 1, 0, 30)  # naive means UTC
    _, rejects = clean_ohlcv(_raw([_bar(1, T0), _bar(2, T0 + HOUR)]), now=naive_now)
    assert _reasons(rejects) == {2: "future_timestamp"}


def test_unknown_interval_is_a_producer_error() -> None:
    with pytest.raises(ValueError, match="unknown interval"):
        clean_ohlcv(_raw([_bar(1, T0, interval="5m")]), now=NOW)


def test_empty_input() -> None:
    clean, rejects = clean_ohlcv(pl.DataFrame(schema=RAW_SCHEMA), now=NOW)
    assert clean.schema == pl.Schema(OHLCV_SCHEMA) and clean.is_empty()
    assert rejects.schema == pl.Schema(REJECTS_SCHEMA) and rejects.is_empty()
    assert find_gaps(clean).is_empty()


# --- ordering, dates and gaps ---------------------------------------------------------------


def test_clean_is_sorted_with_dates_and_gap_flags() -> None:
    hours = [0, 1, 2, 5, 6, 23, 24]
    bars = [_bar(i + 1, T0 + h * HOUR) for i, h in reversed(list(enumerate(hours)))]
    bars += [_bar(20, T0 + 3 * HOUR, symbol="ETH-USDT"), _bar(21, T0, symbol="ETH-USDT")]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW)
    assert rejects.is_empty()
    assert clean.schema == pl.Schema(OHLCV_SCHEMA)
    assert clean.get_column("symbol").to_list() == ["BTC-USDT"] * 7 + ["ETH-USDT"] * 2
    btc = clean.filter(pl.col("symbol") == "BTC-USDT")
    assert btc.get_column("ts").to_list() == [T0 + h * HOUR for h in hours]
    assert btc.get_column("gap_before").to_list() == [False, False, False, True, False, True, False]
    assert btc.get_column("date").to_list() == ["2021-03-01"] * 6 + ["2021-03-02"]
    eth = clean.filter(pl.col("symbol") == "ETH-USDT")
    assert eth.get_column("gap_before").to_list() == [False, True]

    gaps = find_gaps(clean)
    assert gaps.columns == ["symbol", "interval", "gap_start", "gap_end", "missing_bars"]
    assert gaps.rows() == [
        ("BTC-USDT", "1h", T0 + 3 * HOUR, T0 + 5 * HOUR, 2),
        ("BTC-USDT", "1h", T0 + 7 * HOUR, T0 + 23 * HOUR, 16),
        ("ETH-USDT", "1h", T0 + HOUR, T0 + 3 * HOUR, 2),
    ]
    assert gaps.height == clean.get_column("gap_before").sum()


def test_misaligned_bar_counts_its_partial_slot_as_missing() -> None:
    clean, _ = clean_ohlcv(_raw([_bar(1, T0), _bar(2, T0 + timedelta(minutes=90))]), now=NOW)
    assert clean.get_column("gap_before").to_list() == [False, True]
    assert find_gaps(clean).get_column("missing_bars").to_list() == [1]


# --- the real files -------------------------------------------------------------------------


@functools.cache
def _cleaned(name: str) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(raw, clean, rejects) of a real file, computed once per test session."""
    raw = read_market_csv(_real(name))
    return (raw, *clean_ohlcv(raw, now=datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize("name", [HOURLY, DAILY, YAHOO])
def test_every_real_row_is_accounted_for_once(name: str) -> None:
    raw, clean, rejects = _cleaned(name)
    assert clean.height + rejects.height == raw.height
    ids = pl.concat([clean.select("source", "source_row"), rejects.select("source", "source_row")])
    assert ids.sort("source_row").equals(raw.select("source", "source_row").sort("source_row"))
    assert clean.select("symbol", "interval", "ts").is_duplicated().sum() == 0
    assert clean.schema == pl.Schema(OHLCV_SCHEMA) and rejects.schema == pl.Schema(REJECTS_SCHEMA)


def test_real_hourly_file_cleaning() -> None:
    _, clean, rejects = _cleaned(HOURLY)
    counts = dict(rejects.get_column("reason").value_counts().iter_rows())
    assert counts == {"duplicate_timestamp": 2_649, "implausible_range": 1}
    assert clean.height == 33_412  # 33,413 distinct hours minus the bad print

    spike = rejects.filter(pl.col("reason") == "implausible_range").row(0, named=True)
    assert spike["source_row"] == 36_062 and spike["ts"] == datetime(2017, 8, 17, 4, tzinfo=UTC)
    assert spike["open"] == 16199.91 and spike["date"] == "2017-08-17"

    # Each duplicated hour holds one millisecond-era row and one seconds-era row; the earlier
    # (millisecond) row is kept.
    duplicates = rejects.filter(pl.col("reason") == "duplicate_timestamp")
    assert duplicates.get_column("ts_raw").str.ends_with(".0").all()
    kept = clean.join(duplicates.select("ts"), on="ts", how="semi")
    assert kept.height == 2_649 and (kept.get_column("source_row") < 10_200).all()
    assert kept.get_column("trade_count").null_count() == 0


def test_real_hourly_file_gaps() -> None:
    _, clean, _ = _cleaned(HOURLY)
    gaps = find_gaps(clean)
    assert gaps.get_column("missing_bars").sum() == 16
    assert gaps.height == 8 == clean.get_column("gap_before").sum()
    assert gaps.row(0) == (
        "BTC-USDT",
        "1h",
        datetime(2017, 9, 22, 20, tzinfo=UTC),
        datetime(2017, 9, 23, 0, tzinfo=UTC),
        4,
    )
    # the span from first to last bar holds every clean bar plus the missing ones, exactly
    ts = clean.get_column("ts")
    assert (ts.max() - ts.min()) // HOUR + 1 == clean.height + 16


def test_real_daily_cdd_file_cleaning() -> None:
    _, clean, rejects = _cleaned(DAILY)
    assert rejects.select("source_row", "reason", "date").rows() == [
        (1273, "duplicate_timestamp", "2017-12-18")
    ]
    assert clean.height == 1_395 and find_gaps(clean).is_empty()


def test_real_yahoo_file_cleaning() -> None:
    _, clean, rejects = _cleaned(YAHOO)
    assert rejects.is_empty() and clean.height == 2_723 and find_gaps(clean).is_empty()


# --- property: the partition holds on arbitrary frames ----------------------------------------

_values = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf]),
    st.floats(min_value=-5.0, max_value=400.0, allow_nan=False),
)


@st.composite
def _raw_frames(draw: st.DrawFn) -> pl.DataFrame:
    n = draw(st.integers(min_value=0, max_value=40))
    rows = []
    for i in range(n):
        offset = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=12)))
        ts = None if offset is None else T0 + offset * HOUR
        if draw(st.booleans()):
            o, h, lo, c = 100.0, 100.0 * draw(st.floats(1.0, 4.0)), 100.0 / draw(st.floats(1.0, 4.0)), 100.0
            v = draw(st.floats(0.0, 10.0))
        else:
            o, h, lo, c, v = (draw(_values) for _ in range(5))
        rows.append(
            _bar(
                draw(st.integers(min_value=1, max_value=60)) if draw(st.booleans()) else i + 1,
                ts,
                symbol=draw(st.sampled_from(["BTC-USDT", "ETH-USDT"])),
                interval=draw(st.sampled_from(["1h", "1d"])),
                open=o,
                high=h,
                low=lo,
                close=c,
                volume=v,
            )
        )
    return _raw(rows)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_raw_frames())
def test_partition_property(raw: pl.DataFrame) -> None:
    now = T0 + 6 * HOUR
    clean, rejects = clean_ohlcv(raw, now=now)
    assert clean.height + rejects.height == raw.height
    assert set(rejects.get_column("reason").to_list()) <= set(REJECT_REASONS)
    assert rejects.get_column("detail").null_count() == 0
    # every row appears exactly once: compare multisets of (source_row, ts) pairs
    key = ["source_row", "ts"]
    together = pl.concat([clean.select(key), rejects.select(key)]).sort(key, nulls_last=True)
    assert together.equals(raw.select(key).sort(key, nulls_last=True))
    # what survived is sound, unique and not in the future
    assert clean.select("symbol", "interval", "ts").is_duplicated().sum() == 0
    assert clean.filter(
        (pl.col("high") < pl.max_horizontal("open", "close") * (1 - 1e-9))
        | (pl.col("low") > pl.min_horizontal("open", "close") * (1 + 1e-9))
        | (pl.col("low") <= 0)
        | (pl.col("volume") < 0)
        | (pl.col("ts") > now)
    ).is_empty()
    # cleaning is idempotent: clean bars fed back in are all kept
    again, again_rejects = clean_ohlcv(conform(clean, RAW_SCHEMA), now=now)
    assert again_rejects.is_empty() and again.height == clean.height
