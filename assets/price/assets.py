"""Price model assets (group `price_model`): thin wiring over `ops.price`.

    ohlcv_features -> price_training_set -> price_lstm -> price_ensemble -> price_model
                                                                              -> price_forecasts

- `price_training_set`: the snapshot of `ohlcv_features` (one interval, every symbol) the run trains on.
- `price_lstm`: the LSTM alone, fitted on the snapshot; its loss curve is saved with it.
- `price_ensemble`: gradient boosting and ridge stacked with that LSTM through out-of-fold predictions.
- `price_model`: the servable model, named as the model store and the API name it. Its version is
  the ensemble plus a walk-forward evaluation of the whole pipeline against persistence, the
  training mean and an AR(1), with a block-bootstrap CI and a Diebold-Mariano test against the best
  of them (in its manifest with the promotion decision, and per fold in the `price_model_evaluation`
  table); the blocking check `price_model_promotion` decides whether it becomes current.
- `price_forecasts`: next-horizon forecasts with intervals per symbol from the promoted model (the
  persistence baseline while there is none), with a PSI drift check of recent returns.

Every model version goes to the model store with a manifest (data range, features, metrics, code
version); `price_lstm` and `price_ensemble` versions are components, only `price_model` is promoted.
"""


import json
from datetime import UTC, datetime

import dagster as dg
import numpy as np
import polars as pl

from assets.k8s import PRICE_MODEL_K8S
from ops.price.artifacts import from_files, to_files, validate
from ops.price.dataset import INPUTS, build_supervised
from ops.price.drift import psi, reference_histogram
from ops.price.ensemble import EnsembleConfig, fit_ensemble, training_rows
from ops.price.evaluation import WalkForwardConfig, walk_forward
from ops.price.forecast import FORECAST_SCHEMA, baseline_forecast, forecast_latest
from ops.price.lstm import LSTMConfig, LSTMFit, fit_lstm
from ops.price.names import ENSEMBLE_NAME, LSTM_NAME, MODEL_NAME, RECENT_BARS
from ops.price.plots import forecast_vs_actual_png, loss_curve_png, png_markdown
from ops.price.promotion import decide
from ops.reporting import markdown_table
from ops.stream.events import model_promoted
from resources.configurable import ModelStoreResource, PriceModelResource, WarehouseResource
from resources.model_metrics import record_model_metrics
from resources.model_store import ModelStore, ModelStoreError
from resources.stream_events import append_events
from resources.tables import (
    OHLCV_FEATURES,
    PRICE_EVALUATION,
    PRICE_FORECASTS,
    PRICE_TRAINING_SET,
)
from resources.warehouse import Warehouse

GROUP = "price_model"
KINDS_DATA = {"polars", "sql"}
KINDS_MODEL = {"pytorch", "scikitlearn"}


def ensemble_config(price: PriceModelResource) -> EnsembleConfig:
    """The model settings of a run, from the resource (the product defaults unless a test shrinks them)."""
    return EnsembleConfig(
        window=price.window,
        lstm=LSTMConfig(hidden=price.lstm_hidden, epochs=price.lstm_epochs),
        gbm_max_iter=price.gbm_max_iter,
    )


# -- reads --------------------------------------------------------------------------------------
def read_training_set(db: Warehouse, interval: str) -> pl.DataFrame:
    if not db.has_table(PRICE_TRAINING_SET.name):
        raise dg.Failure("price_training_set has not been materialized")
    return db.read(PRICE_TRAINING_SET.name, {"interval": interval}, order_by=["symbol", "ts"])


def read_recent_features(db: Warehouse, interval: str, bars: int) -> pl.DataFrame:
    """The latest `bars` feature rows of every symbol of `interval`, oldest first."""
    if not db.has_table(OHLCV_FEATURES.name):
        return pl.DataFrame(schema=OHLCV_FEATURES.schema)
    frames = [
        db.read(
            OHLCV_FEATURES.name, {"symbol": symbol, "interval": interval}, order_by=["ts"], descending=True,
            limit=bars,
        ).reverse()
        for symbol in db.distinct(OHLCV_FEATURES.name, "symbol", {"interval": interval})
    ]
    return pl.concat(frames) if frames else pl.DataFrame(schema=OHLCV_FEATURES.schema)


def _supervised(db: Warehouse, price: PriceModelResource, config: EnsembleConfig):
    features = read_training_set(db, price.interval)
    data = build_supervised(features, price.horizons, config.window)
    if len(data) == 0:
        raise dg.Failure(f"the training set has no complete {price.interval} rows yet; materialize more market data")
    return data


def _upstream_version(context: dg.AssetExecutionContext, asset: str, store: ModelStore, name: str) -> str:
    """The model version the upstream asset wrote (its latest materialization), else the newest stored."""
    event = context.instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is not None and event.asset_materialization is not None:
        value = event.asset_materialization.metadata.get("version")
        if value is not None:
            return str(value.value)
    versions = store.versions(name)
    if not versions:
        raise dg.Failure(f"no stored version of {name}; materialize {asset} first")
    return versions[-1]


def _data_range(index: pl.DataFrame) -> dict:
    return {
        "first_ts": str(index["ts"].min()),
        "last_ts": str(index["ts"].max()),
        "rows": index.height,
        "symbols": sorted(index["symbol"].unique().to_list()),
        "intervals": sorted(index["interval"].unique().to_list()),
    }


def _store_path(store: ModelStore, name: str, version: str, filename: str) -> str:
    return f"{store.url}/{name}/{version}/{filename}"


# -- assets -------------------------------------------------------------------------------------
@dg.asset(group_name=GROUP, kinds=KINDS_DATA, deps=["ohlcv_features"])
def price_training_set(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, price: PriceModelResource
) -> dg.MaterializeResult:
    """The `ohlcv_features` rows of the configured interval (every symbol) the price models train on.

    A snapshot, replaced whole on each materialization, so a training run and its evaluation see
    exactly the same rows even while the market assets keep writing.
    """
    db = warehouse.client
    if not db.has_table(OHLCV_FEATURES.name):
        raise dg.Failure("ohlcv_features has not been materialized; run the market assets first")
    features = db.read(OHLCV_FEATURES.name, {"interval": price.interval}, order_by=["symbol", "ts"])
    db.delete(PRICE_TRAINING_SET, interval=price.interval)
    db.upsert(PRICE_TRAINING_SET, features)
    per_symbol = features.group_by("symbol").agg(
        pl.len().alias("bars"), pl.col("ts").min().alias("first_ts"), pl.col("ts").max().alias("last_ts")
    ).sort("symbol")
    usable = len(build_supervised(features, price.horizons, price.window)) if features.height else 0
    context.log.info(f"price_training_set: {features.height} {price.interval} bars, {usable} complete rows")
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(features.height),
            "complete_rows": dg.MetadataValue.int(usable),
            "interval": dg.MetadataValue.text(price.interval),
            "horizons": dg.MetadataValue.text(",".join(map(str, price.horizons))),
            "symbols": dg.MetadataValue.md(markdown_table(per_symbol)),
        }
    )


@dg.asset(group_name=GROUP, kinds={"pytorch"}, deps=[price_training_set], op_tags=PRICE_MODEL_K8S)
def price_lstm(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    price: PriceModelResource,
) -> dg.MaterializeResult:
    """The LSTM regressor of future log returns, fitted on the training set with early stopping.

    Saved as a `price_lstm` version (weights, scalers, loss curve PNG); `price_ensemble` stacks it.
    """
    config = ensemble_config(price)
    data = training_rows(_supervised(warehouse.client, price, config), config)
    context.log.info(f"price_lstm: {len(data)} rows, window {data.window}, horizons {data.horizons}")

    def on_epoch(point: dict) -> None:
        context.log.info(
            f"price_lstm epoch {point['epoch']}/{config.lstm.epochs}: "
            f"train {point['train_loss']:.4f} val {point['val_loss']:.4f}"
        )

    fit = fit_lstm(data.sequences, data.targets, config.lstm, threads=price.torch_threads, on_epoch=on_epoch)
    curve = loss_curve_png(fit.history)
    meta = {**fit.meta(), "horizons": list(data.horizons), "window": data.window, "inputs": list(INPUTS)}
    store = model_store.client
    best = min(fit.history, key=lambda p: p["val_loss"])
    metrics = {"best_epoch": fit.best_epoch, "epochs": len(fit.history), "train_loss": best["train_loss"],
               "val_loss": best["val_loss"]}
    version = store.save(
        LSTM_NAME,
        {"lstm.pt": fit.state, "lstm.json": json.dumps(meta, indent=1).encode(), "loss_curve.png": curve},
        metrics=metrics,
        data_range=_data_range(data.index),
        extra={"features": list(INPUTS), "horizons": list(data.horizons), "interval": price.interval},
    )
    return dg.MaterializeResult(
        metadata={
            "version": dg.MetadataValue.text(version),
            "epochs": dg.MetadataValue.int(len(fit.history)),
            "best_epoch": dg.MetadataValue.int(fit.best_epoch),
            "train_loss": dg.MetadataValue.float(best["train_loss"]),
            "val_loss": dg.MetadataValue.float(best["val_loss"]),
            "rows": dg.MetadataValue.int(len(data)),
            "loss_curve": dg.MetadataValue.md(png_markdown(curve, "loss curve")),
            "loss_curve_path": dg.MetadataValue.path(_store_path(store, LSTM_NAME, version, "loss_curve.png")),
        }
    )


def _load_lstm(store: ModelStore, version: str) -> LSTMFit:
    stored = store.load(LSTM_NAME, version)
    return LSTMFit.from_meta(json.loads(stored.files["lstm.json"]), stored.files["lstm.pt"])


@dg.asset(group_name=GROUP, kinds=KINDS_MODEL, deps=[price_training_set, price_lstm], op_tags=PRICE_MODEL_K8S)
def price_ensemble(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    price: PriceModelResource,
) -> dg.MaterializeResult:
    """Gradient boosting and ridge stacked with the LSTM through out-of-fold predictions, with intervals.

    Stack weights are non-negative least squares on the out-of-fold forecasts; interval quantiles
    come from the out-of-fold residuals scaled by volatility. Saved as a `price_ensemble` version.
    """
    config = ensemble_config(price)
    store = model_store.client
    data = _supervised(warehouse.client, price, config)
    lstm_version = _upstream_version(context, "price_lstm", store, LSTM_NAME)
    lstm = _load_lstm(store, lstm_version)
    model, report = fit_ensemble(data, config, threads=price.torch_threads, log=context.log.info, lstm=lstm)
    weights = {f"weight_{h}_{m}": w for h, ws in report.weights.items() for m, w in ws.items()}
    version = store.save(
        ENSEMBLE_NAME,
        to_files(model, extra={"lstm_version": lstm_version}),
        metrics={**weights, "oof_rows": report.oof_rows, "gate_passed": report.gate.get("passed")},
        data_range=_data_range(training_rows(data, config).index),
        extra={"features": list(INPUTS), "horizons": list(model.horizons), "interval": price.interval,
               "components": {LSTM_NAME: lstm_version}, "gate": report.gate},
    )
    return dg.MaterializeResult(
        metadata={
            "version": dg.MetadataValue.text(version),
            "lstm_version": dg.MetadataValue.text(lstm_version),
            "rows": dg.MetadataValue.int(report.rows),
            "oof_rows": dg.MetadataValue.int(report.oof_rows),
            "gate_passed": dg.MetadataValue.bool(bool(report.gate.get("passed"))),
            **{k: dg.MetadataValue.float(float(v)) for k, v in weights.items()},
            "stack_weights": dg.MetadataValue.json(report.weights),
        }
    )


@dg.asset(
    group_name=GROUP,
    kinds={"scikitlearn", "polars"},
    deps=[price_training_set, price_ensemble],
    op_tags=PRICE_MODEL_K8S,
    check_specs=[
        dg.AssetCheckSpec(
            "price_model_promotion",
            asset="price_model",
            blocking=True,
            description="Promotes the evaluated version to `price_model/current` only when, at every horizon, "
            "the 95 % block-bootstrap CI of MAE(best simple baseline) / MAE(model) on the walk-forward folds "
            "lies above 1 (baselines: persistence, training mean, AR(1)) and it is not worse than the "
            "current version. A refused "
            "candidate fails with a warning and the reason (the current version keeps serving); a "
            "candidate that cannot be loaded fails with an error and blocks the forecasts.",
        )
    ],
)
def price_model(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    price: PriceModelResource,
):
    """Walk-forward evaluation of the ensemble pipeline against persistence, the training mean and AR(1).

    MAE and RMSE vs the best of those baselines with a block-bootstrap CI of the ratio and a
    Diebold-Mariano test, directional accuracy vs the up-share of the same test rows, interval
    coverage, per fold and pooled. The evaluated ensemble is written as a `price_model` version with
    these metrics in its manifest and the forecast-vs-actual plots beside it; the check decides
    whether it becomes current.
    """
    config = ensemble_config(price)
    db, store = warehouse.client, model_store.client
    data = _supervised(db, price, config)
    ensemble_version = _upstream_version(context, "price_ensemble", store, ENSEMBLE_NAME)
    evaluation = walk_forward(
        data, config, WalkForwardConfig(folds=price.walk_forward_folds), threads=price.torch_threads,
        log=context.log.info,
    )
    flat = evaluation.flat_metrics()
    best_baseline = {f"h{h}": name for h, name in evaluation.baselines.items()}
    current = store.current_version(MODEL_NAME)
    decision = decide(flat, list(data.horizons), _metrics_of(store, current), current, baselines=evaluation.baselines)
    plots = {f"forecast_vs_actual_h{h}.png": forecast_vs_actual_png(evaluation.predictions, h) for h in data.horizons}
    ensemble = store.load(ENSEMBLE_NAME, ensemble_version)
    returns = data.tabular[:, INPUTS.index("log_return_1")]  # the training window's returns
    reference = reference_histogram(returns[np.isfinite(returns)])
    version = store.save(
        MODEL_NAME,
        {
            **ensemble.files,
            **plots,
            "evaluation_folds.json": evaluation.folds.write_json().encode(),
        },
        metrics=flat,
        data_range=_data_range(data.take(data.labelled).index),
        extra={
            "features": list(INPUTS),
            "horizons": list(data.horizons),
            "interval": price.interval,
            "interval_level": config.interval_level,
            "components": {ENSEMBLE_NAME: ensemble_version, **ensemble.manifest.get("components", {})},
            "drift_reference": reference.to_dict(),
            "best_baseline": best_baseline,
            "promotion": {"promote": decision.promote, "reason": decision.reason, "current_before": current},
        },
    )
    now = datetime.now(UTC)
    folds = evaluation.folds.with_columns(
        pl.lit(MODEL_NAME).alias("model"), pl.lit(version).alias("version"), pl.lit(now).alias("measured_at"),
        pl.col("rows").cast(pl.Int64),
    )
    db.upsert(PRICE_EVALUATION, folds.select(list(PRICE_EVALUATION.schema)))
    record_model_metrics(db, MODEL_NAME, version, flat, measured_at=now)

    summary = pl.DataFrame(
        [{"horizon": h, "best_baseline": evaluation.baselines[h],
          **{k: m[k] for k in ("mae", "mae_best_baseline", "mae_ratio", "mae_ratio_ci_low", "mae_ratio_ci_high",
                               "dm_stat", "dm_pvalue", "mae_persistence", "mae_train_mean", "mae_ar1",
                               "mae_ratio_persistence", "directional_accuracy", "up_share", "coverage",
                               "coverage_fold_min", "coverage_fold_max", "mae_ratio_promoted")}}
         for h, m in evaluation.summary.items()]
    )
    context.log.info(f"price_model {version} walk-forward evaluation:\n{markdown_table(summary)}")
    yield dg.MaterializeResult(
        metadata={
            "version": dg.MetadataValue.text(version),
            "ensemble_version": dg.MetadataValue.text(ensemble_version),
            **{k: dg.MetadataValue.float(float(v)) for k, v in flat.items() if np.isfinite(v)},
            "summary": dg.MetadataValue.md(markdown_table(summary)),
            "best_baseline": dg.MetadataValue.json(best_baseline),
            "folds": dg.MetadataValue.md(markdown_table(evaluation.folds)),
            **{
                name.removesuffix(".png"): dg.MetadataValue.md(png_markdown(png, name))
                for name, png in plots.items()
            },
            **{
                f"{name.removesuffix('.png')}_path": dg.MetadataValue.path(_store_path(store, MODEL_NAME, version, name))
                for name in plots
            },
        }
    )
    check = _promotion(store, version, decision, current, best_baseline, price.torch_threads)
    if check.passed:  # the live stream's `models` topic: what the API serves changed
        append_events(db, [model_promoted(MODEL_NAME, version, previous=current, reason=decision.reason,
                                          metrics={k: v for k, v in flat.items() if k.startswith("mae_ratio")})])
    yield check


def _metrics_of(store: ModelStore, version: str | None) -> dict | None:
    if version is None:
        return None
    try:
        return store.manifest(MODEL_NAME, version).get("metrics", {})
    except ModelStoreError:
        return None  # an unreadable current version is no reason to keep it


def _promotion(store: ModelStore, version: str, decision, current: str | None, best_baseline: dict, threads: int):
    meta = {"candidate": version, "current_before": current or "none (baseline: persistence)",
            "reason": decision.reason, "best_baseline": dg.MetadataValue.json(best_baseline)}
    if not decision.promote:
        return dg.AssetCheckResult(
            check_name="price_model_promotion", passed=False, severity=dg.AssetCheckSeverity.WARN,
            description=f"not promoted: {decision.reason}", metadata={**meta, "current_after": meta["current_before"]},
        )
    try:
        model = from_files(store.load(MODEL_NAME, version).files)
        validate(model, threads=threads)
        store.promote(MODEL_NAME, version)
    except Exception as exc:  # noqa: BLE001 - any failure to load means "do not serve it"
        return dg.AssetCheckResult(
            check_name="price_model_promotion", passed=False, severity=dg.AssetCheckSeverity.ERROR,
            description=f"candidate {version} does not load: {exc.__class__.__name__}: {exc}",
            metadata={**meta, "current_after": meta["current_before"]},
        )
    return dg.AssetCheckResult(
        check_name="price_model_promotion", passed=True, description=f"promoted: {decision.reason}",
        metadata={**meta, "current_after": version},
    )


@dg.asset(
    group_name=GROUP,
    kinds=KINDS_DATA,
    deps=[price_model, "ohlcv_features"],
    check_specs=[
        dg.AssetCheckSpec(
            "price_drift",
            asset="price_forecasts",
            description="PSI of the latest returns against the promoted model's training returns; above "
            "PRICE_DRIFT_PSI the drift sensor requests an earlier retrain.",
        )
    ],
)
def price_forecasts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    price: PriceModelResource,
):
    """Next-horizon forecasts with intervals per symbol, from the promoted `price_model`.

    While no version has been promoted (or it cannot be loaded) the persistence baseline is
    published instead, and its rows say so (`baseline` = true, model `persistence`).
    """
    db, store = warehouse.client, model_store.client
    recent = read_recent_features(db, price.interval, RECENT_BARS[price.interval])
    current = store.current_version(MODEL_NAME)
    forecasts, note, reference = None, f"no promoted price_model: {refusal_reason(store)}", None
    if current is not None:
        try:
            stored = store.load(MODEL_NAME, current)
            model = from_files(stored.files)
            forecasts = forecast_latest(recent, model, name=MODEL_NAME, version=current, threads=price.torch_threads)
            note = f"{MODEL_NAME} {current}"
            reference = stored.manifest.get("drift_reference")
        except Exception as exc:  # noqa: BLE001 - the baseline answers when the model cannot
            context.log.warning(f"price_model {current} unusable ({exc.__class__.__name__}: {exc}); baseline used")
            note = f"price_model {current} unusable: baseline"
    if forecasts is None or forecasts.is_empty():
        forecasts = baseline_forecast(recent, tuple(price.horizons))
    forecasts = forecasts.select(list(FORECAST_SCHEMA))
    db.upsert(PRICE_FORECASTS, forecasts)
    context.log.info(f"price_forecasts: {forecasts.height} forecasts ({note})")
    yield dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(forecasts.height),
            "model": dg.MetadataValue.text(note),
            "baseline": dg.MetadataValue.bool(bool(forecasts["baseline"].any()) if forecasts.height else True),
            "forecasts": dg.MetadataValue.md(markdown_table(forecasts.drop("interval", "level"))),
        }
    )
    yield _drift_check(recent, reference, price.drift_psi)


def refusal_reason(store: ModelStore) -> str:
    """Why nothing is promoted, from the newest version's promotion decision (persistence baseline)."""
    try:
        versions = store.versions(MODEL_NAME)
        promotion = store.manifest(MODEL_NAME, versions[-1]).get("promotion", {}) if versions else {}
    except ModelStoreError:
        promotion = {}
    if promotion.get("reason") and not promotion.get("promote"):
        return f"{promotion['reason']}; persistence baseline"
    return "persistence baseline"


def _drift_check(recent: pl.DataFrame, reference: dict | None, threshold: float) -> dg.AssetCheckResult:
    if reference is None:
        return dg.AssetCheckResult(check_name="price_drift", passed=True,
                                   metadata={"note": "no promoted model with a training reference yet"})
    from ops.price.drift import Histogram

    returns = recent["log_return_1"].drop_nulls().to_numpy()
    if len(returns) == 0:
        return dg.AssetCheckResult(check_name="price_drift", passed=True, metadata={"note": "no recent returns"})
    value = psi(Histogram.from_dict(reference), returns)
    return dg.AssetCheckResult(
        check_name="price_drift",
        passed=value <= threshold,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"psi": dg.MetadataValue.float(value), "threshold": dg.MetadataValue.float(threshold),
                  "recent_returns": dg.MetadataValue.int(len(returns))},
    )


PRICE_ASSETS = [price_training_set, price_lstm, price_ensemble, price_model, price_forecasts]
