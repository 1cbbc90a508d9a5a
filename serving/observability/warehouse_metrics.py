"""Gauges read from the warehouse when Prometheus scrapes: the latest validation pass rates, model
quality metrics and the last write of each table.

Its own module because these numbers are written by the Dagster assets, not by the API: they are
queried at scrape time (no background poller, nothing cached), and the dashboard reads the same rows
through `latest_rows` and `parse_table_version`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

# One logger name for the whole package.
log = logging.getLogger("serving.observability")

#: Warehouse table of model quality measurements (model, metric, value, version, measured_at),
#: written by the training assets; read only when present.
MODEL_METRICS_TABLE = "model_metrics"
DATA_QUALITY_TABLE = "data_quality_metrics"


def _warehouse_of(source: Any) -> Any:
    """`source` is a Warehouse, or a callable returning one (or None while the app is not started)."""
    if source is None:
        return None
    if hasattr(source, "has_table"):
        return source
    return source()


def latest_rows(warehouse: Any, table: str, group: tuple[str, ...], value: str) -> list[dict[str, Any]]:
    """The rows of `table` measured last for each `group`: one per group, or [] without the table.

    Ties (several rows of a group at the same latest `measured_at`, e.g. the partitions of one run)
    keep the lowest `value`: for pass rates, the worst partition of the latest run.
    """
    import sqlalchemy as sa

    if not warehouse.has_table(table):
        return []
    t = warehouse.table(table)
    cols = [t.c[c] for c in group]
    latest = sa.select(*cols, sa.func.max(t.c.measured_at).label("latest")).group_by(*cols).subquery()
    join_on = sa.and_(*(t.c[c] == latest.c[c] for c in group), t.c.measured_at == latest.c.latest)
    extra = [t.c[c] for c in ("version",) if c in t.c and c not in group]
    query = sa.select(*cols, t.c[value], t.c.measured_at, *extra).join(latest, join_on)
    with warehouse.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    best: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[c] for c in group)
        if row[value] is None:
            continue
        if key not in best or row[value] < best[key][value]:
            best[key] = row
    out = []
    for key in sorted(best, key=lambda k: tuple(str(part) for part in k)):
        row = best[key]
        measured = row["measured_at"]
        if isinstance(measured, datetime) and measured.tzinfo is None:
            row["measured_at"] = measured.replace(tzinfo=UTC)
        out.append(row)
    return out


def parse_table_version(version: str) -> datetime | None:
    """`Warehouse.versions()` values (`%Y%m%dT%H%M%S%f`, UTC) -> an aware datetime."""
    try:
        return datetime.strptime(version, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        return None


class WarehouseMetricsCollector:
    """Gauges read from the warehouse at scrape time (a custom prometheus Collector).

    - `sextant_validation_pass_rate{asset,check}`: the latest pass rate of each validation check
      (`data_quality_metrics`), and `sextant_validation_measured_timestamp_seconds{asset,check}`.
    - `sextant_model_metric{model,metric}`: the latest value of each model quality metric (price MAE
      ratio, BLEU, fraud precision and recall, ...) from the `model_metrics` table when it exists.
    - `sextant_table_last_write_timestamp_seconds{table}`: when each warehouse table was last written.

    Each family is read on its own: a failing query skips that family and counts one error in
    `python_services_metrics_collector_errors_total{collector="warehouse",family=...}`.
    """

    name = "warehouse"

    def __init__(self, warehouse: Any, on_error: Callable[[str, str, BaseException], None] | None = None):
        self._source = warehouse
        self._on_error = on_error

    def bind_error_handler(self, on_error: Callable[[str, str, BaseException], None]) -> None:
        if self._on_error is None:
            self._on_error = on_error

    def _error(self, family: str, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(self.name, family, exc)
        else:
            log.warning("warehouse metrics: %s failed: %s", family, exc.__class__.__name__, exc_info=exc)

    def collect(self) -> Iterator[Metric]:
        try:
            warehouse = _warehouse_of(self._source)
        except Exception as exc:  # noqa: BLE001
            self._error("*", exc)
            return
        if warehouse is None:
            return
        for family_name, build in (
            ("sextant_validation_pass_rate", self._validation),
            ("sextant_model_metric", self._models),
            ("sextant_table_last_write_timestamp_seconds", self._freshness),
        ):
            try:
                families = build(warehouse)
            except Exception as exc:  # noqa: BLE001 - skip this family, keep the scrape
                self._error(family_name, exc)
                continue
            yield from families

    @staticmethod
    def _validation(warehouse: Any) -> list[Metric]:
        rows = latest_rows(warehouse, DATA_QUALITY_TABLE, ("asset", "check_name"), "pass_rate")
        rate = GaugeMetricFamily(
            "sextant_validation_pass_rate",
            "Latest pass rate of each validation check (0..1).",
            labels=["asset", "check"],
        )
        when = GaugeMetricFamily(
            "sextant_validation_measured_timestamp_seconds",
            "When that pass rate was measured (Unix time).",
            labels=["asset", "check"],
        )
        for row in rows:
            labels = [str(row["asset"]), str(row["check_name"])]
            rate.add_metric(labels, float(row["pass_rate"]))
            if isinstance(row["measured_at"], datetime):
                when.add_metric(labels, row["measured_at"].timestamp())
        return [rate, when]

    @staticmethod
    def _models(warehouse: Any) -> list[Metric]:
        rows = latest_rows(warehouse, MODEL_METRICS_TABLE, ("model", "metric"), "value")
        if not rows:
            return []
        family = GaugeMetricFamily(
            "sextant_model_metric", "Latest value of each model quality metric.", labels=["model", "metric"]
        )
        for row in rows:
            family.add_metric([str(row["model"]), str(row["metric"])], float(row["value"]))
        return [family]

    @staticmethod
    def _freshness(warehouse: Any) -> list[Metric]:
        family = GaugeMetricFamily(
            "sextant_table_last_write_timestamp_seconds",
            "When each warehouse table was last written (Unix time).",
            labels=["table"],
        )
        for table, version in sorted(warehouse.versions().items()):
            written = parse_table_version(version)
            if written is not None:
                family.add_metric([table], written.timestamp())
        return [family]


__all__ = [
    "DATA_QUALITY_TABLE",
    "MODEL_METRICS_TABLE",
    "WarehouseMetricsCollector",
    "latest_rows",
    "parse_table_version",
]
