"""Supervised windows from per-bar features, without look-ahead.

A row describes one bar t of one (symbol, interval) series:

* its inputs are scale-free transforms of the `ohlcv_features` columns of bars t-window+1 .. t
  (each of which, by the features contract, uses bars up to its own close only), so nothing in a
  row's inputs depends on any bar after t;
* its targets are the future log returns log(close[t+h] / close[t]) for each horizon h (in bars of
  the same series), NaN while bar t+h does not exist yet (such rows can be scored, not trained on);
* `target_end_ts` is the time of bar t + max(h): a training row is only usable for a test period
  that starts after it (the embargo the walk-forward splits apply), otherwise its target would
  overlap the test period.

Inputs are scale-free (returns, ratios to the price, z-scores) so one model can be pooled over
symbols whose prices differ by orders of magnitude.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

#: Model inputs per bar, computed from FEATURES_SCHEMA columns by `model_inputs`.
INPUTS: tuple[str, ...] = (
    "log_return_1",
    "volatility_24",
    "rsi_centered",
    "macd_rel",
    "macd_hist_rel",
    "sma_gap",
    "ema_gap",
    "bb_width_20",
    "atr_rel",
    "hl_range",
    "volume_z_24",
    "momentum_24",
)
#: Extra tabular inputs (for the scikit-learn models, which see only the last bar of the window):
#: the log returns of the previous bars.
RETURN_LAGS: tuple[int, ...] = (1, 2, 3)
#: What identifies a row and what the models need beside the inputs.
INDEX_COLUMNS = ("symbol", "interval", "ts", "target_end_ts", "close", "volatility_24")
#: Floor of the per-bar volatility used to scale intervals (a flat stretch has zero volatility).
MIN_VOLATILITY = 1e-6


def model_inputs(features: pl.DataFrame) -> pl.DataFrame:
    """`features` (FEATURES_SCHEMA) -> symbol, interval, ts, close and the INPUTS columns, in series order.

    Nulls stay null (warm-up bars); `volume_z_24` alone is filled with 0, because the features
    contract leaves it null when the window's volume did not move, and "no unusual volume" is
    exactly what 0 means.
    """
    close = pl.col("close")
    return (
        features.sort("symbol", "interval", "ts")
        .select(
            "symbol",
            "interval",
            "ts",
            "close",
            pl.col("log_return_1"),
            pl.col("volatility_24"),
            (pl.col("rsi_14") / 100 - 0.5).alias("rsi_centered"),
            (pl.col("macd") / close).alias("macd_rel"),
            (pl.col("macd_hist") / close).alias("macd_hist_rel"),
            (close / pl.col("sma_20") - 1).alias("sma_gap"),
            (pl.col("ema_12") / pl.col("ema_26") - 1).alias("ema_gap"),
            pl.col("bb_width_20"),
            (pl.col("atr_14") / close).alias("atr_rel"),
            pl.col("hl_range"),
            pl.col("volume_z_24").fill_null(0.0),
            pl.col("momentum_24"),
        )
        .with_columns(pl.col(c).fill_nan(None) for c in INPUTS)
    )


def with_targets(inputs: pl.DataFrame, horizons: Sequence[int]) -> pl.DataFrame:
    """Add `target_h{h}` (future log return over h bars, null when unknown) and `target_end_ts`."""
    series = ("symbol", "interval")
    log_close = pl.col("close").log()
    return inputs.with_columns(
        *[(log_close.shift(-h).over(series) - log_close).alias(f"target_h{h}") for h in horizons],
        pl.col("ts").shift(-max(horizons)).over(series).alias("target_end_ts"),
    )


@dataclass
class Supervised:
    """Rows in time order (ts, then symbol): index columns, tabular inputs, sequences and targets."""

    index: pl.DataFrame
    tabular: np.ndarray  # rows x (len(INPUTS) + len(RETURN_LAGS)), float64
    sequences: np.ndarray  # rows x window x len(INPUTS), float32
    targets: np.ndarray  # rows x len(horizons), NaN where the future is not known yet
    horizons: tuple[int, ...]
    window: int

    def __len__(self) -> int:
        return self.index.height

    def take(self, rows: np.ndarray) -> Supervised:
        """The subset `rows` (integer positions or a boolean mask), in the same order."""
        positions = np.flatnonzero(rows) if rows.dtype == bool else rows
        return Supervised(
            index=self.index[positions],
            tabular=self.tabular[positions],
            sequences=self.sequences[positions],
            targets=self.targets[positions],
            horizons=self.horizons,
            window=self.window,
        )

    @property
    def ts(self) -> np.ndarray:
        return self.index["ts"].dt.epoch("us").to_numpy()

    @property
    def target_end(self) -> np.ndarray:
        """Epoch microseconds of bar t + max(h); +inf-like (max int) where that bar does not exist."""
        end = self.index["target_end_ts"].dt.epoch("us")
        return end.fill_null(np.iinfo(np.int64).max).to_numpy()

    @property
    def volatility(self) -> np.ndarray:
        return np.maximum(self.index["volatility_24"].to_numpy(), MIN_VOLATILITY)

    @property
    def labelled(self) -> np.ndarray:
        """Rows whose every target is known (usable for training and scoring)."""
        return ~np.isnan(self.targets).any(axis=1)


def required_bars(window: int) -> int:
    """Bars a series needs before its first complete row: the features' warm-up plus the window.

    The slowest feature (macd_signal) is first defined on bar 26 + 9 - 1 = 34 (index 33), so the
    first complete row is at index 33 + window - 1 and needs 33 + window bars.
    """
    return 33 + window


def build_supervised(features: pl.DataFrame, horizons: Sequence[int], window: int) -> Supervised:
    """Rows for every bar whose last `window` bars (itself included) have every input.

    `features` may hold several series; each is windowed on its own, then all rows are ordered
    by (ts, symbol, interval) so that splitting by position is splitting by time.
    """
    horizons = tuple(sorted({int(h) for h in horizons}))
    if not horizons or horizons[0] < 1:
        raise ValueError(f"horizons must be positive bar counts, got {horizons}")
    if window < 1:
        raise ValueError(f"window must be at least 1 bar, got {window}")
    frame = with_targets(model_inputs(features), horizons)
    target_cols = [f"target_h{h}" for h in horizons]
    n_in = len(INPUTS)
    index_parts, tab_parts, seq_parts, y_parts = [], [], [], []
    for _, series in frame.group_by(["symbol", "interval"], maintain_order=True):
        values = series.select(INPUTS).to_numpy().astype(np.float64)
        if series.height < window:
            continue
        complete = ~np.isnan(values).any(axis=1)
        # A row is usable when its whole window is complete: the count of complete bars in it is `window`.
        counts = np.convolve(complete.astype(np.int64), np.ones(window, dtype=np.int64), mode="full")[: len(values)]
        usable = np.flatnonzero(counts == window)
        if usable.size == 0:
            continue
        views = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)  # (n-window+1, n_in, window)
        seqs = np.transpose(views[usable - window + 1], (0, 2, 1))
        lags = np.stack(
            [
                np.where(usable - lag >= 0, values[np.maximum(usable - lag, 0), 0], np.nan)
                for lag in RETURN_LAGS
            ],
            axis=1,
        )
        index_parts.append(series[usable].select(INDEX_COLUMNS))
        tab_parts.append(np.concatenate([values[usable], lags], axis=1))
        seq_parts.append(seqs.astype(np.float32))
        y_parts.append(series[usable].select(target_cols).to_numpy().astype(np.float64))
    if not index_parts:
        return Supervised(
            index=pl.DataFrame(schema={c: frame.schema[c] for c in INDEX_COLUMNS}),
            tabular=np.empty((0, n_in + len(RETURN_LAGS))),
            sequences=np.empty((0, window, n_in), dtype=np.float32),
            targets=np.empty((0, len(horizons))),
            horizons=horizons,
            window=window,
        )
    index = pl.concat(index_parts)
    order = index.with_row_index("_row").sort("ts", "symbol", "interval")["_row"].to_numpy()
    targets = np.concatenate(y_parts)[order]
    return Supervised(
        index=index[order],
        tabular=np.concatenate(tab_parts)[order],
        sequences=np.concatenate(seq_parts)[order],
        targets=np.where(np.isfinite(targets), targets, np.nan),
        horizons=horizons,
        window=window,
    )


def latest_rows(data: Supervised) -> Supervised:
    """The last row of each series (what a forecast is made from)."""
    last = (
        data.index.with_row_index("_row")
        .group_by(["symbol", "interval"])
        .agg(pl.col("_row").sort_by("ts").last())
        .sort("symbol", "interval")["_row"]
        .to_numpy()
    )
    return data.take(last)


__all__ = [
    "INPUTS",
    "RETURN_LAGS",
    "Supervised",
    "build_supervised",
    "latest_rows",
    "model_inputs",
    "required_bars",
    "with_targets",
]
