"""How long to wait before a retry: one rule for every client that retries (the chain node, the
API's dependencies), so their waits are the same shape and a change to the rule reaches both."""

from __future__ import annotations


def backoff_seconds(retry: int, *, base: float, factor: float, cap: float, jitter: float, draw: float) -> float:
    """Seconds before retry `retry` (1 = the second attempt): `base * factor ** (retry - 1)`, raised by
    up to `jitter` of itself (`draw` uniform in [0, 1): spread so clients that failed together do not
    retry together), and never more than `cap`."""
    if retry < 1:
        raise ValueError(f"retries are counted from 1, not {retry}")
    return min(cap, base * factor ** (retry - 1) * (1.0 + jitter * draw))
