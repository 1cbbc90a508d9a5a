"""When the price model retrains: once a day, and earlier when recent returns drift from training.

- `price_daily_schedule` runs the whole `price_model` group every day (training set snapshot,
  LSTM, ensemble, walk-forward evaluation with the promotion check, forecasts).
- `price_drift_sensor` measures the PSI of the latest returns of every symbol against the promoted
  model's training returns (the reference histogram in its manifest). Above PRICE_DRIFT_PSI it
  requests one retrain, at most one per promoted version and day (the run key), so a market that
  stays different does not start a run every tick.
"""


from datetime import UTC, datetime

import dagster as dg

from assets.k8s import HEAVY_JOB_TAGS, heavy_executor
from assets.price.assets import read_recent_features
from ops.price.drift import Histogram, psi
from ops.price.names import MODEL_NAME, RECENT_BARS
from resources.configurable import ModelStoreResource, PriceModelResource, WarehouseResource
from resources.model_store import ModelStoreError

price_model_job = dg.define_asset_job(
    "price_model_job",
    selection=dg.AssetSelection.groups("price_model"),
    description="Snapshot the features, train the LSTM and the ensemble, evaluate walk-forward, promote if "
    "earned, publish forecasts.",
    executor_def=heavy_executor(),
    tags=HEAVY_JOB_TAGS,
)


@dg.schedule(
    job=price_model_job,
    cron_schedule="20 0 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Daily at 00:20 UTC (after the hourly market refresh closed yesterday): retrain, evaluate, "
    "promote if earned, forecast.",
)
def price_daily_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(run_key=f"price-daily-{context.scheduled_execution_time:%Y-%m-%d}")


@dg.sensor(
    job=price_model_job,
    minimum_interval_seconds=900,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Requests an earlier retrain when the PSI of recent returns against the promoted model's "
    "training returns exceeds PRICE_DRIFT_PSI.",
)
def price_drift_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
    price: PriceModelResource,
):
    store = model_store.client
    version = store.current_version(MODEL_NAME)
    if version is None:
        return dg.SkipReason("no promoted price_model yet: nothing to drift from (the daily schedule trains)")
    try:
        reference = store.manifest(MODEL_NAME, version).get("drift_reference")
    except ModelStoreError as exc:
        return dg.SkipReason(f"manifest of price_model {version} unreadable: {exc}")
    if not reference:
        return dg.SkipReason(f"price_model {version} has no drift reference")
    recent = read_recent_features(warehouse.client, price.interval, RECENT_BARS[price.interval])
    returns = recent["log_return_1"].drop_nulls().to_numpy()
    if len(returns) == 0:
        return dg.SkipReason("no recent returns in ohlcv_features")
    value = psi(Histogram.from_dict(reference), returns)
    if value <= price.drift_psi:
        return dg.SkipReason(f"PSI {value:.3f} <= {price.drift_psi} (price_model {version}): no drift")
    day = datetime.now(UTC).date()
    context.log.info(f"PSI {value:.3f} > {price.drift_psi}: requesting a retrain of price_model {version}")
    return dg.RunRequest(
        run_key=f"price-drift-{version}-{day}",
        tags={"price/psi": f"{value:.4f}", "price/model_version": version},
    )
