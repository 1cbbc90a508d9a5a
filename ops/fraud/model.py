"""The supervised fraud classifier: grouped splits, a calibrated boosted-tree model, its thresholds.

- Splits are grouped by address (the public file repeats 25 addresses): an address is never on
  both sides of a split, so the held-out figures measure unseen accounts.
- The classifier is scikit-learn's HistGradientBoostingClassifier (native missing values: the
  public rows without an ERC-20 history keep NaN) wrapped in CalibratedClassifierCV (isotonic,
  folds grouped by address), so a probability of 0.9 means about nine in ten such addresses are
  fraudulent, and the 0-100 score and the thresholds mean what they say.
- Thresholds are the lowest probability cut whose held-out precision reaches each target
  (0.80, 0.90, 0.95), with the recall it keeps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ops.fraud.drift import ReferenceHistograms, reference_histograms
from ops.fraud.reasons import Evidence, fit_evidence
from ops.fraud.schema import FEATURES

PRECISION_TARGETS = (0.80, 0.90, 0.95)
BANDS = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class TrainParams:
    """Boosting settings; the defaults are what the fraud_model asset trains with."""

    max_iter: int = 200
    learning_rate: float = 0.08
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 20
    l2_regularization: float = 1.0
    calibration_folds: int = 3
    seed: int = 0


@dataclass(frozen=True)
class Threshold:
    precision_target: float
    threshold: float | None  # None: no cut reaches the target on held-out data
    precision: float | None
    recall: float | None

    @property
    def name(self) -> str:
        return f"p{round(self.precision_target * 100)}"


@dataclass
class FraudModel:
    """What the fraud_model asset stores and serving loads: the classifier and what explains it."""

    classifier: Any
    features: tuple[str, ...]
    thresholds: list[Threshold]
    evidence: Evidence
    reference: ReferenceHistograms
    metrics: dict[str, float] = field(default_factory=dict)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.classifier.predict_proba(x)[:, 1]

    def band_cuts(self) -> list[float]:
        """Probability cuts between the bands (low | medium | high | critical), increasing."""
        cuts = []
        for t in self.thresholds:
            cut = t.threshold if t.threshold is not None else 1.0 + 1e-9
            cuts.append(max(cut, cuts[-1]) if cuts else cut)
        return cuts


# -- splits ---------------------------------------------------------------------------------------
def grouped_folds(groups: Sequence[str], labels: np.ndarray, n_splits: int, seed: int = 0) -> list:
    """`n_splits` (train_idx, test_idx) folds, stratified by label, grouped so no address is on both sides.

    Each address takes its highest label (an address flagged once is a fraud address); the
    addresses of each label are shuffled and dealt round-robin to the folds, and rows follow their
    address. The same idea as scikit-learn's StratifiedGroupKFold, which searches fold assignments
    group by group in Python and takes seconds on ten thousand addresses.
    """
    groups = np.asarray(groups)
    uniq, inverse = np.unique(groups, return_inverse=True)
    group_label = np.zeros(len(uniq), dtype=np.int64)
    np.maximum.at(group_label, inverse, labels.astype(np.int64))
    rng = np.random.default_rng(seed)
    fold_of_group = np.empty(len(uniq), dtype=np.int64)
    offset = 0
    for label in np.unique(group_label):
        members = rng.permutation(np.flatnonzero(group_label == label))
        fold_of_group[members] = (np.arange(len(members)) + offset) % n_splits
        offset += len(members)
    fold = fold_of_group[inverse]
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(n_splits)]


def grouped_split(groups: Sequence[str], labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0):
    """(train_idx, test_idx): one fold of `grouped_folds`, about `test_fraction` of the addresses."""
    return grouped_folds(groups, labels, max(2, round(1 / test_fraction)), seed)[0]


# -- training -------------------------------------------------------------------------------------
def fit_classifier(x: np.ndarray, y: np.ndarray, groups: Sequence[str], params: TrainParams = TrainParams()):
    """A calibrated HistGradientBoosting classifier (isotonic, calibration folds grouped by address)."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier

    _require_both_classes(y)
    booster = HistGradientBoostingClassifier(
        max_iter=params.max_iter,
        learning_rate=params.learning_rate,
        max_leaf_nodes=params.max_leaf_nodes,
        # A leaf of 20 on a devnet's couple of dozen labelled addresses would forbid every split (a
        # constant model); small sets get leaves of an eighth of the rows, at least 2.
        min_samples_leaf=min(params.min_samples_leaf, max(2, len(y) // 8)),
        l2_regularization=params.l2_regularization,
        early_stopping=False,
        random_state=params.seed,
    )
    folds = min(params.calibration_folds, int(np.bincount(y.astype(int)).min()))
    if folds < 2:
        raise ValueError("calibration needs at least two labelled addresses of each class")
    cv = grouped_folds(groups, y, folds, params.seed)
    model = CalibratedClassifierCV(booster, method="isotonic", cv=cv)
    model.fit(x, y)
    return model


def _require_both_classes(y: np.ndarray) -> None:
    classes = set(np.unique(y).tolist())
    if classes != {0, 1}:
        raise ValueError(f"training needs fraud (1) and normal (0) labels; found only {sorted(classes)}")


def precision_thresholds(y: np.ndarray, p: np.ndarray, targets: Sequence[float] = PRECISION_TARGETS) -> list[Threshold]:
    """For each precision target, the lowest cut whose precision on (y, p) reaches it (most recall)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(y, p)
    out = []
    for target in targets:
        ok = np.flatnonzero(precision[:-1] >= target)  # the last point (recall 0) has no cut
        if ok.size == 0:
            out.append(Threshold(target, None, None, None))
            continue
        i = ok[0]
        out.append(Threshold(target, float(cuts[i]), float(precision[i]), float(recall[i])))
    return out


def classification_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC-AUC, PR-AUC (average precision), accuracy at 0.5, Brier score, base rate."""
    from sklearn.metrics import accuracy_score, average_precision_score, brier_score_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "accuracy": float(accuracy_score(y, p >= 0.5)),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": float(np.mean(y)),
        "rows": float(len(y)),
    }


@dataclass
class TrainingResult:
    model: FraudModel
    holdout_y: np.ndarray
    holdout_p: np.ndarray
    holdout_addresses: list[str]
    metrics: dict[str, float]


def train_fraud_model(
    x: np.ndarray,
    y: np.ndarray,
    addresses: Sequence[str],
    params: TrainParams = TrainParams(),
    features: Sequence[str] = FEATURES,
    test_fraction: float = 0.2,
    progress=None,
) -> TrainingResult:
    """Evaluate on a grouped held-out split, then fit the served model on every row.

    The thresholds come from the held-out predictions of the evaluation model (a model never sees
    its own held-out rows); the served model, trained on all rows, uses them as they are.
    `progress(step: str)` is called between the stages (the asset logs them).
    """
    say = progress or (lambda _step: None)
    y = y.astype(int)
    _require_both_classes(y)
    train, test = grouped_split(addresses, y, test_fraction, params.seed)
    say(f"evaluation model on {len(train)} rows, {len(test)} held out (grouped by address)")
    groups = np.asarray(addresses)
    evaluation = fit_classifier(x[train], y[train], groups[train], params)
    p_test = evaluation.predict_proba(x[test])[:, 1]
    metrics = classification_metrics(y[test], p_test)
    thresholds = precision_thresholds(y[test], p_test)
    for t in thresholds:
        metrics[f"threshold_{t.name}"] = t.threshold if t.threshold is not None else math.nan
        metrics[f"recall_at_{t.name}"] = t.recall if t.recall is not None else 0.0
    say(f"held-out ROC-AUC {metrics['roc_auc']:.4f}; fitting the served model on all {len(y)} rows")
    final = fit_classifier(x, y, groups, params)
    say("reason-code evidence (partial dependence) and drift reference")
    evidence = fit_evidence(final, x, tuple(features), seed=params.seed)
    model = FraudModel(
        classifier=final,
        features=tuple(features),
        thresholds=thresholds,
        evidence=evidence,
        reference=reference_histograms(x, tuple(features)),
        metrics=metrics,
    )
    return TrainingResult(model, y[test], p_test, [addresses[i] for i in test], metrics)


# -- artifacts ------------------------------------------------------------------------------------
def to_bytes(model: object) -> bytes:
    """Pickle a fitted model for the model store (which checksums it; only our own store is loaded)."""
    import pickle

    return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def from_bytes(payload: bytes, expected: type) -> object:
    import pickle

    model = pickle.loads(payload)  # our own artifact, verified against its manifest sha256
    if not isinstance(model, expected):
        raise TypeError(f"artifact holds a {type(model).__name__}, expected {expected.__name__}")
    return model
