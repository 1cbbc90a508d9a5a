"""Next-horizon forecasts for the latest bar of each series, by a model or by the baseline.

Both the `price_forecasts` asset and the API call `forecast_latest`, so a forecast published to the
warehouse and one computed for a request are the same computation on the same features.

The baseline (when no model has been promoted) is persistence, "the price stays", with an
interval from the series' own past: quantiles of its past h-bar log returns divided by the
volatility at their start, times the current volatility; with too little history, the normal
quantiles.
"""

from __future__ import annotations

from datetime import timedelta
from statistics import NormalDist

import numpy as np
import polars as pl

from ops.market.schema import INTERVAL_SECONDS, UTC_TS
from ops.price.dataset import MIN_VOLATILITY, build_supervised, latest_rows
from ops.price.ensemble import PriceModel

FORECAST_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.Utf8,
    "interval": pl.Utf8,
    "horizon": pl.Int64,
    "as_of": UTC_TS,  # open time of the last bar used
    "target_ts": UTC_TS,  # open time of the bar whose close is forecast
    "close": pl.Float64,  # close of the last bar used
    "log_return": pl.Float64,
    "forecast_close": pl.Float64,
    "lower_close": pl.Float64,
    "upper_close": pl.Float64,
    "level": pl.Float64,
    "model": pl.Utf8,
    "model_version": pl.Utf8,
    "baseline": pl.Boolean,
}
FORECAST_KEY = ("symbol", "interval", "horizon", "as_of")
#: Fewer normalized past returns than this: the baseline interval uses normal quantiles.
MIN_BASELINE_HISTORY = 30


def _rows(index: pl.DataFrame, horizon: int, mean: np.ndarray, lower: np.ndarray, upper: np.ndarray,
          level: float, model: str, version: str | None, baseline: bool) -> pl.DataFrame:
    steps = [timedelta(seconds=INTERVAL_SECONDS[i] * horizon) for i in index["interval"]]
    close = index["close"].to_numpy()
    return pl.DataFrame(
        {
            "symbol": index["symbol"],
            "interval": index["interval"],
            "horizon": [horizon] * index.height,
            "as_of": index["ts"],
            "target_ts": [t + s for t, s in zip(index["ts"], steps, strict=True)],
            "close": close,
            "log_return": mean,
            "forecast_close": close * np.exp(mean),
            "lower_close": close * np.exp(lower),
            "upper_close": close * np.exp(upper),
            "level": [level] * index.height,
            "model": [model] * index.height,
            "model_version": [version] * index.height,
            "baseline": [baseline] * index.height,
        },
        schema=FORECAST_SCHEMA,
    )


def forecast_latest(
    features: pl.DataFrame, model: PriceModel, *, name: str, version: str | None, threads: int = 1,
    horizons: tuple[int, ...] | None = None,
) -> pl.DataFrame:
    """Forecasts (FORECAST_SCHEMA) from the last complete bar of each series in `features`."""
    data = build_supervised(features, model.horizons, model.window)
    if len(data) == 0:
        return pl.DataFrame(schema=FORECAST_SCHEMA)
    last = latest_rows(data)
    pred = model.predict(last, threads=threads)
    frames = [
        _rows(last.index, h, pred.mean[:, j], pred.lower[:, j], pred.upper[:, j], model.config.interval_level,
              name, version, False)
        for j, h in enumerate(model.horizons)
        if horizons is None or h in horizons
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=FORECAST_SCHEMA)


def baseline_forecast(features: pl.DataFrame, horizons: tuple[int, ...], level: float = 0.8) -> pl.DataFrame:
    """Persistence forecasts with history-based intervals, from the last bar of each series with a volatility."""
    frames = []
    alpha = (1 - level) / 2
    for _, series in features.sort("symbol", "interval", "ts").group_by(["symbol", "interval"], maintain_order=True):
        series = series.filter(pl.col("close").is_not_null())
        known = series.filter(pl.col("volatility_24").is_not_null())
        if known.is_empty():
            continue
        last = known.tail(1)
        vol = max(float(last["volatility_24"][0]), MIN_VOLATILITY)
        log_close = np.log(series["close"].to_numpy())
        past_vol = np.maximum(series["volatility_24"].fill_null(np.nan).to_numpy(), MIN_VOLATILITY)
        for h in horizons:
            normalized = (log_close[h:] - log_close[:-h]) / (past_vol[:-h] * np.sqrt(h)) if len(log_close) > h else []
            normalized = np.asarray(normalized)[np.isfinite(normalized)] if len(normalized) else np.asarray([])
            if len(normalized) >= MIN_BASELINE_HISTORY:
                q_lo, q_hi = np.quantile(normalized, [alpha, 1 - alpha])
            else:
                z = NormalDist().inv_cdf(1 - alpha)
                q_lo, q_hi = -z, z
            scale = vol * np.sqrt(h)
            index = last.select("symbol", "interval", "ts", "close")
            frames.append(
                _rows(index, h, np.zeros(1), np.array([q_lo * scale]), np.array([q_hi * scale]), level,
                      "persistence", None, True)
            )
    return pl.concat(frames) if frames else pl.DataFrame(schema=FORECAST_SCHEMA)


__all__ = ["FORECAST_KEY", "FORECAST_SCHEMA", "baseline_forecast", "forecast_latest"]
