"""Exact path-dependent TreeSHAP for scikit-learn's HistGradientBoosting trees, vectorized over rows.

Why here: `shap` does not ship for this environment, and the booster's trees (`_predictors`) carry
what TreeSHAP needs: split feature, threshold, where missing values go and the training count of
every node (the "cover").

How: TreeSHAP explains the game f_x(S) = sum over leaves l of v_l * prod over the distinct features
d on l's path of (z_ld(x) if d in S else r_ld), where z_ld(x) is 1 when x satisfies every split
on d along the path and r_ld the product of the cover ratios of those splits (Lundberg et al.,
2020, the expectation TreeSHAP's recursion computes). Shapley values are linear in the leaves and a
product game has a closed form, so each leaf's attributions depend only on its bit pattern z_l(x):
they are tabulated once per leaf (2^|D_l| rows) and every row looks its pattern up. The sum of a
row's attributions plus the expected value is its raw margin exactly (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial

import numpy as np

#: A leaf whose path splits on more distinct features than this is tabulated anyway (2^k rows);
#: boosted trees of 31 leaves stay far below it, it only bounds memory.
MAX_PATH_FEATURES = 18
#: Rows explained at a time (the per-tree work arrays stay in cache).
CHUNK_ROWS = 16384


@dataclass
class _Leaf:
    value: float
    features: np.ndarray  # distinct features on the path
    conditions: list[list[tuple[int, bool]]]  # per feature: (internal node, goes left) along the path
    cover: np.ndarray  # per feature: product of the cover ratios of its splits
    table: np.ndarray | None = None  # (2^k, k) attributions by pattern
    drop: np.ndarray | None = None  # (2^k, k) leave-one-out drops by pattern (built on demand)


@dataclass
class _Tree:
    feature: np.ndarray  # per internal node (compact index)
    threshold: np.ndarray
    missing_left: np.ndarray
    leaves: list[_Leaf]


@dataclass
class TreeShap:
    """Attributions of a booster's raw margin (log-odds for a binary classifier)."""

    trees: list[_Tree]
    n_features: int
    expected_value: float
    _tabulated: bool = field(default=False, repr=False)

    @classmethod
    def from_booster(cls, booster) -> TreeShap:
        """From a fitted binary HistGradientBoostingClassifier (or regressor)."""
        trees = [_tree(predictors[0].nodes) for predictors in booster._predictors]
        baseline = float(np.ravel(booster._baseline_prediction)[0])
        expected = baseline + sum(sum(leaf.value * np.prod(leaf.cover) for leaf in t.leaves) for t in trees)
        return cls(trees, int(booster.n_features_in_), expected)

    def __getstate__(self):  # the tables are rebuilt on first use, not pickled
        state = dict(self.__dict__)
        state["trees"] = [_Tree(t.feature, t.threshold, t.missing_left,
                                [_Leaf(lf.value, lf.features, lf.conditions, lf.cover) for lf in t.leaves])
                          for t in self.trees]
        state["_tabulated"] = False
        return state

    def prepare(self) -> TreeShap:
        """Build the per-leaf tables now (about a second for 200 trees; otherwise on the first call)."""
        self._tabulate()
        return self

    def _tabulate(self) -> None:
        if not self._tabulated:
            for tree in self.trees:
                for leaf in tree.leaves:
                    leaf.table = np.ascontiguousarray(_leaf_table(leaf.value, leaf.cover).T).T
            self._tabulated = True

    def shap_values(self, x: np.ndarray, chunk: int = CHUNK_ROWS) -> np.ndarray:
        """(rows, features) float64 attributions; each row sums to margin(x) - expected_value."""
        self._tabulate()
        return self._accumulate(x, "table", chunk)

    def path_occlusion(self, x: np.ndarray, chunk: int = CHUNK_ROWS) -> np.ndarray:
        """(rows, features): margin(x) - f_x(all features but j), the drop when feature j is removed the
        trees' own way (both branches of its splits, weighted by cover): leave-one-out on TreeSHAP's game."""
        for tree in self.trees:
            for leaf in tree.leaves:
                if leaf.drop is None:
                    leaf.drop = _leaf_drop(leaf.value, leaf.cover)
        return self._accumulate(x, "drop", chunk)

    def _accumulate(self, x: np.ndarray, kind: str, chunk: int) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        out = np.zeros((self.n_features, len(x)), dtype=np.float64)  # feature-major: contiguous adds
        for start in range(0, len(x), chunk):
            self._chunk(x[start : start + chunk], out[:, start : start + chunk], kind)
        return out.T

    def _chunk(self, x: np.ndarray, out: np.ndarray, kind: str = "table") -> None:
        n = len(x)
        cols = np.ascontiguousarray(x.T)
        nan = np.isnan(cols)
        pattern = np.empty(n, dtype=np.int32)
        for tree in self.trees:
            left = np.empty((len(tree.feature), n), dtype=bool)
            for k, (f, t, m) in enumerate(zip(tree.feature, tree.threshold, tree.missing_left, strict=True)):
                np.less_equal(cols[f], t, out=left[k])
                if m:
                    left[k] |= nan[f]
            right = ~left
            for leaf in tree.leaves:
                if not len(leaf.features):
                    continue
                pattern[:] = 0
                for bit, conds in enumerate(leaf.conditions):
                    (node, goes_left), *rest = conds
                    z = (left if goes_left else right)[node]
                    if rest:
                        z = z.copy()
                        for node, goes_left in rest:
                            z &= (left if goes_left else right)[node]
                    np.bitwise_or(pattern, np.left_shift(z, bit, dtype=np.int32), out=pattern)
                out[leaf.features] += getattr(leaf, kind).T.take(pattern, axis=1)


def _tree(nodes: np.ndarray) -> _Tree:
    internal = np.flatnonzero(nodes["is_leaf"] == 0)
    compact = {int(node): k for k, node in enumerate(internal)}
    leaves: list[_Leaf] = []

    def walk(node: int, path: list[tuple[int, bool, int, float]]) -> None:
        rec = nodes[node]
        if rec["is_leaf"]:
            by_feature: dict[int, tuple[list, float]] = {}
            for k, goes_left, feature, ratio in path:
                conds, cover = by_feature.get(feature, ([], 1.0))
                by_feature[feature] = ([*conds, (k, goes_left)], cover * ratio)
            feats = np.array(sorted(by_feature), dtype=np.int64)
            if len(feats) > MAX_PATH_FEATURES:
                raise ValueError(f"a leaf path splits on {len(feats)} features (> {MAX_PATH_FEATURES})")
            leaves.append(_Leaf(float(rec["value"]), feats, [by_feature[f][0] for f in feats],
                                np.array([by_feature[f][1] for f in feats], dtype=np.float64)))
            return
        k, f, count = compact[node], int(rec["feature_idx"]), float(rec["count"])
        for child, goes_left in ((int(rec["left"]), True), (int(rec["right"]), False)):
            walk(child, [*path, (k, goes_left, f, float(nodes[child]["count"]) / count if count else 0.5)])

    walk(0, [])
    return _Tree(nodes["feature_idx"][internal].astype(np.int64), nodes["num_threshold"][internal].astype(np.float64),
                 nodes["missing_go_to_left"][internal].astype(bool), leaves)


def _leaf_table(value: float, cover: np.ndarray) -> np.ndarray:
    """Shapley values of g(S) = value * prod_d (a_d if d in S else cover_d), for every binary a.

    phi_i = value * (a_i - cover_i) * sum_s s!(m-s)!/(m+1)! * e_s, e_s the coefficient of t^s in
    prod over the other features of (cover_d + a_d t), m = k - 1.
    """
    k = len(cover)
    patterns = np.arange(2**k, dtype=np.int64)
    a = ((patterns[:, None] >> np.arange(k)) & 1).astype(np.float64)
    m = k - 1
    weights = np.array([factorial(s) * factorial(m - s) / factorial(m + 1) for s in range(k)])
    table = np.empty((2**k, k), dtype=np.float64)
    for i in range(k):
        e = np.zeros((2**k, k), dtype=np.float64)
        e[:, 0] = 1.0
        for d in range(k):
            if d == i:
                continue
            shifted = np.zeros_like(e)
            shifted[:, 1:] = e[:, :-1] * a[:, d : d + 1]
            e = e * cover[d] + shifted
        table[:, i] = value * (a[:, i] - cover[i]) * (e @ weights)
    return table


def _leaf_drop(value: float, cover: np.ndarray) -> np.ndarray:
    """g(all) - g(all but i) of the same product game, for every binary a: value * (prod a - cover_i * prod_{d != i} a)."""
    k = len(cover)
    patterns = np.arange(2**k, dtype=np.int64)
    a = ((patterns[:, None] >> np.arange(k)) & 1).astype(bool)
    every = a.all(axis=1).astype(np.float64)
    out = np.empty((2**k, k), dtype=np.float64)
    for i in range(k):
        others = np.delete(a, i, axis=1).all(axis=1).astype(np.float64)
        out[:, i] = value * (every - cover[i] * others)
    return np.ascontiguousarray(out.T).T
