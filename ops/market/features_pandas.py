"""Reference pandas implementation of the market features. NOT used by the pipeline.

It exists for two reasons only: as the baseline in `bench/etl.py` (the way a data scientist
would write these features with pandas groupby + rolling/ewm, without tuning), and as an
independent oracle the unit tests compare `ops.market.features.compute_features` against.
It must implement exactly the conventions documented in `ops/market/features.py`.

Numerically it is close but not identical: pandas' rolling variance updates a running sum as
the window slides, so on long series with large prices its standard deviations drift by up to
~1e-8 relative, whereas polars recomputes each window.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ops.market.features import BARS_PER_YEAR, FEATURES_SCHEMA

SERIES = ["symbol", "interval"]
LEVELS = [0, 1]  # the group keys groupby-rolling/ewm prepend to the row index


def compute_features_pandas(ohlcv: pd.DataFrame) -> pd.DataFrame:
    """Same output as `compute_features` (columns of FEATURES_SCHEMA, sorted by the key), in pandas."""
    df = ohlcv.sort_values(["symbol", "interval", "ts"]).reset_index(drop=True)
    g = df.groupby(SERIES, sort=False)

    prev_close = g["close"].shift(1)
    df["return_1"] = df["close"] / prev_close - 1
    df["log_return_1"] = np.log(df["close"] / prev_close)
    df["momentum_24"] = df["close"] / g["close"].shift(24) - 1
    df["hl_range"] = (df["high"] - df["low"]) / df["close"]

    df["delta"] = df["close"] - prev_close
    df["gain"] = df["delta"].clip(lower=0)
    df["loss"] = (-df["delta"]).clip(lower=0)
    df["tr"] = pd.concat(
        [df["high"] - df["low"], (df["high"] - prev_close).abs(), (df["low"] - prev_close).abs()], axis=1
    ).max(axis=1)

    g = df.groupby(SERIES, sort=False)
    df["sma_20"] = g["close"].rolling(20).mean().droplevel(LEVELS)
    std_20 = g["close"].rolling(20).std().droplevel(LEVELS)
    df["bb_width_20"] = 4 * std_20 / df["sma_20"]
    df["volatility_24"] = g["log_return_1"].rolling(24).std().droplevel(LEVELS)
    df["realized_vol_annualized"] = df["volatility_24"] * np.sqrt(df["interval"].map(BARS_PER_YEAR))

    vol_mean = g["volume"].rolling(24).mean().droplevel(LEVELS)
    vol_std = g["volume"].rolling(24).std().droplevel(LEVELS)
    df["volume_z_24"] = ((df["volume"] - vol_mean) / vol_std).where(vol_std > 0)

    df["ema_12"] = g["close"].ewm(span=12, adjust=False, min_periods=12).mean().droplevel(LEVELS)
    df["ema_26"] = g["close"].ewm(span=26, adjust=False, min_periods=26).mean().droplevel(LEVELS)
    df["macd"] = df["ema_12"] - df["ema_26"]
    g = df.groupby(SERIES, sort=False)
    df["macd_signal"] = g["macd"].ewm(span=9, adjust=False, min_periods=9).mean().droplevel(LEVELS)
    df["macd_hist"] = df["macd"] - df["macd_signal"]

    avg_gain = g["gain"].ewm(alpha=1 / 14, adjust=False, min_periods=14).mean().droplevel(LEVELS)
    avg_loss = g["loss"].ewm(alpha=1 / 14, adjust=False, min_periods=14).mean().droplevel(LEVELS)
    total = avg_gain + avg_loss
    df["rsi_14"] = np.where(
        total > 0, 100 * avg_gain / total.where(total > 0), np.where(total == 0, 50.0, np.nan)
    )
    df["atr_14"] = g["tr"].ewm(alpha=1 / 14, adjust=False, min_periods=14).mean().droplevel(LEVELS)

    return df[list(FEATURES_SCHEMA)]
