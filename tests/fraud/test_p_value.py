"""The shuffled-label test that keeps a model ranked on a handful of addresses from being served."""

from __future__ import annotations

import numpy as np
import pytest

from ops.fraud.promotion import promotion_refusal
from ops.fraud.uncertainty import auc_p_value, bootstrap_ci, roc_auc


def test_a_perfect_ranking_of_five_addresses_is_what_a_random_score_does_one_time_in_five():
    y, p = np.array([0, 0, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4, 0.9])
    assert roc_auc(y, p) == 1.0
    assert bootstrap_ci(roc_auc, y, [p], np.arange(5), resamples=200) == (1.0, 1.0)  # the bootstrap cannot tell
    assert auc_p_value(y, p) == pytest.approx(1 / 5)


def test_exact_values_match_the_count_of_arrangements():
    y = np.array([1, 1, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.0])
    assert auc_p_value(y, p) == pytest.approx(1 / 15)  # C(6, 2) arrangements, one as good
    tied = np.array([0.5] * 6)
    assert auc_p_value(y, tied) == 1.0  # a constant score: every arrangement does as well


def test_large_samples_use_shuffles_and_find_real_skill():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    skilled = y + rng.normal(0, 0.8, 400)
    assert auc_p_value(y, skilled, shuffles=2000) < 0.01
    assert auc_p_value(y, rng.normal(size=400), shuffles=2000) > 0.01


def test_promotion_refuses_a_perfect_model_on_too_few_addresses():
    metrics = {"roc_auc": 1.0, "roc_auc_ci_low": 1.0, "roc_auc_ci_high": 1.0, "roc_auc_p_value": 0.2, "rows": 5.0}
    refusal = promotion_refusal(metrics, 0.9)
    assert refusal and "too few to tell" in refusal and "0.2" in refusal
    assert promotion_refusal({**metrics, "roc_auc_p_value": 0.001}, 0.9) is None
