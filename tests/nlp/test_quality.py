"""Translation quality figures carry their intervals: bootstrap CIs of BLEU/chrF and of the paired gain over copying."""

from __future__ import annotations

import pytest

from ops.nlp.quality import score

REFERENCES = [f"Der Preis von Token {i} stieg heute um {i} Prozent." for i in range(40)]
SOURCES = [f"The price of token {i} rose today by {i} percent." for i in range(40)]


def test_perfect_translations_have_a_degenerate_interval_and_a_clear_gain():
    s = score(REFERENCES, REFERENCES, SOURCES, "en-de", resamples=200)
    assert s.bleu == 100.0 and s.bleu_ci95 == (100.0, 100.0)
    assert s.copy_bleu < 30
    low, high = s.bleu_gain_ci95
    assert low > 50 and high <= 100 - s.copy_bleu + 15


def test_noisy_translations_have_an_interval_around_the_point_score():
    half_wrong = [ref if i % 2 else "Etwas völlig anderes." for i, ref in enumerate(REFERENCES)]
    s = score(half_wrong, REFERENCES, SOURCES, "en-de", resamples=300)
    low, high = s.bleu_ci95
    assert low < s.bleu < high and high - low > 1
    clow, chigh = s.chrf_ci95
    assert clow < s.chrf < chigh


def test_no_better_than_copying_has_a_gain_interval_around_zero():
    s = score(SOURCES, REFERENCES, SOURCES, "en-de", resamples=200)
    assert s.bleu == s.copy_bleu
    assert s.bleu_gain_ci95 == pytest.approx((0.0, 0.0))


def test_intervals_are_reproducible_with_a_seed():
    half_wrong = [ref if i % 3 else "Nein." for i, ref in enumerate(REFERENCES)]
    a = score(half_wrong, REFERENCES, SOURCES, "en-de", resamples=100, seed=4)
    b = score(half_wrong, REFERENCES, SOURCES, "en-de", resamples=100, seed=4)
    assert a == b
