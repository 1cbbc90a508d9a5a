"""The one retry-wait rule the chain client and the API's dependencies share."""

import pytest

from ops.backoff import backoff_seconds


def test_waits_grow_by_the_factor_spread_by_the_jitter_and_stop_at_the_cap():
    waits = [backoff_seconds(n, base=0.5, factor=2.0, cap=3.0, jitter=0.1, draw=0.0) for n in range(1, 6)]
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_seconds(2, base=0.5, factor=2.0, cap=3.0, jitter=0.1, draw=0.999) == pytest.approx(1.0999)
    assert backoff_seconds(3, base=0.5, factor=2.0, cap=2.1, jitter=0.1, draw=0.9) == 2.1  # jitter stays under the cap
    with pytest.raises(ValueError, match="from 1"):
        backoff_seconds(0, base=0.5, factor=2.0, cap=3.0, jitter=0.1, draw=0.0)
