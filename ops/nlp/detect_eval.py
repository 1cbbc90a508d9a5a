"""Scoring language detectors per text length, each accuracy with its 95 % interval.

One accuracy over a whole corpus hides what users meet: detection is near perfect on a paragraph
and a coin toss on two words. So accuracy is reported per length bucket (characters after
whitespace is collapsed), each with a Wilson score interval, and two detectors run on the same
texts are compared by their paired difference (the interval of the mean of per-text
correct(ours) - correct(baseline), normal approximation), which is far tighter than comparing two
independent intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ops.intervals import Z95, wilson

#: (label, fewest characters, most characters or None).
LENGTH_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-20", 1, 20), ("21-50", 21, 50), ("51-100", 51, 100), (">100", 101, None),
)  # fmt: skip
ALL = "all"


def length_bucket(text: str) -> str:
    n = len(" ".join(text.split()))
    for label, low, high in LENGTH_BUCKETS:
        if n >= low and (high is None or n <= high):
            return label
    return LENGTH_BUCKETS[0][0]


def paired_difference(ours: Sequence[bool], baseline: Sequence[bool], z: float = Z95) -> tuple[float, float, float]:
    """Mean of correct(ours) - correct(baseline) on the same texts, with its 95 % interval."""
    n = len(ours)
    if n == 0:
        return 0.0, 0.0, 0.0
    diffs = [int(a) - int(b) for a, b in zip(ours, baseline, strict=True)]
    mean = sum(diffs) / n
    var = sum((d - mean) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    half = z * math.sqrt(var / n)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class Accuracy:
    correct: int
    n: int

    @property
    def value(self) -> float:
        return self.correct / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.correct, self.n)


@dataclass(frozen=True)
class BucketScore:
    """Every detector's accuracy on one bucket, and ours minus the reference detector, paired."""

    bucket: str
    n: int
    accuracy: dict[str, Accuracy]
    difference: tuple[float, float, float]


def score_by_length(
    texts: Sequence[str], labels: Sequence[str], predictions: Mapping[str, Sequence[str]], *, ours: str, reference: str
) -> list[BucketScore]:
    """A BucketScore per non-empty length bucket, then one for all texts (bucket `all`)."""
    buckets = [length_bucket(t) for t in texts]
    correct = {name: [p == lab for p, lab in zip(pred, labels, strict=True)] for name, pred in predictions.items()}
    out = []
    for label in [b[0] for b in LENGTH_BUCKETS] + [ALL]:
        idx = [i for i, b in enumerate(buckets) if label in (b, ALL)]
        if not idx:
            continue
        out.append(BucketScore(
            label, len(idx),
            {name: Accuracy(sum(hits[i] for i in idx), len(idx)) for name, hits in correct.items()},
            paired_difference([correct[ours][i] for i in idx], [correct[reference][i] for i in idx]),
        ))  # fmt: skip
    return out


def best_allowed(ranked: Sequence[str], allowed: set[str], default: str) -> str:
    """The highest-ranked language among `allowed`: a 176-language detector held to the same candidates as ours."""
    return next((lang for lang in ranked if lang in allowed), default)
