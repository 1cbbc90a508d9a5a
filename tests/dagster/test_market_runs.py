"""Real Dagster runs of the market assets, on both warehouse backends."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
from dagster._core.storage.defs_state.base import set_defs_state_storage

from assets.market.assets import MARKET_ASSETS
from assets.market.partitions import range_tags
from assets.market.triggers import market_landing_sensor
from resources.warehouse import Warehouse

HOURLY_FILE = "cdd_Binance_BTCUSDT_1h.csv"


def materialize(instance, resources, tags, run_config=None):
    # Dagster reads its definitions-state storage from a context variable that an instance sets when
    # entered; once, in CI, it still held the storage of an instance already collected ("undefined
    # DagsterInstance weakref"). Pin it to this run's instance so no other test's leftovers matter.
    with set_defs_state_storage(instance.defs_state_storage):
        return dg.materialize(
            MARKET_ASSETS, instance=instance, resources=resources, tags=tags, run_config=run_config
        )


def check_results(result) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_synthetic_days_end_to_end_and_idempotent(instance, resources, add_symbols, settings):
    add_symbols("BTC-USD")
    first, last = date(2024, 3, 1), date(2024, 3, 3)
    tags = range_tags("BTC-USD", first, last)

    result = materialize(instance, resources, tags)
    assert result.success
    assert check_results(result) == {"raw_bars_suite": True, "bars_suite": True, "rows_accounted": True}

    wh = Warehouse(settings.resolved_warehouse_url)
    counts = {t: wh.count(t) for t in ("raw_ohlcv", "ohlcv", "ohlcv_rejects", "ohlcv_features", "market_daily_summary")}
    assert counts["ohlcv"] == 3 * 24 + 3  # hourly and daily bars of three whole days
    assert counts["raw_ohlcv"] == counts["ohlcv"] + counts["ohlcv_rejects"]
    assert counts["ohlcv_features"] == counts["ohlcv"]
    assert counts["market_daily_summary"] == 3 * 2  # per day and interval

    # one run covered the range: a materialization per partition, all from the same run
    mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    ohlcv_partitions = {e.event_specific_data.materialization.partition for e in mats if e.asset_key.path == ["ohlcv"]}
    assert len(ohlcv_partitions) == 3

    quality = wh.read("data_quality_metrics", {"asset": "ohlcv"})
    assert quality["pass_rate"].to_list() == [1.0]

    assert materialize(instance, resources, tags).success  # re-running writes the same rows
    assert {t: wh.count(t) for t in counts} == counts
    wh.dispose()


def landing_slice(shared_data, first_line: int, last_line: int) -> tuple[str, int, int]:
    """Lines [first_line, last_line] of the real hourly file, with its header; and its rows and distinct hours.

    The slice holds the file's duplicated hours (a millisecond row and a seconds row for the same
    hour). It is kept to about two months because Dagster records every partition of a ranged run.
    """
    lines = (shared_data / "market" / HOURLY_FILE).read_text().splitlines()
    rows = lines[first_line : last_line + 1]
    hours = {int(float(r.split(",")[0])) // (1000 if float(r.split(",")[0]) > 1e11 else 1) for r in rows}
    return "\n".join([lines[0], *rows]) + "\n", len(rows), len(hours)


def test_landing_file_becomes_one_run_and_every_row_is_accounted(instance, resources, add_symbols, settings, shared_data):
    text, rows, distinct_hours = landing_slice(shared_data, 8_000, 10_200)
    assert rows - distinct_hours > 1_000  # the slice really is dirty
    landing = settings.resolved_landing_dir
    landing.mkdir(parents=True)
    (landing / "btc_hourly.csv").write_text(text)
    (landing / "notes.csv").write_text("this,is,not\na,market,file\n")

    context = dg.build_sensor_context(instance=instance, resources=resources)
    sensor_result = market_landing_sensor(context)
    assert len(sensor_result.run_requests) == 1  # weeks of hours: one run, not one per day
    request = sensor_result.run_requests[0]
    first_day, last_day = request.partition_key_range.start, request.partition_key_range.end
    assert first_day.endswith("|BTC-USDT") and last_day.endswith("|BTC-USDT") and first_day < last_day
    assert sensor_result.dynamic_partitions_requests[0].partition_keys == ["BTC-USDT"]

    add_symbols("BTC-USDT")
    result = materialize(instance, resources, request.tags, request.run_config)
    checks = check_results(result)
    assert checks["raw_bars_suite"] is False  # the raw file breaks the suite ...
    assert checks["bars_suite"] is True  # ... what the cleaner produced passes it
    assert checks["rows_accounted"] is True

    wh = Warehouse(settings.resolved_warehouse_url)
    bars = wh.count("ohlcv", {"symbol": "BTC-USDT"})
    rejects = wh.count("ohlcv_rejects", {"source": "btc_hourly.csv"})
    assert bars + rejects == rows
    assert bars == distinct_hours
    assert wh.count("ohlcv_rejects", {"reason": "duplicate_timestamp"}) == rows - distinct_hours

    # a second run over the same file writes the same rows, no duplicates
    assert materialize(instance, resources, request.tags, request.run_config).success
    assert (wh.count("ohlcv"), wh.count("ohlcv_rejects")) == (bars, rejects)
    wh.dispose()

    # the same file is never processed twice ...
    again = market_landing_sensor(
        dg.build_sensor_context(instance=instance, resources=resources, cursor=sensor_result.cursor)
    )
    assert again.run_requests == []
    # ... but a rewritten one is
    (landing / "btc_hourly.csv").write_text(text + text.splitlines()[1] + "\n")
    rewritten = market_landing_sensor(
        dg.build_sensor_context(instance=instance, resources=resources, cursor=sensor_result.cursor)
    )
    assert len(rewritten.run_requests) == 1


def test_hourly_schedule_requests_today_for_every_symbol(instance, resources, settings):
    from assets.market.triggers import market_hourly_schedule

    when = datetime(2024, 5, 2, 10, 5, tzinfo=UTC)
    context = dg.build_schedule_context(instance=instance, resources=resources, scheduled_execution_time=when)
    requests = market_hourly_schedule(context)
    assert sorted(r.partition_key_range.start for r in requests) == ["2024-05-01|BTC-USD", "2024-05-01|ETH-USD"]
    assert {r.partition_key_range.end for r in requests} == {"2024-05-02|BTC-USD", "2024-05-02|ETH-USD"}
    assert set(instance.get_dynamic_partitions("market_symbols")) == {"BTC-USD", "ETH-USD"}


def test_run_on_postgres_backed_dagster_instance(tmp_path, postgres_url, monkeypatch):
    """With DAGSTER_PG_URL set, runs and events go to PostgreSQL, and can be read back from it."""
    import sqlalchemy as sa

    from orchestration.instance import prepare_dagster_home
    from resources.configurable import build_resources
    from resources.settings import Settings

    pg_url = postgres_url  # postgresql+psycopg2://: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3
    monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
    settings = Settings(
        SEXTANT_HOME=tmp_path / "home", DAGSTER_PG_URL=pg_url, WAREHOUSE_URL=f"sqlite:///{tmp_path / 'w.sqlite'}"
    )
    home = prepare_dagster_home(settings)
    assert "postgres_url" in (home / "dagster.yaml").read_text()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("market_symbols", ["ETH-USD"])
        result = materialize(instance, build_resources(settings), range_tags("ETH-USD", "2024-01-02", "2024-01-02"))
        assert result.success
        run_id = result.run_id

    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        events = conn.execute(
            sa.text("SELECT dagster_event_type, asset_key FROM event_logs WHERE run_id = :r"), {"r": run_id}
        ).all()
        runs = conn.execute(sa.text("SELECT status FROM runs WHERE run_id = :r"), {"r": run_id}).scalar_one()
    engine.dispose()
    materialized = {a for t, a in events if t == "ASSET_MATERIALIZATION"}
    assert {'["ohlcv"]', '["raw_ohlcv"]', '["ohlcv_features"]'} <= materialized
    assert runs == "SUCCESS"


def test_features_of_a_later_day_equal_those_on_full_history(instance, resources, add_symbols, settings):
    """The warm-up read makes a one-day run compute what a run over all history would."""
    import polars as pl
    from polars.testing import assert_frame_equal

    from ops.market.features import compute_features

    add_symbols("ETH-USD")
    assert materialize(instance, resources, range_tags("ETH-USD", "2024-03-01", "2024-03-19")).success
    assert materialize(instance, resources, range_tags("ETH-USD", "2024-03-20", "2024-03-20")).success

    wh = Warehouse(settings.resolved_warehouse_url)
    stored = wh.read("ohlcv_features", {"date": "2024-03-20"}, order_by=["interval", "ts"])
    expected = (
        compute_features(wh.read("ohlcv", {"symbol": "ETH-USD"}))
        .filter(pl.col("date") == "2024-03-20")
        .sort("interval", "ts")
    )
    wh.dispose()
    assert stored.height == 25  # 24 hourly bars and one daily bar
    assert stored["rsi_14"].null_count() < stored.height  # hourly features are defined from the first hour
    assert_frame_equal(stored, expected.select(stored.columns), abs_tol=1e-9, rel_tol=1e-9)


def test_a_file_spanning_years_is_one_run_request(instance, resources, settings, shared_data):
    landing = settings.resolved_landing_dir
    landing.mkdir(parents=True)
    (landing / HOURLY_FILE).write_bytes((shared_data / "market" / HOURLY_FILE).read_bytes())
    yahoo = "btc_usd_daily_yahoo_2014_2022.csv"  # no symbol column: base and quote come from the file name
    (landing / yahoo).write_bytes((shared_data / "market" / yahoo).read_bytes())
    result = market_landing_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    ranges = sorted((r.partition_key_range.start, r.partition_key_range.end) for r in result.run_requests)
    assert ranges == [
        ("2014-09-17|BTC-USD", "2022-03-01|BTC-USD"),
        ("2017-08-17|BTC-USDT", "2021-06-10|BTC-USDT"),
    ]
