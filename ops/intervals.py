"""Confidence intervals every domain's evaluation reports beside its figures.

A figure without its uncertainty cannot be told from its baseline: 31 of 31 proxies found is a
recall of 1.0, but one as low as 0.89 fits the same evidence. Proportions use the Wilson score
interval, sound at 0 and n successes where the normal interval collapses to a point.
"""

from __future__ import annotations

import math

Z95 = 1.959964


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion successes / n ((0, 1) when n is 0: nothing is known)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: int, n: int) -> str:
    """`0.968 [0.838, 0.994] (30/31)`: a proportion as a report shows it."""
    if n == 0:
        return "- (0/0)"
    low, high = wilson(successes, n)
    return f"{successes / n:.3f} [{low:.3f}, {high:.3f}] ({successes}/{n})"
