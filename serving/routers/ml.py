"""Price forecasts from the promoted price model, computed with the same `ops.price` code as the assets.

- GET  /api/v1/ml/predict/{symbol}?horizon=: the forecast for the symbol's latest bar in the warehouse:
  log return and price, interval, model name and version (or the persistence baseline, said so),
  and the as-of time of the data used. A cached read keyed by `ohlcv_features`' version and the
  served model version, so a new bar or a newly promoted model is never hidden by the cache.
- POST /api/v1/ml/predict: scores a caller-supplied recent OHLCV series: features by
  `ops.market.features.compute_features`, forecast by `ops.price.forecast`. Too short or malformed
  series are 422 naming the field.
- GET  /api/v1/ml/models: the stored price model versions with their metrics, which one is current,
  and what this process serves.

The model is `app.state.models["price_model"]` (a `ServedModel`): a newly promoted version is
loaded and validated before it replaces the one in use; one that fails keeps the old one serving.
While nothing loadable is promoted, answers come from the persistence baseline and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ops.market.features import compute_features
from ops.market.schema import INTERVAL_SECONDS, OHLCV_SCHEMA, conform
from ops.price.artifacts import from_files, validate
from ops.price.dataset import required_bars
from ops.price.ensemble import PriceModel
from ops.price.forecast import baseline_forecast, forecast_latest
from ops.price.names import MODEL_NAME, RECENT_BARS
from resources.model_store import ModelStoreError, ModelVersion
from resources.settings import Settings
from resources.tables import OHLCV_FEATURES
from resources.warehouse import Warehouse
from serving.cached_reads import cached_read
from serving.deps import TableGuard, TablesDep, WarehouseDep
from serving.errors import ERROR_RESPONSES, query_error
from serving.health_monitor import freshness_check
from serving.schemas import Interval, extend_openapi, finite_metrics
from serving.served_models import Loaded, ServedModel
from serving.strict_types import Integer, IsoDateTime, Number

router = APIRouter(prefix="/api/v1/ml", tags=["ml"], responses=ERROR_RESPONSES)

#: Bars one POST /predict may carry.
MAX_BARS = 5000
#: Window of the baseline when no model says otherwise (the default EnsembleConfig window).
DEFAULT_WINDOW = 16
#: Bars the default window needs for one forecast (declared in the schema as the minimum).
MIN_BARS = required_bars(DEFAULT_WINDOW)

Symbol = Annotated[
    str,
    Path(description="Symbol, e.g. BTC-USD (case-insensitive).", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$",
         examples=["BTC-USD"]),
]


# -- schemas --------------------------------------------------------------------------------------
class ModelRef(BaseModel):
    name: str = Field(description="`price_model`, or `persistence` for the baseline.")
    version: str | None = Field(None, description="Promoted version; null for the baseline.")
    baseline: bool = Field(description="True when no promoted model is served and persistence answers.")
    note: str | None = Field(None, description="Why the baseline answers, when it does.")


class PredictionInterval(BaseModel):
    level: float = Field(description="Nominal coverage, e.g. 0.8.")
    lower: float = Field(description="Lower bound of the price.")
    upper: float = Field(description="Upper bound of the price.")


class Forecast(BaseModel):
    symbol: str
    interval: str
    horizon: int = Field(description="Bars ahead.")
    as_of: datetime = Field(description="Open time of the last bar the forecast used.")
    target_ts: datetime = Field(description="Open time of the bar whose close is forecast.")
    close: float = Field(description="Close of the last bar used.")
    log_return: float = Field(description="Forecast log return from `close` to the target bar's close.")
    forecast: float = Field(description="Forecast close price.")
    prediction_interval: PredictionInterval
    model: ModelRef


class BarIn(BaseModel):
    ts: IsoDateTime = Field(description="Bar open time, ISO 8601 (UTC when no offset is given).")
    open: Number = Field(gt=0)
    high: Number = Field(gt=0)
    low: Number = Field(gt=0)
    close: Number = Field(gt=0)
    volume: Number = Field(ge=0)


class PredictRequest(BaseModel):
    symbol: str = Field("CUSTOM", pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,39}$")
    interval: Interval = Interval.HOUR
    horizon: Integer = Field(1, ge=1, le=1000, description="Bars ahead; one of the served model's horizons.")
    bars: list[BarIn] = Field(
        min_length=MIN_BARS, max_length=MAX_BARS,
        description=f"Consecutive bars, oldest first: at least {MIN_BARS} (more when the served model's window "
        "is longer than the default).",
    )


class ModelVersionInfo(BaseModel):
    version: str
    created_at: str | None = None
    current: bool
    metrics: dict[str, Any] = {}
    data_range: dict[str, Any] = {}
    horizons: list[int] = []
    interval: str | None = None
    components: dict[str, Any] = {}


class ModelList(BaseModel):
    name: str
    current: str | None
    serving: dict[str, Any] = Field(description="What this process serves (version, load time, last refusal).")
    versions: list[ModelVersionInfo]


# -- the served model -----------------------------------------------------------------------------
def _load(version: ModelVersion) -> PriceModel:
    return from_files(version.files)


def _validate(model: PriceModel) -> None:
    validate(model, threads=1)


def served_price_model(state: Any) -> ServedModel:
    """`state.models["price_model"]`, created on first use."""
    models: dict[str, ServedModel] = state.models
    if MODEL_NAME not in models:
        models.setdefault(MODEL_NAME, ServedModel(state.model_store, MODEL_NAME, _load, _validate))
    return models[MODEL_NAME]


def health_checks(state: Any, settings: Settings) -> dict[str, Any]:
    """Readiness: the served price model's age (Missing while only the baseline answers)."""
    served_price_model(state)  # registered now, so the first request does not pay for it

    def last_update() -> datetime | None:
        try:
            created = served_price_model(state).get().manifest.get("created_at")
        except ModelStoreError:
            return None
        return datetime.fromisoformat(created) if created else None

    return {f"model:{MODEL_NAME}": freshness_check(last_update, timedelta(hours=settings.price_max_age_hours))}


def _current(state: Any) -> Loaded[PriceModel] | None:
    served = served_price_model(state)
    try:
        loaded = served.get()
    except ModelStoreError:
        loaded = None
    # Why the newest version was refused: read here, in the worker thread, and only when the served
    # model looked at the store (at most every check_seconds), not on every request.
    if loaded is None and getattr(state, "price_refusal_at", None) != served.checked_at:
        state.price_refusal_at = served.checked_at
        state.price_refusal = _refusal(state.model_store)
    return loaded


def _refusal(store: Any) -> str | None:
    """The promotion check's reason for the newest `price_model` version (in its manifest), if refused."""
    try:
        versions = store.versions(MODEL_NAME)
        promotion = (store.manifest(MODEL_NAME, versions[-1]).get("promotion") or {}) if versions else {}
    except ModelStoreError:
        return None
    return promotion.get("reason") if promotion.get("promote") is False else None


def _model_ref(loaded: Loaded[PriceModel] | None, state: Any) -> ModelRef:
    if loaded is not None:
        return ModelRef(name=MODEL_NAME, version=loaded.version, baseline=False)
    error, refusal = served_price_model(state).last_error, getattr(state, "price_refusal", None)
    note = f"no loadable price_model ({error})" if error else (
        f"no promoted price_model: {refusal}" if refusal else "no price_model has been promoted yet")
    return ModelRef(name="persistence", baseline=True, note=note)


def _horizons(loaded: Loaded[PriceModel] | None, settings: Settings) -> tuple[int, ...]:
    return loaded.model.horizons if loaded is not None else tuple(settings.price_horizons)


def _answer(row: dict[str, Any], ref: ModelRef) -> dict[str, Any]:
    return Forecast(
        symbol=row["symbol"], interval=row["interval"], horizon=row["horizon"], as_of=row["as_of"],
        target_ts=row["target_ts"], close=row["close"], log_return=row["log_return"],
        forecast=row["forecast_close"],
        prediction_interval=PredictionInterval(level=row["level"], lower=row["lower_close"], upper=row["upper_close"]),
        model=ref,
    ).model_dump(mode="json")


def _forecast(features: pl.DataFrame, loaded: Loaded[PriceModel] | None, horizon: int) -> dict[str, Any] | None:
    if loaded is not None:
        rows = forecast_latest(features, loaded.model, name=MODEL_NAME, version=loaded.version, horizons=(horizon,))
    else:
        rows = baseline_forecast(features, (horizon,))
    return rows.to_dicts()[0] if rows.height else None


async def served_for(state: Any, horizon: int) -> tuple[Loaded[PriceModel] | None, str, ModelRef]:
    """The served model (None: the baseline), its bar interval and reference, once `horizon` is one it forecasts."""
    settings: Settings = state.settings
    loaded = await state.guard.call("models", _current, state)
    horizons = _horizons(loaded, settings)
    if horizon not in horizons:
        raise query_error("horizon", f"the served model forecasts horizons {list(horizons)} (bars)", horizon)
    interval = (loaded.manifest.get("interval") if loaded else None) or settings.price_interval
    return loaded, interval, _model_ref(loaded, state)


def symbol_forecast(warehouse: Warehouse, tables: TableGuard, symbol: str, interval: str, horizon: int,
                    loaded: Loaded[PriceModel] | None, ref: ModelRef) -> dict[str, Any]:
    """The forecast answer from the symbol's latest bars (blocking: a warehouse read); 404 without enough bars."""
    tables.require(OHLCV_FEATURES.name)
    features = warehouse.read(
        OHLCV_FEATURES.name, {"symbol": symbol, "interval": interval}, order_by=["ts"], descending=True,
        limit=RECENT_BARS.get(interval, 336),
    ).reverse()
    if features.is_empty():
        raise HTTPException(404, f"no {interval} features for symbol {symbol!r}; materialize its market data")
    row = _forecast(features, loaded, horizon)
    if row is None:
        needed = required_bars(loaded.model.window if loaded else DEFAULT_WINDOW)
        raise HTTPException(
            404, f"{symbol} has {features.height} {interval} bars with features; a forecast needs {needed}"
        )
    return _answer(row, ref)


# -- endpoints ------------------------------------------------------------------------------------
@router.get("/predict/{symbol}", response_model=Forecast, summary="Forecast from the symbol's latest bar")
async def predict_symbol(
    request: Request,
    symbol: Symbol,
    warehouse: WarehouseDep,
    tables: TablesDep,
    horizon: Annotated[int, Query(ge=1, le=1000, description="Bars ahead; one of the model's horizons.")] = 1,
):
    loaded, interval, ref = await served_for(request.app.state, horizon)
    symbol = symbol.upper()
    load = partial(symbol_forecast, warehouse, tables, symbol, interval, horizon, loaded, ref)
    params = {"symbol": symbol, "horizon": horizon, "interval": interval, "model": ref.version or "baseline"}
    return await cached_read(request, "model", [OHLCV_FEATURES.name], params, load)


def _body_error(field: str, message: str, value: Any) -> RequestValidationError:
    return RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}])


def _bars_frame(body: PredictRequest) -> pl.DataFrame:
    """The request's bars as OHLCV_SCHEMA rows, after the checks the cleaner would make."""
    ts = [b.ts if b.ts.tzinfo else b.ts.replace(tzinfo=UTC) for b in body.bars]
    ts = [t.astimezone(UTC) for t in ts]
    for i, bar in enumerate(body.bars):
        if bar.high < max(bar.open, bar.close) or bar.low > min(bar.open, bar.close) or bar.high < bar.low:
            raise _body_error("bars", f"bar {i}: high/low inconsistent with open/close", bar.model_dump(mode="json"))
    for i in range(1, len(ts)):
        if ts[i] <= ts[i - 1]:
            raise _body_error("bars", f"bar {i}: timestamps must increase strictly (oldest first)", ts[i].isoformat())
    n = len(body.bars)
    return conform(
        pl.DataFrame(
            {
                "symbol": [body.symbol.upper()] * n,
                "interval": [body.interval.value] * n,
                "ts": ts,
                "date": [t.date().isoformat() for t in ts],
                "open": [b.open for b in body.bars],
                "high": [b.high for b in body.bars],
                "low": [b.low for b in body.bars],
                "close": [b.close for b in body.bars],
                "volume": [b.volume for b in body.bars],
            }
        ),
        OHLCV_SCHEMA,
    )


@router.post("/predict", response_model=Forecast, summary="Forecast from a recent OHLCV series you send")
async def predict_series(request: Request, body: PredictRequest):
    state = request.app.state
    settings: Settings = state.settings
    loaded = await state.guard.call("models", _current, state)
    horizons = _horizons(loaded, settings)
    if body.horizon not in horizons:
        raise _body_error("horizon", f"the served model forecasts horizons {list(horizons)} (bars)", body.horizon)
    needed = required_bars(loaded.model.window if loaded else DEFAULT_WINDOW)
    if len(body.bars) < needed:
        raise _body_error("bars", f"too short: {len(body.bars)} bars, a forecast needs at least {needed}",
                          len(body.bars))
    if loaded is not None and loaded.manifest.get("interval") not in (None, body.interval.value):
        raise _body_error("interval", f"the served model forecasts {loaded.manifest['interval']} bars",
                          body.interval.value)
    bars = _bars_frame(body)
    step = timedelta(seconds=INTERVAL_SECONDS[body.interval.value])
    gaps = bars["ts"].diff().drop_nulls()
    if gaps.len() and (gaps != step).any():
        raise _body_error("bars", f"bars must be consecutive {body.interval.value} bars without gaps", None)
    ref = _model_ref(loaded, state)

    def score() -> dict[str, Any] | None:
        return _forecast(compute_features(bars), loaded, body.horizon)

    row = await state.guard.call("models", score)
    if row is None:
        raise _body_error("bars", "no bar of the series has every feature (constant or degenerate prices?)", None)
    return _answer(row, ref)


def declare_horizons(app: FastAPI, horizons: Sequence[int]) -> None:
    """Name the forecast horizons (PRICE_HORIZONS, what the models are trained for) in the app's schema,
    as an enum of the GET parameter and the POST body field."""

    def patch(schema: dict[str, Any]) -> None:
        get = schema["paths"].get("/api/v1/ml/predict/{symbol}", {}).get("get", {})
        for param in get.get("parameters", []):
            if param["name"] == "horizon":
                param["schema"]["enum"] = list(horizons)
        body = schema.get("components", {}).get("schemas", {}).get("PredictRequest")
        if body is not None:
            body["properties"]["horizon"]["enum"] = list(horizons)

    extend_openapi(app, patch)


@router.get("/models", response_model=ModelList, summary="Price model versions, their metrics, the current one")
async def list_models(request: Request):
    state = request.app.state
    served = served_price_model(state)

    def listing() -> dict[str, Any]:
        store = state.model_store
        current = store.current_version(MODEL_NAME)
        versions = []
        for version in reversed(store.versions(MODEL_NAME)):
            try:
                manifest = store.manifest(MODEL_NAME, version)
            except ModelStoreError:
                continue
            versions.append(
                ModelVersionInfo(
                    version=version, created_at=manifest.get("created_at"), current=version == current,
                    metrics=finite_metrics(manifest.get("metrics", {})), data_range=manifest.get("data_range", {}),
                    horizons=manifest.get("horizons", []), interval=manifest.get("interval"),
                    components=manifest.get("components", {}),
                )
            )
        try:
            served.get()
        except ModelStoreError:
            pass
        status = {**served.status(), "baseline": served.status()["version"] is None}
        return ModelList(name=MODEL_NAME, current=current, serving=status, versions=versions).model_dump(mode="json")

    return await state.guard.call("models", listing)
