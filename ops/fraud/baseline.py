"""The baseline every fraud figure stands beside: logistic regression on log-scaled features.

A boosted model earns its complexity only if it beats a linear one on the same split. Inputs are
`signed_log` values (counts and ether amounts span ten orders of magnitude), one indicator per
feature for a missing value (the public rows without an ERC-20 history), standardized.
"""

from __future__ import annotations

import numpy as np

from ops.fraud.matrix import signed_log


class LogisticBaseline:
    def __init__(self, c: float = 1.0):
        self.c = c

    def _design(self, x: np.ndarray) -> np.ndarray:
        return np.hstack([signed_log(x).astype(np.float64), np.isnan(x).astype(np.float64)])

    def fit(self, x: np.ndarray, y: np.ndarray) -> LogisticBaseline:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model = make_pipeline(StandardScaler(), LogisticRegression(C=self.c, max_iter=2000))
        self.model.fit(self._design(x), y)
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self._design(x))[:, 1]
