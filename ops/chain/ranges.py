"""Block ranges: the unit the indexer fetches, stores and re-indexes, and the checks that keep them whole.

A range is closed, [start, end], and its partition key is both numbers zero-padded to ten digits
("0017173000-0017173999"), so keys sort as numbers do and say what they hold even if the range
size setting changes later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

KEY_DIGITS = 10


@dataclass(frozen=True, order=True)
class BlockRange:
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"not a block range: {self.start}-{self.end}")

    @property
    def key(self) -> str:
        return f"{self.start:0{KEY_DIGITS}d}-{self.end:0{KEY_DIGITS}d}"

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def __contains__(self, number: object) -> bool:
        return isinstance(number, int) and self.start <= number <= self.end

    @classmethod
    def parse(cls, key: str) -> BlockRange:
        """The range a partition key names; a clear error for anything else."""
        start, sep, end = key.partition("-")
        if not sep or not start.isdigit() or not end.isdigit():
            raise ValueError(f"not a block-range key: {key!r} (expected e.g. '0000001000-0000001999')")
        return cls(int(start), int(end))


def next_ranges(
    *,
    indexed_to: int | None,
    head: int,
    size: int,
    confirmations: int,
    first_block: int = 0,
    limit: int = 10,
) -> list[BlockRange]:
    """Ranges after `indexed_to` whose last block is at least `confirmations` below the head.

    Ranges are aligned to multiples of `size` counted from `first_block`, so every process that plans
    them (sensor, backfill, CLI) names the same keys. At most `limit` ranges per call, oldest first,
    so a fresh deployment on a long chain catches up in bounded steps instead of one giant tick.
    """
    if size < 1:
        raise ValueError("range size must be at least 1")
    safe_head = head - confirmations
    start = first_block if indexed_to is None else indexed_to + 1
    ranges: list[BlockRange] = []
    while len(ranges) < limit:
        aligned_end = first_block + ((start - first_block) // size + 1) * size - 1
        if aligned_end > safe_head:
            break
        ranges.append(BlockRange(start, aligned_end))
        start = aligned_end + 1
    return ranges


@dataclass(frozen=True)
class Break:
    """A block whose parent hash is not the hash stored for the block before it."""

    number: int
    parent_hash: str
    expected: str

    def describe(self) -> str:
        return f"block {self.number} has parent {self.parent_hash}, but block {self.number - 1} is stored as {self.expected}"


def continuity_breaks(
    blocks: Iterable[tuple[int, str, str]], previous_hash: str | None = None
) -> list[Break]:
    """Breaks in the hash chain of (number, hash, parent_hash) rows sorted by number.

    `previous_hash` is the stored hash of the block just before the first one (the previous range's
    last block); None when that block is not indexed, so the first block is not checked against it.
    Missing numbers inside the rows are reported as breaks too: a range must have no gaps.
    """
    breaks: list[Break] = []
    expected_number: int | None = None
    expected_hash = previous_hash
    for number, block_hash, parent_hash in blocks:
        if expected_number is not None and number != expected_number:
            breaks.append(Break(expected_number, "(missing)", expected_hash or "(unknown)"))
            expected_hash = None
        if expected_hash is not None and parent_hash != expected_hash:
            breaks.append(Break(number, parent_hash, expected_hash))
        expected_number, expected_hash = number + 1, block_hash
    return breaks


def stale_numbers(stored: dict[int, str], canonical: dict[int, str]) -> list[int]:
    """Block numbers whose stored hash differs from the node's canonical hash now (a reorg happened)."""
    return sorted(n for n, h in stored.items() if n in canonical and canonical[n] != h)


def ranges_of(numbers: Sequence[int], keys: Iterable[str]) -> list[str]:
    """The partition keys among `keys` that contain any of `numbers`."""
    ranges = [BlockRange.parse(k) for k in keys]
    return sorted({r.key for r in ranges for n in numbers if n in r})
