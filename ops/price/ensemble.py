"""The stacked ensemble: LSTM + gradient boosting + ridge, combined through out-of-fold predictions.

Fitting (`fit_ensemble`) on time-ordered rows:

1. The rows are cut by time into `inner_folds + 1` blocks. For each block k >= 1 every base model
   is fitted on the rows before it (minus an embargo: rows whose target reaches into block k) and
   predicts block k. These are the out-of-fold (OOF) predictions: each one made by a model that
   never saw its row nor anything after it.
2. Per horizon, non-negative least squares on the OOF predictions (no intercept) gives the weights
   of the stack. Weights can shrink towards zero, which is the persistence forecast: a stack of
   useless models collapses to "no change" instead of adding their noise.
3. Prediction intervals: quantiles of the OOF residuals of the stack divided by the bar's
   volatility (volatility_24 * sqrt(h)); an interval is the forecast plus those quantiles times
   the current volatility, so it widens in turbulent markets and narrows in calm ones.
4. The gate: weights fitted on the OOF rows of all but the last block, scored on the last block
   against persistence. This is what a deployment decision may look at without any test data.
5. Every base model is refitted on all rows.

The baselines (persistence = zero return, training mean) are kept with the model, so evaluation
compares against them on exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ops.price.dataset import Supervised
from ops.price.lstm import LSTMConfig, LSTMFit, fit_lstm, load_network, predict_lstm

BASE_MODELS = ("lstm", "gbm", "ridge")

Log = Callable[[str], None]


@dataclass(frozen=True)
class EnsembleConfig:
    """Model settings; fixed defaults, never tuned on test folds."""

    window: int = 16
    inner_folds: int = 2
    lstm: LSTMConfig = field(default_factory=LSTMConfig)
    use_lstm: bool = True
    gbm_max_iter: int = 60
    gbm_learning_rate: float = 0.1
    gbm_max_leaf_nodes: int = 8
    gbm_min_samples_leaf: int = 40
    gbm_l2: float = 1.0
    ridge_alpha: float = 10.0
    interval_level: float = 0.8
    #: Train on at most this many of the latest rows (older regimes say little; bounds training time).
    max_train_rows: int | None = 12_000
    seed: int = 7

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnsembleConfig:
        data = dict(data)
        data["lstm"] = LSTMConfig(**data.get("lstm", {}))
        return cls(**data)


@dataclass
class Prediction:
    mean: np.ndarray  # rows x horizons
    lower: np.ndarray
    upper: np.ndarray


@dataclass
class PriceModel:
    """Everything needed to forecast: base models, stack weights, interval quantiles, baselines."""

    config: EnsembleConfig
    horizons: tuple[int, ...]
    window: int
    base_names: tuple[str, ...]
    lstm: LSTMFit | None
    gbm: list[Any]
    ridge: list[Any]
    weights: np.ndarray  # horizons x base models
    interval_quantiles: np.ndarray  # horizons x 2 (lower, upper), in units of volatility * sqrt(h)
    train_mean: np.ndarray  # horizons
    info: dict[str, Any] = field(default_factory=dict)
    _network: Any = field(default=None, repr=False, compare=False)

    def base_predictions(self, data: Supervised, threads: int = 1) -> np.ndarray:
        """rows x horizons x base models."""
        if self.lstm is not None and self._network is None:
            self._network = load_network(self.lstm)
        return _base_predictions(data, self.lstm, self.gbm, self.ridge, self.base_names, threads, self._network)

    def predict(self, data: Supervised, threads: int = 1) -> Prediction:
        base = self.base_predictions(data, threads)
        mean = np.einsum("nhm,hm->nh", base, self.weights)
        return Prediction(mean=mean, **_bands(mean, data, self.horizons, self.interval_quantiles))


@dataclass
class FitReport:
    """What fitting learned about itself (no test data involved)."""

    rows: int
    oof_rows: int
    weights: dict[str, dict[str, float]]
    gate: dict[str, Any]
    lstm_history: list[dict[str, float]]


def _bands(mean: np.ndarray, data: Supervised, horizons, quantiles: np.ndarray) -> dict[str, np.ndarray]:
    scale = data.volatility[:, None] * np.sqrt(np.asarray(horizons, dtype=np.float64))[None, :]
    return {"lower": mean + quantiles[None, :, 0] * scale, "upper": mean + quantiles[None, :, 1] * scale}


def _tabular_for_ridge(x: np.ndarray) -> np.ndarray:
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def _fit_bases(
    data: Supervised, config: EnsembleConfig, threads: int, log: Log | None, lstm: LSTMFit | None = None
) -> tuple[LSTMFit | None, list[Any], list[Any]]:
    from threadpoolctl import threadpool_limits

    if config.use_lstm and lstm is None:
        lstm = fit_lstm(data.sequences, data.targets, config.lstm, threads=threads)
        if log:
            last = lstm.history[-1]
            log(
                f"  lstm: {len(data)} rows, {len(lstm.history)} epochs (best {lstm.best_epoch}), "
                f"train {last['train_loss']:.4f} val {last['val_loss']:.4f}"
            )
    gbm, ridge = [], []
    # One OpenMP thread: on a few thousand rows the gradient boosting's per-iteration thread
    # synchronisation costs more than it saves, and far more on a machine that is busy.
    with threadpool_limits(limits=1):
        for j in range(len(data.horizons)):
            _fit_sklearn(data, j, config, gbm, ridge)
    return lstm, gbm, ridge


def _fit_sklearn(data: Supervised, j: int, config: EnsembleConfig, gbm: list, ridge: list) -> None:
    """Gradient boosting (absolute error: the MAE we are judged on) and ridge for horizon `j`."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = data.targets[:, j]
    model = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=config.gbm_max_iter,
        learning_rate=config.gbm_learning_rate,
        max_leaf_nodes=config.gbm_max_leaf_nodes,
        min_samples_leaf=min(config.gbm_min_samples_leaf, max(2, len(y) // 10)),
        l2_regularization=config.gbm_l2,
        early_stopping=False,
        random_state=config.seed,
    )
    gbm.append(model.fit(data.tabular, y))
    linear = make_pipeline(StandardScaler(), Ridge(alpha=config.ridge_alpha))
    ridge.append(linear.fit(_tabular_for_ridge(data.tabular), y))


def _base_predictions(data, lstm, gbm, ridge, base_names, threads, network=None) -> np.ndarray:
    n, h = len(data), len(data.horizons)
    out = np.zeros((n, h, len(base_names)))
    if n == 0:
        return out
    for m, name in enumerate(base_names):
        if name == "lstm":
            out[:, :, m] = predict_lstm(lstm, data.sequences, threads=threads, network=network)
        elif name == "gbm":
            out[:, :, m] = np.column_stack([g.predict(data.tabular) for g in gbm])
        elif name == "ridge":
            x = _tabular_for_ridge(data.tabular)
            out[:, :, m] = np.column_stack([r.predict(x) for r in ridge])
    return out


def stack_weights(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per horizon, non-negative least-squares weights of the base predictions (horizons x models)."""
    from scipy.optimize import nnls

    h, m = predictions.shape[1], predictions.shape[2]
    weights = np.zeros((h, m))
    for j in range(h):
        if len(targets):
            weights[j], _ = nnls(predictions[:, j, :], targets[:, j])
    return weights


def time_blocks(ts: np.ndarray, n_blocks: int) -> list[tuple[int, int]]:
    """[start, end) positions of `n_blocks` consecutive blocks of time-ordered rows, of near-equal size.

    A boundary never splits rows with the same timestamp (several symbols' bars at one time belong
    to the same block).
    """
    n = len(ts)
    cuts = [0]
    for b in range(1, n_blocks):
        pos = round(n * b / n_blocks)
        pos = int(np.searchsorted(ts, ts[min(pos, n - 1)], side="left")) if n else 0
        cuts.append(max(pos, cuts[-1]))
    cuts.append(n)
    return [(cuts[i], cuts[i + 1]) for i in range(n_blocks)]


def embargoed_before(data: Supervised, start: int) -> np.ndarray:
    """Positions of rows before position `start` whose targets end before the row at `start` begins."""
    if start <= 0:
        return np.empty(0, dtype=np.int64)
    boundary = data.ts[start] if start < len(data) else np.iinfo(np.int64).max
    return np.flatnonzero(data.target_end[:start] < boundary)


def _limit(rows: np.ndarray, config: EnsembleConfig) -> np.ndarray:
    if config.max_train_rows and len(rows) > config.max_train_rows:
        return rows[-config.max_train_rows :]
    return rows


def training_rows(data: Supervised, config: EnsembleConfig) -> Supervised:
    """The rows a fit uses: labelled, at most the latest `max_train_rows`."""
    return data.take(_limit(np.flatnonzero(data.labelled), config))


def fit_ensemble(
    data: Supervised,
    config: EnsembleConfig | None = None,
    *,
    threads: int = 1,
    log: Log | None = None,
    lstm: LSTMFit | None = None,
) -> tuple[PriceModel, FitReport]:
    """Fit the stack on every labelled row of `data` (time-ordered); see the module docstring.

    `lstm`, when given, is the final LSTM already fitted on `training_rows(data, config)` with
    `config.lstm` (the `price_lstm` asset's): it is used instead of fitting the same one again.
    """
    config = config or EnsembleConfig()
    data = training_rows(data, config)
    base_names = BASE_MODELS if config.use_lstm else tuple(b for b in BASE_MODELS if b != "lstm")
    min_rows = 20 * (config.inner_folds + 1)
    if len(data) < min_rows:
        raise ValueError(f"{len(data)} labelled rows; the ensemble needs at least {min_rows}")

    blocks = time_blocks(data.ts, config.inner_folds + 1)
    oof_rows, oof_preds = [], []
    for k, (start, end) in enumerate(blocks[1:], start=1):
        train = embargoed_before(data, start)
        if len(train) < 10 or end <= start:
            continue
        if log:
            log(f"stacking fold {k}/{config.inner_folds}: fit on {len(train)} rows, predict {end - start}")
        fold_lstm, fold_gbm, fold_ridge = _fit_bases(data.take(train), config, threads, log)
        rows = np.arange(start, end)
        oof_rows.append(rows)
        oof_preds.append(_base_predictions(data.take(rows), fold_lstm, fold_gbm, fold_ridge, base_names, threads))
    if not oof_rows:
        raise ValueError("no out-of-fold block could be formed; more rows are needed")
    rows = np.concatenate(oof_rows)
    preds = np.concatenate(oof_preds)
    y = data.targets[rows]

    gate = _gate(oof_rows, oof_preds, data, base_names)
    weights = stack_weights(preds, y)
    stacked = np.einsum("nhm,hm->nh", preds, weights)
    scale = data.volatility[rows][:, None] * np.sqrt(np.asarray(data.horizons, dtype=np.float64))[None, :]
    normalized = (y - stacked) / scale
    alpha = (1 - config.interval_level) / 2
    quantiles = np.stack([np.quantile(normalized, alpha, axis=0), np.quantile(normalized, 1 - alpha, axis=0)], axis=1)

    if log:
        log(f"final fit on {len(data)} rows")
    final_lstm, gbm, ridge = _fit_bases(data, config, threads, log, lstm=lstm if config.use_lstm else None)
    first, last = data.index["ts"].min(), data.index["ts"].max()
    model = PriceModel(
        config=config,
        horizons=data.horizons,
        window=data.window,
        base_names=base_names,
        lstm=final_lstm,
        gbm=gbm,
        ridge=ridge,
        weights=weights,
        interval_quantiles=quantiles,
        train_mean=data.targets.mean(axis=0),
        info={
            "train_rows": len(data),
            "train_first_ts": first.isoformat() if first else None,
            "train_last_ts": last.isoformat() if last else None,
            "symbols": sorted(data.index["symbol"].unique().to_list()),
            "intervals": sorted(data.index["interval"].unique().to_list()),
        },
    )
    report = FitReport(
        rows=len(data),
        oof_rows=len(rows),
        weights={f"h{h}": dict(zip(base_names, map(float, weights[j]), strict=True)) for j, h in enumerate(data.horizons)},
        gate=gate,
        lstm_history=final_lstm.history if final_lstm else [],
    )
    return model, report


def _gate(oof_rows, oof_preds, data: Supervised, base_names) -> dict[str, Any]:
    """Stack weights from the earlier OOF blocks, scored on the last one against persistence."""
    if len(oof_rows) < 2:
        return {"available": False, "passed": False, "reason": "fewer than two out-of-fold blocks"}
    fit_preds = np.concatenate(oof_preds[:-1])
    fit_y = data.targets[np.concatenate(oof_rows[:-1])]
    weights = stack_weights(fit_preds, fit_y)
    y = data.targets[oof_rows[-1]]
    stacked = np.einsum("nhm,hm->nh", oof_preds[-1], weights)
    mae = np.abs(y - stacked).mean(axis=0)
    persistence = np.abs(y).mean(axis=0)
    passed = bool(np.all(mae < persistence))
    return {
        "available": True,
        "passed": passed,
        "rows": len(y),
        "mae": {f"h{h}": float(mae[j]) for j, h in enumerate(data.horizons)},
        "mae_persistence": {f"h{h}": float(persistence[j]) for j, h in enumerate(data.horizons)},
    }


def persistence_prediction(data: Supervised, model: PriceModel) -> Prediction:
    """The baseline: no change, with the model's interval quantiles scaled the same way."""
    mean = np.zeros((len(data), len(model.horizons)))
    return Prediction(mean=mean, **_bands(mean, data, model.horizons, model.interval_quantiles))


__all__ = [
    "BASE_MODELS",
    "EnsembleConfig",
    "FitReport",
    "Prediction",
    "PriceModel",
    "embargoed_before",
    "fit_ensemble",
    "persistence_prediction",
    "stack_weights",
    "time_blocks",
    "training_rows",
]
