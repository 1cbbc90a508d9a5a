"""PriceModel <-> the files of a model-store version, and the check a loaded model must pass.

Files: `model.json` (horizons, window, inputs, stack weights, interval quantiles, training mean,
drift reference, LSTM scalers and loss curve), `lstm.pt` (the LSTM's torch state dict, loaded with
`weights_only=True`), `sklearn.pkl` (the fitted scikit-learn models). The store verifies every
file's sha256 before these bytes reach `from_files`, so the pickle is only ever one we wrote.
"""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

import numpy as np

from ops.price.dataset import INPUTS, RETURN_LAGS, Supervised
from ops.price.ensemble import EnsembleConfig, PriceModel
from ops.price.lstm import LSTMFit

FORMAT = "sextant-price-model/1"


def to_files(model: PriceModel, extra: dict[str, Any] | None = None) -> dict[str, bytes]:
    meta = {
        "format": FORMAT,
        "config": model.config.to_dict(),
        "horizons": list(model.horizons),
        "window": model.window,
        "inputs": list(INPUTS),
        "return_lags": list(RETURN_LAGS),
        "base_models": list(model.base_names),
        "weights": model.weights.tolist(),
        "interval_quantiles": model.interval_quantiles.tolist(),
        "train_mean": model.train_mean.tolist(),
        "info": model.info,
        "lstm": model.lstm.meta() if model.lstm else None,
        **(extra or {}),
    }
    files = {
        "model.json": json.dumps(meta, indent=1, sort_keys=True, default=str).encode(),
        "sklearn.pkl": pickle.dumps({"gbm": model.gbm, "ridge": model.ridge}, protocol=5),
    }
    if model.lstm is not None:
        files["lstm.pt"] = model.lstm.state
    return files


def from_files(files: dict[str, bytes]) -> PriceModel:
    meta = json.loads(files["model.json"])
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a price model: format {meta.get('format')!r}, expected {FORMAT!r}")
    if list(meta["inputs"]) != list(INPUTS) or list(meta["return_lags"]) != list(RETURN_LAGS):
        raise ValueError("the model was trained on other inputs than this code computes")
    sk = pickle.load(io.BytesIO(files["sklearn.pkl"]))
    lstm = LSTMFit.from_meta(meta["lstm"], files["lstm.pt"]) if meta.get("lstm") else None
    model = PriceModel(
        config=EnsembleConfig.from_dict(meta["config"]),
        horizons=tuple(int(h) for h in meta["horizons"]),
        window=int(meta["window"]),
        base_names=tuple(meta["base_models"]),
        lstm=lstm,
        gbm=sk["gbm"],
        ridge=sk["ridge"],
        weights=np.asarray(meta["weights"], dtype=np.float64),
        interval_quantiles=np.asarray(meta["interval_quantiles"], dtype=np.float64),
        train_mean=np.asarray(meta["train_mean"], dtype=np.float64),
        info={**meta.get("info", {}), "drift_reference": meta.get("drift_reference")},
    )
    return model


def validate(model: PriceModel, threads: int = 1) -> None:
    """Raise unless `model` is whole: consistent shapes and finite forecasts on a neutral input."""
    h, m = len(model.horizons), len(model.base_names)
    if model.weights.shape != (h, m) or model.interval_quantiles.shape != (h, 2) or model.train_mean.shape != (h,):
        raise ValueError("price model arrays do not match its horizons and base models")
    if len(model.gbm) != h or len(model.ridge) != h:
        raise ValueError("price model has a scikit-learn model count that does not match its horizons")
    if not np.all(model.interval_quantiles[:, 0] <= model.interval_quantiles[:, 1]):
        raise ValueError("price model interval quantiles are inverted")
    probe = Supervised(
        index=_probe_index(),
        tabular=np.zeros((1, len(INPUTS) + len(RETURN_LAGS))),
        sequences=np.zeros((1, model.window, len(INPUTS)), dtype=np.float32),
        targets=np.full((1, h), np.nan),
        horizons=model.horizons,
        window=model.window,
    )
    pred = model.predict(probe, threads=threads)
    if not (np.isfinite(pred.mean).all() and np.isfinite(pred.lower).all() and np.isfinite(pred.upper).all()):
        raise ValueError("price model gives non-finite forecasts on a neutral input")


def _probe_index():
    from datetime import UTC, datetime

    import polars as pl

    now = datetime(2024, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        {"symbol": ["PROBE"], "interval": ["1h"], "ts": [now], "target_end_ts": [None], "close": [1.0],
         "volatility_24": [0.01]},
        schema_overrides={"target_end_ts": pl.Datetime("us", "UTC")},
    )


__all__ = ["FORMAT", "from_files", "to_files", "validate"]
