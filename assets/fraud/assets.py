"""Fraud assets: chain tables -> address features -> models -> risk scores, with evaluation and drift.

    chain_transactions, token_transfers, contracts --> address_features --> fraud_model --> fraud_model_evaluation
                                                                      \\-> anomaly_model
    address_features + fraud_model + anomaly_model --> address_risk_scores

The logic is in `ops.fraud`; these functions read through the warehouse and the model store, call
it, write back and tell the story in metadata. Labelled data comes from settings (the product
ships none): FRAUD_TRAINING_CSV (the public data set's form), FRAUD_LABELS_PATH (e.g. a devnet
ground truth) and the `fraud_feedback` table the API fills.
"""


from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
from pydantic import Field

from assets.fraud import feature_store
from assets.intel.cluster_store import read_by
from ops.fraud.anomaly import AnomalyModel, evaluate_anomaly, fit_anomaly_model
from ops.fraud.dataset import training_frame
from ops.fraud.drift import PSI_WARN, psi_per_feature
from ops.fraud.evaluation import calibration_png, evaluation_report
from ops.fraud.matrix import feature_matrix
from ops.fraud.model import (
    ANOMALY_MODEL,
    FRAUD_MODEL,
    FraudModel,
    TrainParams,
    from_bytes,
    to_bytes,
    train_fraud_model,
)
from ops.fraud.promotion import figures_table, promotion_refusal
from ops.fraud.schema import FEATURES
from ops.fraud.scoring import PRIOR, prior_features, score_features
from ops.reporting import markdown_table
from ops.stream.events import risk_changes
from resources.configurable import FraudDataResource, ModelStoreResource, WarehouseResource
from resources.model_metrics import record_model_metrics
from resources.model_store import ModelStore, ModelStoreError
from resources.stream_events import append_events
from resources.tables import (
    ADDRESS_FEATURES,
    ADDRESS_RISK_SCORES,
    CHAIN_TRANSACTIONS,
    CONTRACTS,
    FRAUD_FEEDBACK,
    TOKEN_TRANSFERS,
)
from resources.training_data import load_public_dataset, read_label_file
from resources.warehouse import Warehouse

GROUP = "fraud"
KINDS = {"polars", "sql"}
ML_KINDS = {"scikitlearn"}
CHAIN_DEPS = [dg.AssetKey(CHAIN_TRANSACTIONS.name), dg.AssetKey(TOKEN_TRANSFERS.name), dg.AssetKey(CONTRACTS.name)]



class FraudModelConfig(dg.Config):
    """Boosting size and the held-out share; tests shrink them."""

    max_iter: int = Field(200, description="Boosting iterations of each calibrated booster.")
    calibration_folds: int = Field(3, description="Isotonic calibration folds (grouped by address).")
    test_fraction: float = Field(0.2, description="Share of addresses held out for evaluation (and for calibration).")
    bootstrap: int = Field(1000, description="Address resamples behind each 95 % CI.")
    seed: int = 0


# -- reads ----------------------------------------------------------------------------------------
def _chain_features(db: Warehouse) -> pl.DataFrame | None:
    return db.read(ADDRESS_FEATURES.name) if db.has_table(ADDRESS_FEATURES.name) else None


def _labelled_data(context, fraud_data: FraudDataResource, db: Warehouse) -> tuple[pl.DataFrame, dict]:
    """The training frame and a summary of where its rows came from. Fails clearly without labels."""
    public = None
    if fraud_data.training_csv:
        path = Path(fraud_data.training_csv)
        if not path.is_file():
            raise dg.Failure(f"FRAUD_TRAINING_CSV names {path}, which is not a file")
        public = load_public_dataset(path)
        context.log.info(f"public data set: {public.height} labelled rows from {path.name}")
    labels = []
    if fraud_data.labels_path and Path(fraud_data.labels_path).is_file():
        labels.append(read_label_file(fraud_data.labels_path))
    if db.has_table(FRAUD_FEEDBACK.name):
        feedback = db.read(FRAUD_FEEDBACK.name, columns=["address", "label"])
        if feedback.height:
            labels.append(feedback.with_columns(pl.lit("feedback").alias("source")))
    frame = training_frame(public, _chain_features(db), labels)
    if frame.is_empty() or frame["label"].n_unique() < 2:
        raise dg.Failure(
            description="No labelled data to train the fraud model on: set FRAUD_TRAINING_CSV to a labelled "
            "data set (the public Ethereum fraud data set's CSV form), FRAUD_LABELS_PATH to address labels "
            "of indexed addresses, or send labels to POST /api/v1/fraud/feedback. "
            f"Found {frame.height} labelled rows"
            + (f" of one class only ({frame['label'].unique().to_list()})" if frame.height else "")
            + "."
        )
    by_source = frame.group_by("source").agg(pl.len().alias("rows"), pl.col("label").sum().alias("fraud"))
    return frame, {r["source"]: {"rows": r["rows"], "fraud": r["fraud"]} for r in by_source.iter_rows(named=True)}


def _latest_saved(store: ModelStore, name: str) -> str:
    versions = store.versions(name)
    if not versions:
        raise dg.Failure(f"no {name} version in the model store: materialize {name} first")
    return versions[-1]


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """The figures a manifest keeps: JSON readers (the dashboard) refuse NaN, and an undefined figure
    (no cut reaching a precision target, no row with a missing value) is simply absent."""
    return {k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)}


def _png_md(png: bytes) -> str:
    import base64

    return f"![calibration](data:image/png;base64,{base64.b64encode(png).decode()})"


# -- assets ---------------------------------------------------------------------------------------
class AddressFeaturesConfig(dg.Config):
    """`full`: recompute every address from the whole chain tables (after a reorg or a range indexed
    below the cursor: the incremental path only reads blocks after it)."""

    full: bool = False


@dg.asset(group_name=GROUP, kinds=KINDS, deps=CHAIN_DEPS)
def address_features(
    context: dg.AssetExecutionContext, config: AddressFeaturesConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Per-address features under the public fraud data set's names and meanings (sent/received counts,
    counterparties, value statistics, timing, contract creations, ERC-20 totals and counterparties; see
    ops.fraud.schema). Incremental: the blocks indexed since the last run are read by block range, the
    addresses they touch are recomputed from their own history (read by address) and only the rows that
    changed are written, equal to the full computation; the first run, or `full`, computes every address."""
    db = warehouse.client
    if not db.has_table(CHAIN_TRANSACTIONS.name):
        context.log.warning("chain_transactions is not in the warehouse yet: no address features")
        return dg.MaterializeResult(metadata={"rows": 0})
    cursor, last = feature_store.load_cursor(db), feature_store.last_block(db)
    now = datetime.now(UTC)
    if config.full or cursor is None:
        mode, summary = "full", feature_store.full(db, now)
    elif last is not None and last > cursor:
        mode, summary = f"blocks {cursor + 1}..{last}", feature_store.fold(db, cursor + 1, last, now)
    else:
        mode, summary = "none (no new blocks)", {"features": pl.DataFrame(schema=ADDRESS_FEATURES.schema),
                                                 "touched": 0, "transactions": 0, "token_transfers": 0}
    folded_to = max(x for x in (last, cursor, -1) if x is not None)
    feature_store.save_cursor(db, folded_to, now if summary["features"].height else None)
    features = summary["features"]
    context.log.info(f"address_features: {mode}: {features.height} rows written, {summary['touched']} "
                     f"addresses recomputed from {summary['transactions']} transactions")
    return dg.MaterializeResult(
        metadata={
            "folded": mode,
            "folded_to": dg.MetadataValue.int(folded_to),
            "rows": dg.MetadataValue.int(features.height),
            "addresses_recomputed": dg.MetadataValue.int(summary["touched"]),
            "transactions": dg.MetadataValue.int(summary["transactions"]),
            "token_transfers": dg.MetadataValue.int(summary["token_transfers"]),
            "first_block": dg.MetadataValue.int(int(features["first_block"].min() or 0)) if features.height else 0,
            "last_block": dg.MetadataValue.int(int(features["last_block"].max() or 0)) if features.height else 0,
            "preview": dg.MetadataValue.md(
                markdown_table(features.sort("total_transactions", descending=True).select(
                    "address", "sent_tx", "received_tx", "total_ether_sent", "total_ether_received",
                    "erc20_total_tx", "created_contracts").head(10))
            ),
        }
    )


@dg.asset(group_name=GROUP, kinds=ML_KINDS, deps=[address_features])
def fraud_model(
    context: dg.AssetExecutionContext,
    config: FraudModelConfig,
    fraud_data: FraudDataResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
) -> dg.MaterializeResult:
    """A calibrated gradient-boosting fraud classifier trained on every labelled address available (the
    public data set, devnet labels, API feedback). Evaluated on addresses held out by a grouped split
    (thresholds chosen on a separate calibration split), beside a logistic-regression baseline and the
    prior, each figure with its 95 % CI; anomaly and cluster context join the score only when that
    evaluation shows the fused score beats the classifier alone. Promoted only when the held-out ROC-AUC
    reaches FRAUD_MIN_ROC_AUC and its CI lies above 0.5 (the model can be told from a random score)."""
    db, store = warehouse.client, model_store.client
    frame, sources = _labelled_data(context, fraud_data, db)
    x = feature_matrix(frame)
    y = frame["label"].to_numpy()
    params = TrainParams(max_iter=config.max_iter, calibration_folds=config.calibration_folds, seed=config.seed,
                         bootstrap=config.bootstrap)
    try:
        result = train_fraud_model(
            x, y, frame["address"].to_list(), params, test_fraction=config.test_fraction, progress=context.log.info
        )
    except ValueError as exc:
        raise dg.Failure(f"cannot train the fraud model on {frame.height} labelled rows: {exc}") from exc
    holdout = pl.DataFrame({"address": result.holdout_addresses, "label": result.holdout_y,
                            "probability": result.holdout_p})
    png = calibration_png(result.holdout_y, result.holdout_p)
    import io

    buffer = io.BytesIO()
    holdout.write_parquet(buffer)
    metrics = result.metrics
    model = result.model
    refusal = promotion_refusal(metrics, fraud_data.min_roc_auc)
    promoted = refusal is None
    version = store.save(
        FRAUD_MODEL,
        {"model.pkl": to_bytes(model), "holdout.parquet": buffer.getvalue(), "calibration.png": png},
        metrics=_finite(metrics),
        data_range={"sources": sources, "rows": frame.height},
        extra={"features": list(FEATURES), "thresholds": [t.__dict__ for t in model.thresholds],
               "score_basis": model.score_basis, "fusion": model.fusion_note},
    )
    if promoted:
        store.promote(FRAUD_MODEL, version)
    else:
        context.log.warning(f"{FRAUD_MODEL}/{version}: not promoted: {refusal}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "promoted": promoted,
            "promotion": refusal or "promoted: ROC-AUC reaches FRAUD_MIN_ROC_AUC, its CI is above the prior 0.5 "
            "and not below the logistic baseline",
            "rows": dg.MetadataValue.int(frame.height),
            "rows_by_source": dg.MetadataValue.json(sources),
            "held_out_roc_auc": dg.MetadataValue.float(metrics["roc_auc"]),
            "held_out_pr_auc": dg.MetadataValue.float(metrics["pr_auc"]),
            "held_out_accuracy": dg.MetadataValue.float(metrics["accuracy"]),
            "score_basis": model.score_basis,
            "fusion": model.fusion_note,
            "figures": dg.MetadataValue.md(markdown_table(figures_table(metrics))),
            "calibration": dg.MetadataValue.md(_png_md(png)),
        }
    )


@dg.asset(group_name=GROUP, kinds=ML_KINDS, deps=[address_features])
def anomaly_model(
    context: dg.AssetExecutionContext,
    fraud_data: FraudDataResource,
    warehouse: WarehouseResource,
    model_store: ModelStoreResource,
) -> dg.MaterializeResult:
    """The unsupervised second signal: an IsolationForest on log-scaled features fitted on presumed-normal
    addresses (labelled normal, or unlabelled chain addresses), and HDBSCAN cluster context (cluster,
    outlier score, the cluster's fraud rate among labelled addresses)."""
    db, store = warehouse.client, model_store.client
    try:
        labelled, _sources = _labelled_data(context, fraud_data, db)
    except dg.Failure:
        labelled = None
    chain = _chain_features(db)
    parts = [labelled.select("address", "label", *FEATURES)] if labelled is not None else []
    if chain is not None and chain.height:
        known = set(labelled["address"].to_list()) if labelled is not None else set()
        unlabelled = chain.filter(~pl.col("address").is_in(list(known)))
        parts.append(unlabelled.select("address", pl.lit(-1, dtype=pl.Int64).alias("label"), *FEATURES))
    frame = pl.concat(parts, how="vertical_relaxed") if parts else None
    if frame is None or frame.height < 10:
        raise dg.Failure("The anomaly model needs at least 10 addresses (labelled data or indexed chain features).")
    x = feature_matrix(frame)
    labels = frame["label"].to_numpy()
    evaluation = evaluate_anomaly(x, labels, frame["address"].to_list())
    model = fit_anomaly_model(x, labels, FEATURES)
    model.evaluation = evaluation
    rates = model.clusters.fraud_rate if model.clusters else {}
    metrics: dict[str, float] = {"presumed_normal_rows": float(np.sum(labels != 1)),
                                 "clusters": float(model.clusters.n_clusters if model.clusters else 0),
                                 **{f"held_out_{k}": v for k, v in evaluation.items()}}
    served = bool(evaluation["distinguishable"])
    version = store.save(ANOMALY_MODEL, {"model.pkl": to_bytes(model)}, metrics=_finite(metrics),
                         data_range={"rows": frame.height},
                         extra={"features": list(FEATURES), "scaling": model.scaling, "role": "context"})
    if served:
        store.promote(ANOMALY_MODEL, version)
    else:
        context.log.warning(
            f"{ANOMALY_MODEL}/{version}: held-out ROC-AUC {evaluation['roc_auc']:.4f} on "
            f"{evaluation['held_out_rows']:.0f} labelled rows, 95 % CI {evaluation['roc_auc_ci_low']:.4f} to "
            f"{evaluation['roc_auc_ci_high']:.4f}: not above the prior 0.5, not promoted (scores carry no anomaly context)"
        )
    table = pl.DataFrame({"cluster": list(rates), "fraud_rate": list(rates.values())}, strict=False)
    context.log.info(f"{ANOMALY_MODEL}/{version}: {metrics}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "promoted": served,
            "role": "context beside the fraud score (not in it unless the fraud model's evaluation fused it)",
            "scaling": model.scaling,
            "rows": dg.MetadataValue.int(frame.height),
            **{k: dg.MetadataValue.float(v) for k, v in metrics.items()},
            "cluster_fraud_rates": dg.MetadataValue.md(markdown_table(table, max_rows=40)),
        }
    )


@dg.asset(group_name=GROUP, kinds=ML_KINDS, deps=[fraud_model])
def fraud_model_evaluation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, model_store: ModelStoreResource
) -> dg.MaterializeResult:
    """The newest fraud model on its held-out addresses: ROC-AUC, PR-AUC, accuracy, precision and recall
    at the thresholds for precision 0.80, 0.90 and 0.95, and the calibration curve. Published to
    `model_metrics` for the dashboard and the Prometheus gauges."""
    store = model_store.client
    version = _latest_saved(store, FRAUD_MODEL)
    mv = store.load(FRAUD_MODEL, version)
    model = from_bytes(mv.files["model.pkl"], FraudModel)
    holdout = pl.read_parquet(mv.files["holdout.parquet"])
    y, p = holdout["label"].to_numpy(), holdout["probability"].to_numpy()
    report = evaluation_report(y, p, model.thresholds)
    # the training figures (with CIs and baselines) and this view's calibration error
    metrics = {**report["metrics"], **model.metrics, "calibration_error": report["calibration_error"]}
    record_model_metrics(warehouse.client, FRAUD_MODEL, version, metrics)
    context.log.info(f"{FRAUD_MODEL}/{version}: ROC-AUC {metrics['roc_auc']:.4f}, PR-AUC {metrics['pr_auc']:.4f}")
    return dg.MaterializeResult(
        metadata={
            "model_version": version,
            "roc_auc": dg.MetadataValue.float(metrics["roc_auc"]),
            "roc_auc_ci_low": dg.MetadataValue.float(metrics.get("roc_auc_ci_low", float("nan"))),
            "roc_auc_ci_high": dg.MetadataValue.float(metrics.get("roc_auc_ci_high", float("nan"))),
            "logistic_roc_auc": dg.MetadataValue.float(metrics.get("logistic_roc_auc", float("nan"))),
            "pr_auc": dg.MetadataValue.float(metrics["pr_auc"]),
            "prior_pr_auc": dg.MetadataValue.float(float(np.mean(y))),
            "accuracy": dg.MetadataValue.float(metrics["accuracy"]),
            "figures": dg.MetadataValue.md(markdown_table(figures_table(metrics))),
            "brier": dg.MetadataValue.float(metrics["brier"]),
            "calibration_error": dg.MetadataValue.float(metrics["calibration_error"]),
            "held_out_rows": dg.MetadataValue.int(len(y)),
            "thresholds": dg.MetadataValue.md(markdown_table(report["thresholds"])),
            "calibration_curve": dg.MetadataValue.md(_png_md(mv.files["calibration.png"])),
        }
    )


def load_promoted(store: ModelStore) -> tuple[FraudModel, str, AnomalyModel | None, str | None]:
    try:
        fm = store.load(FRAUD_MODEL)
    except ModelStoreError as exc:
        raise dg.Failure(f"no promoted fraud model to score with: {exc}") from exc
    return from_bytes(fm.files["model.pkl"], FraudModel), fm.version, *_promoted_anomaly(store)


def _promoted_anomaly(store: ModelStore) -> tuple[AnomalyModel | None, str | None]:
    try:
        am = store.load(ANOMALY_MODEL)
    except ModelStoreError:
        return None, None
    return from_bytes(am.files["model.pkl"], AnomalyModel), am.version


def _latest_base_rate(store: ModelStore) -> float:
    """The fraud share of the held-out labels of the newest fraud_model version (the prior's score)."""
    try:
        versions = store.versions(FRAUD_MODEL)
        metrics = store.manifest(FRAUD_MODEL, versions[-1]).get("metrics", {}) if versions else {}
    except ModelStoreError:
        metrics = {}
    if "base_rate" not in metrics:
        raise dg.Failure(f"no {FRAUD_MODEL} has been trained yet: nothing to score with, not even its prior")
    return float(metrics["base_rate"])


class RiskScoresConfig(dg.Config):
    """`full`: score every address (the scores of unchanged features are otherwise kept)."""

    full: bool = False


@dg.asset(group_name=GROUP, kinds=KINDS, deps=[address_features, fraud_model, anomaly_model])
def address_risk_scores(
    context: dg.AssetExecutionContext, config: RiskScoresConfig, warehouse: WarehouseResource,
    model_store: ModelStoreResource, fraud_data: FraudDataResource,
) -> dg.MaterializeResult:
    """A 0-100 risk score per indexed address with its band (by the precision-0.80/0.90/0.95 thresholds),
    for flagged addresses the top reasons (largest positive per-row attributions), the anomaly score and
    cluster context (beside the score, not in it unless the fraud model fused them), and the versions of
    the models that made it. A score depends on its address's feature row only, so a run scores the rows
    address_features wrote since the last scoring; every address on the first run, on `full`, or when the
    models (or the prior's base rate) changed."""
    db, store = warehouse.client, model_store.client
    try:
        fraud, version, anomaly, anomaly_version = load_promoted(store)
    except dg.Failure:  # none promoted: the prior serves, with the context columns, and says so
        fraud, version, anomaly, anomaly_version = None, PRIOR, *_promoted_anomaly(store)
    base_rate, no_prior = None, None
    if fraud is None:
        try:
            base_rate = _latest_base_rate(store)
        except dg.Failure as exc:  # raised only when there is something to score
            no_prior = exc
    versions = f"{version}|{anomaly_version}|{base_rate}"
    scored_through, scored_with = feature_store.scored(db)
    rescore_all = config.full or scored_with != versions or scored_through is None
    through = feature_store.features_written_at(db)
    if rescore_all:
        features = _chain_features(db)
    else:
        features = feature_store.features_to_score(db, scored_through, through)
    if features is None or features.is_empty():
        context.log.warning("no address features to score" if rescore_all else "no feature row changed since the "
                            "last scoring: nothing to score")
        if features is not None:
            feature_store.save_scored(db, through or scored_through, versions)
        return dg.MaterializeResult(metadata={"rows": 0, "model_version": version,
                                              "scored": "all" if rescore_all else "changed rows"})
    now = datetime.now(UTC)
    if no_prior is not None:
        raise no_prior
    if fraud is None:
        context.log.warning(f"no promoted {FRAUD_MODEL}: every address scores the labelled base rate {base_rate:.3f}")
        scores = prior_features(base_rate, anomaly, features, anomaly_version=anomaly_version, scored_at=now)
    else:
        scores = score_features(fraud, anomaly, features, model_version=version, anomaly_version=anomaly_version,
                                scored_at=now)
    # The live stream hears of addresses that reached the threshold: compare with their stored scores.
    addresses = scores["address"].to_list()
    if not db.has_table(ADDRESS_RISK_SCORES.name):
        previous = {}
    elif rescore_all:
        previous = dict(db.read(ADDRESS_RISK_SCORES.name, columns=["address", "score"]).iter_rows())
    else:
        previous = dict(read_by(db, ADDRESS_RISK_SCORES, "address", addresses, columns=["address", "score"]).iter_rows())
    db.upsert(ADDRESS_RISK_SCORES, scores)
    feature_store.save_scored(db, through, versions)
    current = {a: (score, band) for a, score, band in scores.select("address", "score", "band").iter_rows()}
    streamed = append_events(db, risk_changes(previous, current, threshold=fraud_data.stream_risk_min_score))
    bands = scores.group_by("band").len().sort("len", descending=True)
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(scores.height),
            "scored": "all" if rescore_all else "changed rows",
            "model_version": version,
            "risk_events": dg.MetadataValue.int(len(streamed)),
            "anomaly_model_version": anomaly_version or "none",
            "score_basis": fraud.score_basis if fraud else PRIOR,
            "context_columns": "the score fuses the classifier with anomaly and cluster context"
            if fraud and fraud.score_basis == "fused" else "anomaly_score, cluster_* are context beside the score",
            **{f"band_{b}": dg.MetadataValue.int(n) for b, n in bands.iter_rows()},
            "highest": dg.MetadataValue.md(markdown_table(
                scores.sort("score", descending=True).select(
                    "address", "score", "band", "reason_1", "reason_2", "reason_3", "anomaly_score", "cluster_id"
                ).head(15))),
        }
    )


@dg.asset_check(
    asset=address_features,
    name="feature_drift",
    additional_deps=[fraud_model],  # in a full run, compare with the model this run trains
    description=f"PSI of each feature between the promoted fraud model's training rows and the latest "
    f"address features; warns when any exceeds {PSI_WARN} (a population the model has not seen).",
)
def feature_drift(warehouse: WarehouseResource, model_store: ModelStoreResource) -> dg.AssetCheckResult:
    db, store = warehouse.client, model_store.client
    if store.current_version(FRAUD_MODEL) is None:
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"note": "no promoted fraud model to compare with yet"})
    fraud, version, _a, _v = load_promoted(store)
    features = _chain_features(db)
    if features is None or features.is_empty():
        return dg.AssetCheckResult(passed=True, severity=dg.AssetCheckSeverity.WARN,
                                   metadata={"note": "no address features yet"})
    values = psi_per_feature(fraud.reference, feature_matrix(features, fraud.features))
    drifted = {k: v for k, v in values.items() if v > PSI_WARN}
    table = pl.DataFrame({"feature": list(values), "psi": list(values.values())}).sort("psi", descending=True)
    return dg.AssetCheckResult(
        passed=not drifted,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "model_version": version,
            "max_psi": dg.MetadataValue.float(max(values.values())),
            "drifted_features": dg.MetadataValue.int(len(drifted)),
            "psi": dg.MetadataValue.md(markdown_table(table, max_rows=len(values))),
        },
    )


FRAUD_ASSETS = [address_features, fraud_model, anomaly_model, fraud_model_evaluation, address_risk_scores]
FRAUD_CHECKS = [feature_drift]
