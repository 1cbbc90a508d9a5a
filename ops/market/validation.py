"""The data-quality suite for market bars, run with great-expectations (1.x) on a polars frame.

`validate_bars` checks the columns that raw rows (``RAW_SCHEMA``) and validated bars
(``OHLCV_SCHEMA``) share, so the same suite grades both ends of the cleaner:

* key: ``symbol``, ``interval`` and ``ts`` not null, and (symbol, interval, ts) unique;
* prices: ``open``/``high``/``low``/``close`` not null and > 0;
* volume: not null and >= 0;
* OHLC consistency: high >= low, high >= open, high >= close, low <= open, low <= close;
* ``interval`` one of the known intervals;
* a derived ``hl_ratio`` (high / low, per bar) at most `MAX_HL_RATIO`, against bad ticks.

Each defect is reported by one expectation only: the uniqueness check skips rows with a
missing key part, and the pair checks skip rows with a missing price, because the not-null
checks already count those rows. ``hl_ratio`` is null where ``low`` is not positive, which the
price checks already report.

great-expectations is slow to import and this module is loaded with the Dagster definitions,
so it is imported on the first validation only. The in-memory (ephemeral) context, the data
asset and the suite are built once per process and reused. Nothing is written to disk.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import polars as pl

#: The intervals a bar may have (see ``INTERVAL_SECONDS`` in ``schema.py``).
KNOWN_INTERVALS = ("1h", "1d")

#: Upper bound for high / low of a single bar. Deliberately loose: it catches ticks that are off
#: by an order of magnitude, not volatile bars. The cleaner applies its own, tighter limits.
MAX_HL_RATIO = 5.0

#: Columns the suite reads; a frame without one of them is a contract error, not a data defect.
REQUIRED_COLUMNS = ("symbol", "interval", "ts", "open", "high", "low", "close", "volume")

PRICE_COLUMNS = ("open", "high", "low", "close")
KEY_COLUMNS = ("symbol", "interval", "ts")
SUITE_NAME = "market_bars"

#: How many offending values an outcome keeps as examples.
EXAMPLES_PER_EXPECTATION = 5


@dataclass(frozen=True)
class ExpectationOutcome:
    """The result of one expectation of the suite.

    `expectation` names the expectation type and the column(s) it looked at, e.g.
    ``expect_column_values_to_be_between(low)`` or
    ``expect_compound_columns_to_be_unique(symbol, interval, ts)``.

    `unexpected_count` is the number of offending rows. For the uniqueness check every row of a
    duplicated key counts, so one repeated bar gives 2. `unexpected_percent` is that count as a
    percentage of all rows of the frame. Both are None when the expectation could not be
    evaluated (and then `success` is False). `examples` holds up to a few offending values as text.
    """

    expectation: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "success": self.success,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of the bar suite on one frame.

    `pass_rate` is ``passed / evaluated`` over expectations (not rows): 1.0 when every
    expectation held.
    """

    success: bool
    evaluated: int
    passed: int
    pass_rate: float
    row_count: int
    results: list[ExpectationOutcome] = field(default_factory=list)

    def failures(self) -> list[ExpectationOutcome]:
        """The expectations that did not hold, in suite order."""
        return [r for r in self.results if not r.success]

    def failed_expectations(self) -> list[str]:
        """Names of the expectations that did not hold, in suite order."""
        return [r.expectation for r in self.failures()]

    def outcome(self, expectation: str) -> ExpectationOutcome:
        """The outcome of the expectation with this name (see `ExpectationOutcome.expectation`)."""
        for r in self.results:
            if r.expectation == expectation:
                return r
        raise KeyError(expectation)

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON values (bool, int, float, str, lists and dicts of those), e.g. for Dagster metadata."""
        return {
            "success": self.success,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "pass_rate": self.pass_rate,
            "row_count": self.row_count,
            "failed_expectations": self.failed_expectations(),
            "failures": [r.to_dict() for r in self.failures()],
        }


def validate_bars(df: pl.DataFrame) -> ValidationReport:
    """Run the bar suite on `df` (a raw or a validated bars frame) and summarise the result.

    Raises ValueError when one of `REQUIRED_COLUMNS` is missing. Extra columns are ignored.
    Safe to call from several threads; validations run one at a time.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"validate_bars: frame lacks column(s) {missing}; has {df.columns}")

    low = pl.col("low").cast(pl.Float64)
    frame = df.select(
        *REQUIRED_COLUMNS,
        hl_ratio=pl.when(low > 0).then(pl.col("high").cast(pl.Float64) / low).otherwise(None),
    )
    # Datetime(tz="UTC") becomes datetime64[.., UTC]: the timestamps stay tz-aware.
    pdf = frame.to_pandas()

    with _LOCK:
        suite_runner = _runner()
        result = suite_runner.run(pdf)
    return _report(result, suite_runner.names, row_count=df.height)


# --- great-expectations plumbing ------------------------------------------------------------

_LOCK = threading.Lock()
_RUNNER: _SuiteRunner | None = None


class _SuiteRunner:
    """An ephemeral context with one pandas data asset, its batch definition and the suite."""

    def __init__(self) -> None:
        # Keep the library from reporting usage anywhere. Versions that collect analytics read
        # this variable when they are imported, so it is set before the import.
        os.environ["GX_ANALYTICS_ENABLED"] = "False"
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        config = DataContextConfig(
            # No docs site: the default ephemeral config reserves a temporary directory for one.
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        context = gx.get_context(mode="ephemeral", project_config=config)
        asset = context.data_sources.add_pandas(name="sextant_market").add_dataframe_asset(name="bars")
        self.batch_definition = asset.add_batch_definition_whole_dataframe(name="whole_frame")
        self.context = context
        self.suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=_expectations(gx.expectations))
        self.names = [_name(e.expectation_type, e.configuration.kwargs) for e in self.suite.expectations]
        if len(set(self.names)) != len(self.names):
            raise RuntimeError(f"expectation names are not unique: {self.names}")

    def run(self, pdf: Any) -> Any:
        batch = self.batch_definition.get_batch(batch_parameters={"dataframe": pdf})
        return batch.validate(
            self.suite,
            result_format={"result_format": "BASIC", "partial_unexpected_count": EXAMPLES_PER_EXPECTATION},
        )


def _runner() -> _SuiteRunner:
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = _SuiteRunner()
    return _RUNNER


def _expectations(gxe: Any) -> list[Any]:
    """The suite, in report order. `gxe` is the ``great_expectations.expectations`` module."""
    suite: list[Any] = [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in KEY_COLUMNS]
    suite.append(
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=list(KEY_COLUMNS), ignore_row_if="any_value_is_missing"
        )
    )
    for c in PRICE_COLUMNS:
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=c))
        suite.append(gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, strict_min=True))
    suite.append(gxe.ExpectColumnValuesToNotBeNull(column="volume"))
    suite.append(gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0))
    for a, b in (("high", "low"), ("high", "open"), ("high", "close"), ("open", "low"), ("close", "low")):
        # A >= B; "low <= open" is written as open >= low.
        suite.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=a, column_B=b, or_equal=True, ignore_row_if="either_value_is_missing"
            )
        )
    suite.append(gxe.ExpectColumnValuesToBeInSet(column="interval", value_set=list(KNOWN_INTERVALS)))
    suite.append(gxe.ExpectColumnValuesToBeBetween(column="hl_ratio", max_value=MAX_HL_RATIO))
    return suite


def _name(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """``type(column, ...)``: readable, and unique within the suite."""
    if "column_list" in kwargs:
        columns = list(kwargs["column_list"])
    elif "column_A" in kwargs:
        columns = [kwargs["column_A"], kwargs["column_B"]]
    elif "column" in kwargs:
        columns = [kwargs["column"]]
    else:
        columns = []
    return f"{expectation_type}({', '.join(columns)})"


def _report(result: Any, order: list[str], *, row_count: int) -> ValidationReport:
    outcomes: dict[str, ExpectationOutcome] = {}
    for r in result.results:
        cfg = r.expectation_config
        name = _name(cfg.type, cfg.kwargs)
        outcomes[name] = _outcome(name, bool(r.success), r.result or {}, r.exception_info or {}, row_count)
    # GE evaluates (and returns) the expectations in an order of its own; report in suite order.
    results = [outcomes[n] for n in order if n in outcomes]
    results += [o for n, o in outcomes.items() if n not in order]
    evaluated = len(results)
    passed = sum(r.success for r in results)
    return ValidationReport(
        success=evaluated > 0 and passed == evaluated,
        evaluated=evaluated,
        passed=passed,
        pass_rate=passed / evaluated if evaluated else 0.0,
        row_count=row_count,
        results=results,
    )


def _outcome(
    name: str, success: bool, result: dict[str, Any], exception_info: dict[str, Any], row_count: int
) -> ExpectationOutcome:
    count = result.get("unexpected_count")
    if _raised(exception_info) or count is None:
        return ExpectationOutcome(name, False, None, None)
    count = int(count)
    # GE's own `unexpected_percent` is relative to the non-null values for most expectations;
    # here it is always relative to all rows.
    percent = 100.0 * count / row_count if row_count else 0.0
    examples = tuple(dict.fromkeys(_text(v) for v in result.get("partial_unexpected_list") or []))
    return ExpectationOutcome(name, success, count, percent, examples[:EXAMPLES_PER_EXPECTATION])


def _raised(exception_info: dict[str, Any]) -> bool:
    """Whether GE failed to evaluate the expectation (it nests the info per metric on failure)."""
    if exception_info.get("raised_exception"):
        return True
    return any(isinstance(v, dict) and v.get("raised_exception") for v in exception_info.values())


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if hasattr(value, "isoformat"):
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return "NaT"
    return str(value)
