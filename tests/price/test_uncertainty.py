"""How sure an MAE comparison is: block-bootstrap CI of the ratio, Diebold-Mariano, the AR(1) baseline."""

from __future__ import annotations

import numpy as np
import pytest

from ops.price.uncertainty import (
    AR1,
    PERSISTENCE,
    TRAIN_MEAN,
    block_length,
    compare,
    diebold_mariano,
    fit_ar1,
    mae_ratio_ci,
    newey_west_variance,
)


def errors(n: int, seed: int = 0, scale: float = 1.0) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).standard_t(4, size=n)) * scale


def test_identical_forecasts_have_ratio_one_a_ci_around_it_and_no_dm_evidence():
    e = errors(500)
    ci = mae_ratio_ci(e, e.copy(), horizon=3)
    assert ci.ratio == 1.0 and ci.low <= 1.0 <= ci.high
    dm = diebold_mariano(e, e.copy(), horizon=3)
    assert dm.stat == 0.0 and dm.pvalue == 1.0


def test_a_clearly_better_model_has_a_ci_above_one_and_a_small_p():
    base = errors(800, seed=1)
    model = base * 0.8 + 0.01 * errors(800, seed=2)
    ci = mae_ratio_ci(base, model)
    assert ci.low > 1.0 and ci.low <= ci.ratio <= ci.high
    dm = diebold_mariano(base, model)
    assert dm.stat > 5 and dm.pvalue < 1e-6
    worse = diebold_mariano(model, base)  # the sign says who is better; the p-value is two-sided
    assert worse.stat == pytest.approx(-dm.stat) and worse.pvalue == pytest.approx(dm.pvalue)


def test_noise_is_not_an_edge():
    base, model = errors(800, seed=3), errors(800, seed=4)
    ci = mae_ratio_ci(base, model)
    assert ci.low < 1.0 < ci.high
    assert diebold_mariano(base, model).pvalue > 0.01


def test_the_ci_widens_as_rows_shrink_and_is_reproducible():
    base = errors(4000, seed=5)
    model = errors(4000, seed=6) * 0.98
    cis = [mae_ratio_ci(base[:n], model[:n]) for n in (4000, 1000, 100)]
    widths = [c.high - c.low for c in cis]
    assert widths[0] < widths[1] < widths[2]
    assert mae_ratio_ci(base, model) == mae_ratio_ci(base, model)  # fixed seed
    assert mae_ratio_ci(base, model, seed=1) != mae_ratio_ci(base, model)


def test_block_length_grows_with_the_cube_root_and_covers_the_overlap():
    assert block_length(1000) == 10 and block_length(1000, horizon=12) == 12 and block_length(5) == 2
    assert mae_ratio_ci(errors(1000), errors(1000, seed=1)).block == 10


def test_newey_west_adds_the_autocovariance_of_overlapping_targets():
    rng = np.random.default_rng(7)
    shocks = rng.normal(size=20_003)
    d = shocks[2:] + shocks[1:-1] + shocks[:-2]  # MA(2), as 3-bar overlapping targets are
    assert newey_west_variance(d, 0) == pytest.approx(3, rel=0.05)
    # Bartlett weights at lag 2: 3 + 2 * (2/3 * 2 + 1/3 * 1) = 6.33 (the true long-run variance is 9).
    assert newey_west_variance(d, 2) == pytest.approx(3 + 2 * (2 / 3 * 2 + 1 / 3), rel=0.05)


def test_pooled_symbols_are_resampled_and_tested_per_time_point():
    base, model = errors(600, seed=8), errors(600, seed=9) * 0.9
    time = np.repeat(np.arange(300), 2)  # two symbols per time point
    ci = mae_ratio_ci(base, model, time=time)
    assert ci.ratio == pytest.approx(base.sum() / model.sum()) and ci.block == block_length(300)
    dm = diebold_mariano(base, model, time=time)
    assert dm.n == 300
    assert dm.mean_diff == pytest.approx((base - model).mean())


def test_ar1_recovers_a_known_coefficient_and_iterates_to_h_bars():
    rng = np.random.default_rng(10)
    r = np.zeros(5000)
    for t in range(1, len(r)):
        r[t] = 0.001 + 0.5 * r[t - 1] + rng.normal(0, 0.01)
    fit = fit_ar1(r[:-1], r[1:])
    assert fit.phi == pytest.approx(0.5, abs=0.03) and fit.intercept == pytest.approx(0.001, abs=0.0005)
    one = fit.forecast(np.array([0.02]), 1)
    two = fit.forecast(np.array([0.02]), 2)
    assert one[0] == pytest.approx(fit.intercept + fit.phi * 0.02)
    assert two[0] == pytest.approx(one[0] + fit.intercept + fit.phi * one[0])
    assert fit_ar1(np.array([np.nan, 1.0]), np.array([1.0, 2.0])).phi == 0.0  # too few pairs: the mean


def test_compare_picks_the_lowest_mae_baseline():
    rng = np.random.default_rng(11)
    y = 0.01 + rng.normal(0, 0.01, 1000)
    baselines = {PERSISTENCE: np.zeros_like(y), TRAIN_MEAN: np.full_like(y, 0.01), AR1: np.full_like(y, 0.02)}
    result = compare(y, y * 0.5 + 0.005, baselines)
    assert result.baseline == TRAIN_MEAN
    assert result.mae_baselines[TRAIN_MEAN] < result.mae_baselines[PERSISTENCE]
    assert result.ci.ratio == pytest.approx(result.mae_baselines[TRAIN_MEAN] / np.abs(y * 0.5 - 0.005).mean())
    assert result.ci.low > 1 and result.dm.pvalue < 0.01
