"""Model evaluation figures into the `model_metrics` table, one writer for every model.

The dashboard and the Prometheus gauges read the newest value per (model, metric); the price,
fraud and translation assets all record theirs through here, so a figure that is not a finite
number (a metric undefined on this data) is skipped the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import polars as pl

from resources.tables import MODEL_METRICS
from resources.warehouse import Warehouse


def record_model_metrics(db: Warehouse, model: str, version: str,
                         metrics: Mapping[str, float | None] | Iterable[tuple[str, float | None]],
                         measured_at: datetime | None = None) -> int:  # fmt: skip
    """Upsert the finite figures of `model` `version`; how many rows were written."""
    at = measured_at or datetime.now(UTC)
    items = metrics.items() if isinstance(metrics, Mapping) else metrics
    rows = [
        {"model": model, "metric": name, "version": version, "value": float(value), "measured_at": at}
        for name, value in items
        if value is not None and math.isfinite(float(value))
    ]
    if rows:
        db.upsert(MODEL_METRICS, pl.DataFrame(rows, schema=MODEL_METRICS.schema))
    return len(rows)
