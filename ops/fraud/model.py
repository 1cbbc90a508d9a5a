"""The supervised fraud classifier: grouped splits, a calibrated boosted-tree model, its thresholds.

- Splits are grouped by address (the public file repeats 25 addresses): an address is never on
  two sides of a split, so the held-out figures measure unseen accounts. Three parts: training
  (60 %), calibration (20 %: the thresholds and the fusion stacker are chosen there) and held-out
  (20 %: every reported figure), so no reported figure comes from rows that chose anything.
- The classifier is one scikit-learn HistGradientBoostingClassifier (native missing values: the
  public rows without an ERC-20 history keep NaN) and one isotonic map fitted on its out-of-fold
  log-odds (CalibratedClassifierCV with ensemble=False, folds grouped by address): a probability
  of 0.9 means about nine in ten such addresses are fraudulent, and, one booster being the model,
  its exact per-row TreeSHAP attributions are the reasons (`ops.fraud.treeshap`).
- Every held-out figure has its address-bootstrap 95 % CI and stands beside the logistic
  regression baseline (`ops.fraud.baseline`) and the prior (ROC-AUC 0.5, PR-AUC the base rate),
  and beside itself on the rows with no missing value (the public rows without an ERC-20 history
  are all fraud, a gap our own chain features never have).
- Thresholds are the lowest probability cut whose calibration-split precision reaches each target
  (0.80, 0.90, 0.95); their precision and recall are reported on the held-out split.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ops.fraud.baseline import LogisticBaseline
from ops.fraud.drift import ReferenceHistograms, reference_histograms
from ops.fraud.figures import figures_with_baselines
from ops.fraud.fusion import Fusion, FusionReport, context_matrix, cross_fitted, evaluate_fusion
from ops.fraud.schema import FEATURES
from ops.fraud.treeshap import TreeShap
from ops.fraud.uncertainty import RESAMPLES

#: Model-store names of the classifier and the anomaly model (assets write them, the API reads them).
FRAUD_MODEL = "fraud_model"
ANOMALY_MODEL = "anomaly_model"
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
    #: Address resamples behind each 95 % CI.
    bootstrap: int = RESAMPLES
    #: Evaluate fusing the anomaly and cluster context into the score (needs enough labelled rows).
    fusion: bool = True


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
    explainer: TreeShap | None
    reference: ReferenceHistograms
    metrics: dict[str, float] = field(default_factory=dict)
    #: The fused score, only when the held-out evaluation showed it beats the classifier alone.
    fusion: Fusion | None = None
    fusion_note: str = ""

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """The calibrated classifier's probability."""
        return self.classifier.predict_proba(x)[:, 1]

    def score_proba(self, x: np.ndarray) -> np.ndarray:
        """What the 0-100 score is: the fused probability when fusion won, else the classifier's."""
        p = self.predict_proba(x)
        fusion = getattr(self, "fusion", None)
        return fusion.fuse(p, x) if fusion is not None else p

    @property
    def score_basis(self) -> str:
        return "fused" if getattr(self, "fusion", None) is not None else "classifier"

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The booster's log-odds (what the reasons attribute; the isotonic map is monotone in it)."""
        return booster_of(self.classifier).decision_function(x)

    def reason_cut(self) -> float:
        """Rows at or above this probability are flagged (band above low) and get reasons."""
        return min(self.band_cuts()[0], 0.5)

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


def three_way_split(groups: Sequence[str], labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0):
    """(train_idx, calibration_idx, test_idx), grouped by address; calibration and test about
    `test_fraction` of the addresses each."""
    folds = grouped_folds(groups, labels, max(3, round(1 / test_fraction)), seed)
    test, calibration = folds[0][1], folds[1][1]
    train = np.setdiff1d(np.arange(len(labels)), np.concatenate([test, calibration]))
    return train, calibration, test


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
    # ensemble=False: one booster on all rows, one isotonic map on its out-of-fold log-odds, so the
    # served model is a single tree ensemble whose attributions are exact.
    model = CalibratedClassifierCV(booster, method="isotonic", cv=cv, ensemble=False)
    model.fit(x, y)
    return model


def booster_of(classifier):
    """The boosted-tree model inside the calibrated classifier."""
    return classifier.calibrated_classifiers_[0].estimator


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
    fusion: FusionReport | None = None
    holdout_baseline_p: np.ndarray | None = None


def threshold_metrics(thresholds: Sequence[Threshold], y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Each calibration-split cut, and the precision and recall it gives on (y, p) (held-out rows)."""
    out: dict[str, float] = {}
    for t in thresholds:
        out[f"threshold_{t.name}"] = t.threshold if t.threshold is not None else math.nan
        flagged = p >= t.threshold if t.threshold is not None else np.zeros(len(p), dtype=bool)
        tp = float(np.sum(flagged & (y == 1)))
        out[f"precision_at_{t.name}"] = tp / flagged.sum() if flagged.any() else math.nan
        out[f"recall_at_{t.name}"] = tp / max(float(np.sum(y == 1)), 1.0)
    return out


def _anomaly_context(x_train, y_train, features, seed):
    from ops.fraud.anomaly import fit_anomaly_model

    return fit_anomaly_model(x_train, y_train, tuple(features), seed=seed)


def train_fraud_model(
    x: np.ndarray,
    y: np.ndarray,
    addresses: Sequence[str],
    params: TrainParams = TrainParams(),
    features: Sequence[str] = FEATURES,
    test_fraction: float = 0.2,
    progress=None,
) -> TrainingResult:
    """Evaluate on a three-way grouped split, then fit the served model on every row.

    The evaluation model is fitted on the training part; the thresholds (and, when evaluated, the
    fusion stacker) are chosen on its calibration-part predictions; every reported figure is on
    the held-out part. The served model, trained on all rows, uses those thresholds as they are
    (both are calibrated). `progress(step: str)` is called between the stages (the asset logs them).
    """
    say = progress or (lambda _step: None)
    y = y.astype(int)
    _require_both_classes(y)
    groups = np.asarray(addresses)
    train, cal, test = three_way_split(groups, y, test_fraction, params.seed)
    for part, name in ((train, "training"), (cal, "calibration"), (test, "held-out")):
        if len(np.unique(y[part])) < 2:
            raise ValueError(f"the {name} split has one class only: too few labelled addresses of a class")
    say(f"evaluation model on {len(train)} rows; {len(cal)} calibration rows, {len(test)} held out (grouped by address)")
    evaluation = fit_classifier(x[train], y[train], groups[train], params)
    p_cal = evaluation.predict_proba(x[cal])[:, 1]
    p_test = evaluation.predict_proba(x[test])[:, 1]
    baseline = LogisticBaseline().fit(x[train], y[train])
    b_test = baseline.predict_proba(x[test])
    complete = ~np.isnan(x[test]).any(axis=1)
    metrics = figures_with_baselines(y[test], p_test, b_test, complete, groups[test], params.bootstrap, params.seed)
    metrics.update({k: v for k, v in classification_metrics(y[test], p_test).items() if k not in metrics})
    metrics["calibration_rows"] = float(len(cal))

    report = FusionReport(False, False, "not evaluated")
    context = None
    if params.fusion:
        try:
            context = _anomaly_context(x[train], y[train], features, params.seed)
            report = evaluate_fusion(p_cal, context_matrix(context, x[cal]), y[cal], p_test,
                                     context_matrix(context, x[test]), y[test], groups[test],
                                     params.bootstrap, params.seed)
        except ValueError as exc:  # e.g. too few rows to cluster
            report = FusionReport(False, False, f"not evaluated: {exc}")
    metrics.update(report.metrics())
    say(report.note)
    thresholds = precision_thresholds(y[cal], p_cal)
    scored_test = p_test
    if report.fused:  # the bands cut the fused score: thresholds on cross-fitted calibration scores
        held_out = Fusion(context, report.stacker)
        fused_cal = cross_fitted(p_cal, context_matrix(held_out.anomaly, x[cal]), y[cal], groups[cal], params.seed)
        thresholds = precision_thresholds(y[cal], fused_cal)
        scored_test = held_out.fuse(p_test, x[test])
    metrics.update(threshold_metrics(thresholds, y[test], scored_test))
    say(f"held-out ROC-AUC {metrics['roc_auc']:.4f} (95 % CI {metrics['roc_auc_ci_low']:.4f}-"
        f"{metrics['roc_auc_ci_high']:.4f}); fitting the served model on all {len(y)} rows")
    final = fit_classifier(x, y, groups, params)
    fusion = None
    if report.fused:
        fusion = Fusion(_anomaly_context(x, y, features, params.seed), report.stacker)
    model = FraudModel(
        classifier=final,
        features=tuple(features),
        thresholds=thresholds,
        explainer=TreeShap.from_booster(booster_of(final)),
        reference=reference_histograms(x, tuple(features)),
        metrics=metrics,
        fusion=fusion,
        fusion_note=report.note,
    )
    return TrainingResult(model, y[test], scored_test, [addresses[i] for i in test], metrics, report, b_test)


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
