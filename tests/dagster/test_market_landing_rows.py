"""Every row of a landing file lands: real sensor ticks and Dagster runs over hand-written files.

The partitions of the tests start on the default MARKET_START_DATE (2010-07-17), so a bar of
2009-01-03 is one no partition can hold.
"""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.market.assets import MARKET_ASSETS
from assets.market.partitions import DAYS, range_tags
from assets.market.triggers import market_landing_sensor
from resources.market_source import MarketSource, SourceRows
from resources.warehouse import Warehouse
from tests.dagster.test_market_runs import check_results, materialize

FIRST_PARTITION = DAYS.get_first_partition_key()
DAYS_IN_RANGE = [date(2024, 3, 1) + timedelta(days=i) for i in range(19)]
OLD_DAY = "2009-01-03"


def yahoo_csv(days: list[str]) -> str:
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for i, day in enumerate(days):
        price = 100.0 + i
        lines.append(f"{day},{price},{price * 1.02:.4f},{price * 0.98:.4f},{price * 1.01:.4f},{price * 1.01:.4f},1000")
    return "\n".join(lines) + "\n"


def cdd_csv(rows: list[tuple[str, str]]) -> str:
    """CryptoDataDownload hourly lines for (hour as 'YYYY-MM-DD HH:MM:SS', symbol)."""
    lines = ["unix,date,symbol,open,high,low,close,Volume BASE,Volume USDT,tradecount"]
    for i, (hour, symbol) in enumerate(rows):
        unix = int(pl.Series([hour]).str.to_datetime("%Y-%m-%d %H:%M:%S", time_zone="UTC").dt.epoch("s")[0])
        price = 100.0 + i
        lines.append(f"{unix},{hour},{symbol},{price},{price + 2},{price - 1},{price + 1},5,500,3")
    return "\n".join(lines) + "\n"


def land(settings, name: str, text: str):
    landing = settings.resolved_landing_dir
    landing.mkdir(parents=True, exist_ok=True)
    (landing / name).write_text(text)


def tick(instance, resources, cursor=None):
    return market_landing_sensor(dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor))


def rows_accounted(result) -> dg.AssetCheckEvaluation:
    (evaluation,) = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION" and e.asset_check_evaluation_data.check_name == "rows_accounted"
    ]
    return evaluation


def test_a_row_dated_before_the_partitions_is_rejected_out_of_range(instance, resources, add_symbols, settings):
    """The probe's file: 19 bars in March 2024 and one of 2009-01-03, 20 rows in all."""
    assert FIRST_PARTITION == "2010-07-17"
    land(settings, "btc_usd_probe.csv", yahoo_csv([OLD_DAY, *(d.isoformat() for d in DAYS_IN_RANGE)]))

    (request,) = tick(instance, resources).run_requests
    # the old bar does not stretch the run back to the partitions' first day (years of partitions) ...
    assert (request.partition_key_range.start, request.partition_key_range.end) == (
        "2024-03-01|BTC-USD",
        "2024-03-19|BTC-USD",
    )
    add_symbols("BTC-USD")
    result = materialize(instance, resources, request.tags, request.run_config)
    assert result.success
    assert check_results(result)["rows_accounted"] is True
    accounted = rows_accounted(result).metadata
    assert accounted["source_rows"].value == 20 and accounted["missing"].value == 0

    # ... and is not dropped for being outside the run's days: all 20 rows are somewhere, once
    wh = Warehouse(settings.resolved_warehouse_url)
    assert wh.count("raw_ohlcv", {"source": "btc_usd_probe.csv"}) == 20
    bars = wh.count("ohlcv", {"source": "btc_usd_probe.csv"})
    rejects = wh.read("ohlcv_rejects", {"source": "btc_usd_probe.csv"})
    assert (bars, rejects.height) == (19, 1)
    assert rejects["reason"].to_list() == ["out_of_range"]
    assert rejects["date"].to_list() == [OLD_DAY]
    assert rejects["detail"].item() == (
        f"dated {OLD_DAY}, before the market partitions' first day {FIRST_PARTITION} (MARKET_START_DATE)"
    )
    assert wh.count("ohlcv", {"date": OLD_DAY}) == 0
    wh.dispose()


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_a_run_not_covering_a_rows_day_still_lands_it(instance, resources, add_symbols, settings):
    """A run over part of a file (by hand, or after midnight moved the last partition) lands the file whole."""
    land(settings, "btc_usd_probe.csv", yahoo_csv([OLD_DAY, *(d.isoformat() for d in DAYS_IN_RANGE)]))
    files = {"ops": {"raw_ohlcv": {"config": {"files": [str(settings.resolved_landing_dir / "btc_usd_probe.csv")]}}}}
    add_symbols("BTC-USD")
    result = materialize(instance, resources, range_tags("BTC-USD", DAYS_IN_RANGE[0], DAYS_IN_RANGE[9]), files)
    assert result.success and check_results(result)["rows_accounted"] is True

    wh = Warehouse(settings.resolved_warehouse_url)
    bars = wh.count("ohlcv", {"source": "btc_usd_probe.csv"})
    reasons = wh.read("ohlcv_rejects", {"source": "btc_usd_probe.csv"})["reason"].to_list()
    wh.dispose()
    assert (bars, reasons) == (19, ["out_of_range"])


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_the_runs_of_one_tick_land_each_row_of_a_two_symbol_file_once(instance, resources, add_symbols, settings):
    hours = [f"2024-03-01 {h:02d}:00:00" for h in range(10)]
    rows = [(h, "BTC/USDT") for h in hours] + [(h, "ETH/USDT") for h in hours[:9]] + [("2009-01-03 00:00:00", "ETH/USDT")]
    land(settings, "pairs_1h.csv", cdd_csv(rows))
    sensor = tick(instance, resources)
    assert sorted(r.partition_key_range.start for r in sensor.run_requests) == [
        "2024-03-01|BTC-USDT",
        "2024-03-01|ETH-USDT",
    ]
    add_symbols("BTC-USDT", "ETH-USDT")
    source_rows = 0
    for request in sensor.run_requests:
        result = materialize(instance, resources, request.tags, request.run_config)
        assert result.success and check_results(result)["rows_accounted"] is True
        source_rows += rows_accounted(result).metadata["source_rows"].value
    assert source_rows == 20  # each row counted by exactly one of the two runs

    wh = Warehouse(settings.resolved_warehouse_url)
    bars = wh.count("ohlcv", {"source": "pairs_1h.csv"})
    rejects = wh.read("ohlcv_rejects", {"source": "pairs_1h.csv"})
    wh.dispose()
    assert bars == 19
    assert rejects.select("symbol", "reason").rows() == [("ETH-USDT", "out_of_range")]


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_rows_accounted_fails_when_a_row_is_lost_before_the_warehouse(
    instance, resources, add_symbols, settings, monkeypatch
):
    """The check counts the rows read from the file, so a row dropped after reading fails it."""
    read = MarketSource.read

    def lossy(self, *args, **kwargs) -> SourceRows:
        got = read(self, *args, **kwargs)
        return SourceRows(got.rows.filter(pl.col("date") != OLD_DAY), got.source_rows, got.files)

    monkeypatch.setattr(MarketSource, "read", lossy)
    land(settings, "btc_usd_probe.csv", yahoo_csv([OLD_DAY, *(d.isoformat() for d in DAYS_IN_RANGE)]))
    (request,) = tick(instance, resources).run_requests
    add_symbols("BTC-USD")
    with set_defs_state_storage(instance.defs_state_storage):
        result = dg.materialize(
            MARKET_ASSETS,
            instance=instance,
            resources=resources,
            tags=request.tags,
            run_config=request.run_config,
            raise_on_error=False,
        )
    evaluation = rows_accounted(result)
    assert evaluation.passed is False
    assert (evaluation.metadata["source_rows"].value, evaluation.metadata["missing"].value) == (20, 1)
    assert not result.success  # blocking: features and summaries do not run on an unaccounted slice


@pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)
def test_synthetic_runs_account_for_their_rows(instance, resources, add_symbols, settings):
    add_symbols("BTC-USD")
    result = materialize(instance, resources, range_tags("BTC-USD", "2024-03-01", "2024-03-02"))
    assert result.success and check_results(result)["rows_accounted"] is True
    accounted = rows_accounted(result).metadata
    assert accounted["source_rows"].value == 2 * 24 + 2
    assert accounted["counted_from"].value == "raw_ohlcv of this run"
