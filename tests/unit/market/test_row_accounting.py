"""Rows dated outside the partitions: the out_of_range reason, run planning, and the row accounting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl

from ops.market.accounting import account_rows
from ops.market.cleaning import clean_ohlcv
from ops.market.landing import file_spans
from ops.market.schema import RAW_SCHEMA

FIRST_DAY = date(2026, 11, 27)
NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def _bar(row: int, ts: datetime | None, source: str = "probe.csv", symbol: str = "BTC-USD", **overrides):
    bar = {
        "source": source,
        "source_row": row,
        "symbol": symbol,
        "interval": "1d",
        "ts_raw": ts.isoformat() if ts else "??",
        "ts": ts,
        "open": 100.0,
        "high": 102.0,
        "low": 99.0,
        "close": 101.0,
        "volume": 5.0,
    }
    bar.update(overrides)
    return bar


def _raw(bars) -> pl.DataFrame:
    return pl.DataFrame(bars, schema=RAW_SCHEMA)


def _day(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def test_a_bar_before_the_first_partition_is_rejected_out_of_range() -> None:
    bars = [
        _bar(1, datetime(2009, 1, 3, tzinfo=UTC)),
        _bar(2, _day(FIRST_DAY) - timedelta(microseconds=1)),  # the last instant before the first day
        _bar(3, _day(FIRST_DAY)),  # the first day itself is in
        _bar(4, _day(FIRST_DAY + DAY)),
        _bar(5, datetime(2009, 1, 4, tzinfo=UTC), close=None),  # out of range beats missing value
        _bar(6, datetime(2009, 1, 3, tzinfo=UTC)),  # a duplicate of row 1, but out of range first
        _bar(7, None, ts_raw="garbage"),  # no date at all: unparseable, not out of range
    ]
    clean, rejects = clean_ohlcv(_raw(bars), now=NOW, first_day=FIRST_DAY)
    reasons = dict(zip(rejects["source_row"].to_list(), rejects["reason"].to_list(), strict=True))
    assert reasons == {
        1: "out_of_range",
        2: "out_of_range",
        5: "out_of_range",
        6: "out_of_range",
        7: "unparseable_timestamp",
    }
    assert sorted(clean["source_row"].to_list()) == [3, 4]
    detail = rejects.filter(pl.col("source_row") == 1)["detail"].item()
    assert detail == "dated 2009-01-03, before the market partitions' first day 2026-11-27 (MARKET_START_DATE)"
    assert rejects.filter(pl.col("source_row") == 1)["date"].item() == "2009-01-03"


def test_without_a_first_day_old_bars_are_kept() -> None:
    clean, rejects = clean_ohlcv(_raw([_bar(1, datetime(2009, 1, 3, tzinfo=UTC))]), now=NOW)
    assert clean.height == 1 and rejects.is_empty()


def test_rows_outside_the_partitions_do_not_widen_a_span() -> None:
    latest = NOW.date()
    days = [FIRST_DAY + DAY * i for i in range(1, 4)]
    raw = _raw(
        [_bar(i, _day(d)) for i, d in enumerate(days, 1)]
        + [
            _bar(10, datetime(2009, 1, 3, tzinfo=UTC)),
            _bar(11, _day(latest + 5 * DAY)),
            _bar(12, None),
            _bar(20, datetime(2009, 1, 3, tzinfo=UTC), symbol="ETH-USD"),  # only old rows
            _bar(21, _day(latest + DAY), symbol="SOL-USD"),  # only future rows
            _bar(22, None, symbol="XRP-USD"),  # no parsed timestamp
        ]
    )
    spans = {s.symbol: s for s in file_spans(raw, FIRST_DAY, latest)}
    assert (spans["BTC-USD"].first_day, spans["BTC-USD"].last_day, spans["BTC-USD"].rows) == (days[0], days[-1], 6)
    assert (spans["ETH-USD"].first_day, spans["ETH-USD"].last_day) == (FIRST_DAY, FIRST_DAY)
    assert (spans["SOL-USD"].first_day, spans["SOL-USD"].last_day) == (latest, latest)
    assert (spans["XRP-USD"].first_day, spans["XRP-USD"].last_day) == (latest, latest)
    assert sum(s.rows for s in spans.values()) == raw.height  # every row of the file is some span's


def _judged(rows: int, source: str = "probe.csv") -> tuple[pl.DataFrame, pl.DataFrame]:
    bars = [_bar(i, _day(FIRST_DAY + DAY * i), source=source) for i in range(1, rows + 1)]
    bars.append(_bar(rows + 1, datetime(2009, 1, 3, tzinfo=UTC), source=source))
    return clean_ohlcv(_raw(bars), now=NOW, first_day=FIRST_DAY)


def test_accounting_balances_when_every_source_row_is_kept_or_rejected() -> None:
    clean, rejects = _judged(5)
    account = account_rows(6, clean, rejects, ["probe.csv"])
    assert (account.kept, account.rejected, account.missing, account.balanced) == (5, 1, 0, True)


def test_accounting_fails_when_a_row_is_lost() -> None:
    clean, rejects = _judged(5)
    lost = rejects.filter(pl.col("reason") != "out_of_range")  # the out-of-range row vanished
    account = account_rows(6, clean, lost, ["probe.csv"])
    assert not account.balanced and account.missing == 1
    assert account.to_metadata() == {"source_rows": 6, "bars": 5, "rejects": 0, "missing": 1}
    # the old check compared the cleaner with its own input, so a row lost before it passed
    assert account_rows(clean.height + lost.height, clean, lost).balanced


def test_accounting_counts_only_the_runs_own_sources() -> None:
    clean, rejects = _judged(5)
    other_clean, other_rejects = _judged(3, source="other.csv")
    both_clean, both_rejects = pl.concat([clean, other_clean]), pl.concat([rejects, other_rejects])
    assert account_rows(6, both_clean, both_rejects, ["probe.csv"]).balanced
    assert account_rows(4, both_clean, both_rejects, ["other.csv"]).balanced
    assert not account_rows(6, both_clean, both_rejects).balanced  # counting everything double-counts
    assert account_rows(0, both_clean.clear(), both_rejects.clear(), []).balanced
