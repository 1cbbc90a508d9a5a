"""Turn a validation report into a Dagster check result and a row in the warehouse's quality table."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import polars as pl

from assets.market.partitions import MarketSlice
from ops.market.validation import ValidationReport
from resources.tables import DATA_QUALITY
from resources.warehouse import Warehouse


def quality_check_result(
    db: Warehouse, asset: str, check_name: str, window: MarketSlice, report: ValidationReport, *, blocking: bool
) -> dg.AssetCheckResult:
    """Record the pass rate (serving and dashboards read it from the warehouse) and report the check."""
    row = {
        "asset": asset,
        "partition": window.label,
        "check_name": check_name,
        "success": report.success,
        "evaluated": report.evaluated,
        "passed": report.passed,
        "pass_rate": report.pass_rate,
        "row_count": report.row_count,
        "measured_at": datetime.now(UTC),
    }
    db.upsert(DATA_QUALITY, pl.DataFrame([row], schema=DATA_QUALITY.schema))
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=check_name,
        passed=report.success,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
        metadata={k: v for k, v in report.to_metadata().items()},
    )
