"""The Wilson interval every evaluation reports, against values worked by hand."""

from __future__ import annotations

import pytest

from ops.intervals import proportion, wilson


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Reference values: Wilson's formula worked by hand (z = 1.96), e.g. Newcombe (1998), table I.
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (81, 263, 0.2553, 0.3662)],
)
def test_wilson_interval_matches_reference_values(successes, n, low, high):
    got = wilson(successes, n)
    assert got == pytest.approx((low, high), abs=5e-4)
    assert proportion(successes, n).endswith(f"({successes}/{n})")


def test_no_observations_know_nothing():
    assert wilson(0, 0) == (0.0, 1.0) and proportion(0, 0) == "- (0/0)"
