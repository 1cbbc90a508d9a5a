"""Risk scores: one function for the batch asset and the online API, so the two cannot drift apart.

score = round(100 * probability), the calibrated classifier's, or the fused one only when the
model's held-out evaluation showed fusion wins (`FraudModel.score_basis`); band by the
calibration-split precision thresholds (low < p80 cut <= medium < p90 cut <= high < p95 cut <=
critical); for flagged rows (band above low) up to three reasons, the features with the largest
positive TreeSHAP attributions (`ops.fraud.reasons`); the IsolationForest score and the HDBSCAN
context of the served anomaly model, as context beside the score (they are not in it unless fused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from ops.fraud.anomaly import AnomalyModel
from ops.fraud.matrix import feature_matrix, signed_log
from ops.fraud.model import BANDS, FraudModel
from ops.fraud.reasons import TOP_REASONS, attributions, top_reasons
from ops.fraud.schema import FEATURES, RISK_SCORES_SCHEMA


@dataclass
class Scores:
    """Column arrays of one scored batch (`frame()` turns them into the published table)."""

    addresses: list[str] | pl.Series
    probability: np.ndarray
    band_index: np.ndarray
    reason_index: np.ndarray  # (rows, TOP_REASONS), -1 = no reason
    reason_value: np.ndarray
    anomaly: np.ndarray | None
    cluster_id: np.ndarray | None
    cluster_outlier: np.ndarray | None
    cluster_fraud_rate: np.ndarray | None
    features: tuple[str, ...]

    def frame(self, model_version: str, anomaly_version: str | None, scored_at: datetime) -> pl.DataFrame:
        n = len(self.probability)
        names = pl.Series("names", [*self.features, None], dtype=pl.Utf8)
        reasons = {
            f"reason_{k + 1}": names.gather(
                np.where(self.reason_index[:, k] < 0, len(self.features), self.reason_index[:, k])
            )
            for k in range(TOP_REASONS)
        }

        def opt(values, dtype):
            return pl.Series(values, dtype=dtype) if values is not None else pl.repeat(None, n, dtype=dtype, eager=True)

        return pl.DataFrame(
            {
                "address": self.addresses,
                "score": np.rint(self.probability * 100).astype(np.int64),
                "probability": self.probability,
                "band": pl.Series(BANDS, dtype=pl.Utf8).gather(self.band_index),
                **reasons,
                "anomaly_score": opt(self.anomaly, pl.Float64),
                "cluster_id": opt(self.cluster_id, pl.Int64),
                "cluster_outlier_score": opt(self.cluster_outlier, pl.Float64),
                "cluster_fraud_rate": opt(self.cluster_fraud_rate, pl.Float64),
                "model_version": pl.repeat(model_version, n, dtype=pl.Utf8, eager=True),
                "anomaly_model_version": pl.repeat(anomaly_version, n, dtype=pl.Utf8, eager=True),
                "scored_at": pl.repeat(scored_at, n, dtype=RISK_SCORES_SCHEMA["scored_at"], eager=True),
            },
            schema=RISK_SCORES_SCHEMA,
        )

    def reasons_of(self, row: int) -> list[dict[str, float | str]]:
        return [
            {"feature": self.features[j], "contribution": round(float(v), 4)}
            for j, v in zip(self.reason_index[row], self.reason_value[row], strict=True)
            if j >= 0
        ]


#: `model_version` of the rows the prior scored: no fraud model is promoted, because none could be
#: told from a random score, so every address gets the labelled base rate (the fraud baseline, as
#: persistence is the price one) and the context columns as usual.
PRIOR = "prior"


def _context(anomaly: AnomalyModel | None, x: np.ndarray):
    """Anomaly score and cluster context (id, outlier score, fraud rate) of each row, or Nones."""
    anomaly_scores = cluster_ids = outlier_scores = fraud_rates = None
    if anomaly is not None:
        logged = signed_log(x)
        anomaly_scores = anomaly.anomaly_score(x, logged)
        if anomaly.clusters is not None:
            cluster_ids, outlier_scores, fraud_rates = anomaly.clusters.assign(x, logged)
    return anomaly_scores, cluster_ids, outlier_scores, fraud_rates


def score_matrix(
    fraud: FraudModel, anomaly: AnomalyModel | None, x: np.ndarray, addresses: list[str] | pl.Series
) -> Scores:
    """Score a feature matrix whose columns are `fraud.features`."""
    p = fraud.score_proba(x)
    band = np.searchsorted(np.asarray(fraud.band_cuts()), p, side="right")
    idx, vals = top_reasons(attributions(getattr(fraud, "explainer", None), x, p >= fraud.reason_cut()))
    return Scores(addresses, p, band, idx, vals, *_context(anomaly, x), fraud.features)


def prior_features(
    base_rate: float, anomaly: AnomalyModel | None, features: pl.DataFrame, *, anomaly_version: str | None,
    scored_at: datetime,
) -> pl.DataFrame:
    """The published rows while no fraud model is promoted: the base rate for all, band low, no reasons."""
    x = feature_matrix(features, FEATURES)
    n = len(x)
    scores = Scores(features["address"], np.full(n, float(base_rate)), np.zeros(n, dtype=np.int64),
                    np.full((n, TOP_REASONS), -1), np.zeros((n, TOP_REASONS)), *_context(anomaly, x), FEATURES)  # fmt: skip
    return scores.frame(PRIOR, anomaly_version, scored_at)


def score_features(
    fraud: FraudModel,
    anomaly: AnomalyModel | None,
    features: pl.DataFrame,
    *,
    model_version: str,
    anomaly_version: str | None,
    scored_at: datetime,
) -> pl.DataFrame:
    """The published risk-score rows (RISK_SCORES_SCHEMA) of a frame of address features."""
    x = feature_matrix(features, fraud.features)
    scores = score_matrix(fraud, anomaly, x, features["address"])
    return scores.frame(model_version, anomaly_version, scored_at)
