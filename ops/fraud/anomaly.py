"""The unsupervised signals: IsolationForest on features scaled by the data's shape, and HDBSCAN context.

- IsolationForest is fitted on presumed-normal rows (label 0, or unlabelled); its score is
  scikit-learn's anomaly score 2^(-E[h]/c) in (0, 1), above ~0.5 meaning "isolated faster than a
  typical point".
- Its input space is chosen from the data's shape, without labels (`choose_scaling`): signed-log
  (`ops.fraud.matrix.signed_log`) when most columns are heavy-tailed (99th percentile of |x| above
  100x the median: counts and ether amounts), raw values otherwise. A random split between a
  column's min and max only means something once ten orders of magnitude are compressed, but the
  log distorts features that are already on a scale (ADBench's cardio: 0.878 with it, 0.920 without).
- HDBSCAN runs on a sample of standardized log features, projected on their first principal
  components (density is meaningless in 38 sparse dimensions, and a KD-tree only pays off in a
  few), for context: the cluster an address falls in (-1 = none), how much of an outlier it is
  (GLOSH, 0-1), and the fraud rate of the labelled addresses in that cluster. New addresses take
  the cluster and outlier score of their nearest fitted neighbour (a KD-tree query), which keeps
  scoring a million rows cheap; HDBSCAN's approximate_predict agrees inside clusters and is far slower.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ops.fraud.matrix import signed_log

#: Rows HDBSCAN clusters (its cost grows faster than linearly; context needs no more).
CLUSTER_SAMPLE = 4_000
MIN_CLUSTER_SIZE = 30
#: Threads scoring uses for the forest and the neighbour queries (the boosted model uses OpenMP too).
SCORING_THREADS = 2
#: Principal components the clustering works in.
COMPONENTS = 6
#: A column is heavy-tailed when its 99th percentile of |x| exceeds this many times its median.
HEAVY_TAIL_RATIO = 100.0
#: The data set is log-scaled when at least this share of its columns is heavy-tailed.
HEAVY_SHARE = 0.5
SCALINGS = ("signed_log", "raw")


def heavy_tailed(column: np.ndarray) -> bool:
    c = np.abs(column[np.isfinite(column)])
    if not c.size:
        return False
    median, q99 = np.quantile(c, [0.5, 0.99])
    return bool(q99 > HEAVY_TAIL_RATIO * max(float(median), 1e-12))


def choose_scaling(x: np.ndarray) -> str:
    """"signed_log" when at least HEAVY_SHARE of the columns are heavy-tailed, else "raw" (no labels used)."""
    if x.shape[1] == 0:
        return "raw"
    share = np.mean([heavy_tailed(x[:, j]) for j in range(x.shape[1])])
    return "signed_log" if share >= HEAVY_SHARE else "raw"


def scaled(x: np.ndarray, scaling: str) -> np.ndarray:
    """The forest's input: signed-log, or the raw values as float32 with missing values as 0."""
    if scaling == "signed_log":
        return signed_log(x)
    if scaling != "raw":
        raise ValueError(f"unknown scaling {scaling!r}; one of {SCALINGS}")
    z = np.asarray(x, dtype=np.float32).copy()
    z[~np.isfinite(z)] = 0.0
    return z


@dataclass
class AnomalyModel:
    forest: object
    features: tuple[str, ...]
    clusters: ClusterContext | None = None
    scaling: str = "signed_log"
    #: Held-out evaluation on labelled rows (ROC-AUC with its CI), when the asset measured one.
    evaluation: dict | None = None

    def anomaly_score(self, x: np.ndarray, logged: np.ndarray | None = None) -> np.ndarray:
        """Per row, 0-1. `logged`: `signed_log(x)` when the caller has it already (used when log-scaled)."""
        from joblib import parallel_config

        scaling = getattr(self, "scaling", "signed_log")  # models pickled before the choice existed
        z = logged if (logged is not None and scaling == "signed_log") else scaled(x, scaling)
        with parallel_config(backend="threading", n_jobs=SCORING_THREADS):  # the trees release the GIL
            return -self.forest.score_samples(z)


@dataclass
class ClusterContext:
    mean: np.ndarray
    scale: np.ndarray
    projection: np.ndarray  # (features, COMPONENTS): standardized log features -> cluster space
    tree: object  # scipy KDTree over the fitted sample (its queries run on several threads)
    labels: np.ndarray  # cluster id of each fitted row
    outlier_scores: np.ndarray  # GLOSH score of each fitted row
    fraud_rate: dict[int, float]  # cluster id -> fraud rate of its labelled rows (NaN when none)
    n_clusters: int

    def assign(self, x: np.ndarray, logged: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cluster id, outlier score, cluster fraud rate) per row of the raw feature matrix `x`."""
        z = (((signed_log(x) if logged is None else logged) - self.mean) / self.scale) @ self.projection
        _dist, nearest = self.tree.query(z, k=1, workers=SCORING_THREADS)
        ids = self.labels[nearest]
        rates = np.array([self.fraud_rate.get(int(c), np.nan) for c in range(-1, self.n_clusters)])
        return ids, self.outlier_scores[nearest], rates[ids + 1]


def fit_isolation_forest(x: np.ndarray, seed: int = 0, n_estimators: int = 100, max_samples="auto",
                         scaling: str = "signed_log"):
    """scikit-learn's IsolationForest (its defaults unless told) on `scaled(x, scaling)`."""
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, max_samples=max_samples, random_state=seed, n_jobs=1)
    forest.fit(scaled(x, scaling))
    return forest


def fit_clusters(x: np.ndarray, labels: np.ndarray | None, seed: int = 0,
                 sample: int = CLUSTER_SAMPLE, min_cluster_size: int = MIN_CLUSTER_SIZE) -> ClusterContext:
    """HDBSCAN on a sample of standardized log features; `labels` (1 fraud, 0 normal, -1 unknown)."""
    import hdbscan
    from scipy.spatial import KDTree

    rng = np.random.default_rng(seed)
    rows = rng.choice(len(x), size=min(sample, len(x)), replace=False) if len(x) > sample else np.arange(len(x))
    z_all = signed_log(x[rows])
    mean = z_all.mean(axis=0)
    scale = z_all.std(axis=0)
    scale[scale == 0] = 1.0
    standardized = (z_all - mean) / scale
    # principal axes of the standardized sample (SVD), the first COMPONENTS of them
    _u, _s, vt = np.linalg.svd(standardized - standardized.mean(axis=0), full_matrices=False)
    projection = vt[: min(COMPONENTS, vt.shape[0])].T
    z = (standardized @ projection).astype(np.float64)
    clusterer = hdbscan.HDBSCAN(min_cluster_size=min(min_cluster_size, max(2, len(z) // 5)), min_samples=10)
    clusterer.fit(z)
    ids = clusterer.labels_.astype(np.int64)
    outlier = np.nan_to_num(np.asarray(clusterer.outlier_scores_, dtype=np.float64), nan=0.0)
    n_clusters = int(ids.max()) + 1 if ids.size else 0
    fraud_rate: dict[int, float] = {}
    lab = labels[rows] if labels is not None else np.full(len(rows), -1)
    for c in range(-1, n_clusters):
        known = lab[(ids == c) & (lab >= 0)]
        fraud_rate[c] = float(known.mean()) if known.size else float("nan")
    return ClusterContext(mean, scale, projection, KDTree(z), ids, outlier, fraud_rate, n_clusters)


def fit_anomaly_model(x: np.ndarray, labels: np.ndarray | None, features: tuple[str, ...], seed: int = 0,
                      with_clusters: bool = True, n_estimators: int = 100) -> AnomalyModel:
    """IsolationForest on presumed-normal rows (label != 1) in the space `choose_scaling` picks for all
    rows, plus the cluster context on all rows."""
    normal = x if labels is None else x[labels != 1]
    if len(normal) < 2:
        raise ValueError("the anomaly model needs at least two presumed-normal rows")
    scaling = choose_scaling(x)
    forest = fit_isolation_forest(normal, seed, n_estimators=n_estimators, scaling=scaling)
    clusters = fit_clusters(x, labels, seed) if with_clusters and len(x) >= 10 else None
    return AnomalyModel(forest, features, clusters, scaling)


def evaluate_anomaly(x: np.ndarray, labels: np.ndarray, groups, seed: int = 0, resamples: int = 1000,
                     n_estimators: int = 100) -> dict[str, float]:
    """Held-out ROC-AUC of the anomaly score on labelled rows, with its 95 % CI, against the prior (0.5).

    The forest is fitted (as `fit_anomaly_model` does, without the clusters) on every row except a
    grouped fifth of the labelled ones, and scores those. `distinguishable` is 1.0 when the CI lies
    above 0.5: only then is the model served (otherwise it cannot be told from a random score).
    """
    from ops.fraud.model import grouped_split
    from ops.fraud.uncertainty import roc_auc, with_ci

    labelled = np.flatnonzero(labels >= 0)
    out = {"roc_auc": float("nan"), "roc_auc_ci_low": float("nan"), "roc_auc_ci_high": float("nan"),
           "prior_roc_auc": 0.5, "held_out_rows": 0.0, "distinguishable": 0.0}
    if labelled.size < 10 or len(np.unique(labels[labelled])) < 2:
        return out
    groups = np.asarray(groups)
    _train, test = grouped_split(groups[labelled], labels[labelled], 0.2, seed)
    test = labelled[test]
    if len(np.unique(labels[test])) < 2:
        return out
    fit_rows = np.setdiff1d(np.arange(len(labels)), test)
    fit_rows = fit_rows[labels[fit_rows] != 1]
    if len(fit_rows) < 2:
        return out
    forest = fit_isolation_forest(x[fit_rows], seed, n_estimators=n_estimators, scaling=choose_scaling(x))
    score = -forest.score_samples(scaled(x[test], choose_scaling(x)))
    fig = with_ci(roc_auc, labels[test], [score], groups[test], resamples, seed)
    return {"roc_auc": fig["value"], "roc_auc_ci_low": fig["ci_low"], "roc_auc_ci_high": fig["ci_high"],
            "prior_roc_auc": 0.5, "held_out_rows": float(len(test)),
            "distinguishable": float(np.isfinite(fig["ci_low"]) and fig["ci_low"] > 0.5)}
