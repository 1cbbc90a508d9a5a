"""Length-bucketed batching: translate similar lengths together, so padding wastes little work.

A batch costs roughly (its size) x (its longest input) on the encoder and (its size) x (its longest
output) steps on the decoder; sorting by length before cutting batches makes every member of a
batch about as long as the longest, and bounding tokens per batch keeps long inputs in small
batches (memory) and short ones in large batches (throughput).
"""

from __future__ import annotations

from collections.abc import Sequence


def length_buckets(lengths: Sequence[int], *, max_batch: int = 32, max_tokens: int = 4096) -> list[list[int]]:
    """Indices of `lengths` grouped into batches of similar length, longest first.

    Each batch holds at most `max_batch` items and at most `max_tokens` padded tokens (its size
    times its longest item); an item longer than `max_tokens` is a batch of its own. Longest
    first, so a batch that does not fit in memory fails at once rather than at the end.
    """
    if max_batch < 1 or max_tokens < 1:
        raise ValueError("max_batch and max_tokens must be positive")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        size = max(1, lengths[index])
        widest = max(longest, size)
        if current and (len(current) + 1 > max_batch or widest * (len(current) + 1) > max_tokens):
            batches.append(current)
            current, widest = [], size
        current.append(index)
        longest = widest
    if current:
        batches.append(current)
    return batches


def in_order(batches: Sequence[Sequence[int]], results: Sequence[Sequence[str]], total: int) -> list[str]:
    """Results of batches (in the order of their indices) back in input order."""
    out: list[str | None] = [None] * total
    for indices, answers in zip(batches, results, strict=True):
        for index, answer in zip(indices, answers, strict=True):
            out[index] = answer
    missing = [i for i, v in enumerate(out) if v is None]
    if missing:
        raise ValueError(f"no result for inputs {missing[:10]}")
    return out  # type: ignore[return-value]
