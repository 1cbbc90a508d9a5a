"""The unsupervised signals: IsolationForest on log-scaled features, and HDBSCAN cluster context.

- IsolationForest is fitted on presumed-normal rows (label 0, or unlabelled) in the signed-log
  space (`ops.fraud.matrix.signed_log`); its score is scikit-learn's anomaly score 2^(-E[h]/c)
  in (0, 1), above ~0.5 meaning "isolated faster than a typical point".
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


@dataclass
class AnomalyModel:
    forest: object
    features: tuple[str, ...]
    clusters: ClusterContext | None = None

    def anomaly_score(self, x: np.ndarray, logged: np.ndarray | None = None) -> np.ndarray:
        """Per row, 0-1. `logged`: `signed_log(x)` when the caller has it already."""
        from joblib import parallel_config

        z = signed_log(x) if logged is None else logged
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


def fit_isolation_forest(x: np.ndarray, seed: int = 0, n_estimators: int = 100, max_samples="auto"):
    from sklearn.ensemble import IsolationForest

    forest = IsolationForest(n_estimators=n_estimators, max_samples=max_samples, random_state=seed, n_jobs=1)
    forest.fit(signed_log(x))
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
    """IsolationForest on presumed-normal rows (label != 1), plus the cluster context on all rows."""
    normal = x if labels is None else x[labels != 1]
    if len(normal) < 2:
        raise ValueError("the anomaly model needs at least two presumed-normal rows")
    forest = fit_isolation_forest(normal, seed, n_estimators=n_estimators)
    clusters = fit_clusters(x, labels, seed) if with_clusters and len(x) >= 10 else None
    return AnomalyModel(forest, features, clusters)
