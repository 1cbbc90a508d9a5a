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
    head_min: int = 0,
) -> list[BlockRange]:
    """Ranges after `indexed_to` whose last block is at least `confirmations` below the head.

    Ranges are aligned to multiples of `size` counted from `first_block`, so every process that plans
    them (sensor, backfill, CLI) names the same keys. At most `limit` ranges per call, oldest first,
    so a fresh deployment on a long chain catches up in bounded steps instead of one giant tick.

    `head_min` > 0 follows the head: once no whole range is confirmed, the confirmed blocks of the
    open one (at least `head_min` of them) become a short range of their own, ending where the
    aligned one would not, so a block waits for its confirmations and not for its range to fill.
    The next range starts after it and ends on the aligned boundary again.
    """
    if size < 1:
        raise ValueError("range size must be at least 1")
    if head_min < 0:
        raise ValueError("head_min must be 0 (whole ranges only) or more")
    safe_head = head - confirmations
    start = first_block if indexed_to is None else indexed_to + 1
    ranges: list[BlockRange] = []
    while len(ranges) < limit:
        aligned_end = _aligned_end(start, size, first_block)
        if aligned_end > safe_head:
            break
        ranges.append(BlockRange(start, aligned_end))
        start = aligned_end + 1
    if head_min and len(ranges) < limit and safe_head - start + 1 >= head_min:
        ranges.append(BlockRange(start, safe_head))
    return ranges


def _aligned_end(number: int, size: int, first_block: int) -> int:
    """The last block of the aligned range holding ``number`` (ranges of ``size`` from ``first_block``)."""
    return first_block + ((number - first_block) // size + 1) * size - 1


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


def missing_spans(present: Sequence[int], start: int, end: int) -> list[BlockRange]:
    """The runs of block numbers in [start, end] that ``present`` (sorted, unique) lacks."""
    gaps: list[BlockRange] = []
    expected = start
    for number in present:
        if number < start:
            continue
        if number > end:
            break
        if number > expected:
            gaps.append(BlockRange(expected, number - 1))
        expected = number + 1
    if expected <= end:
        gaps.append(BlockRange(expected, end))
    return gaps


def plan_ranges(start: int, end: int, *, size: int, first_block: int, known: Iterable[BlockRange]) -> list[BlockRange]:
    """The partitions that index blocks ``start..end``: the range size's aligned pieces of it, and
    any existing partition it touches, whole (partitions never overlap, so their keys stay the
    ones the sensor plans; a piece inside a known range re-indexes that range)."""
    if size < 1:
        raise ValueError("range size must be at least 1")
    if end < start:
        raise ValueError(f"--to {end} is before --from {start}")
    if start < first_block:
        raise ValueError(f"block {start} is before the first indexed block {first_block} (CHAIN_FIRST_BLOCK)")
    known = sorted(known)
    planned: list[BlockRange] = []
    number = start
    while number <= end:
        covering = next((r for r in known if number in r), None)
        if covering is not None:
            planned.append(covering)
            number = covering.end + 1
            continue
        aligned_end = _aligned_end(number, size, first_block)
        following = next((r.start for r in known if r.start > number), None)
        piece_end = min(aligned_end, end, following - 1 if following is not None else end)
        planned.append(BlockRange(number, piece_end))
        number = piece_end + 1
    return planned


@dataclass(frozen=True)
class HealState:
    """One range the sensor is re-indexing: attempts so far and when the next one may start (unix s)."""

    attempts: int
    next_at: float


def heal_schedule(
    broken: Iterable[str],
    state: dict[str, HealState],
    now: float,
    *,
    base_seconds: float = 30.0,
    max_seconds: float = 3600.0,
    max_attempts: int = 8,
) -> tuple[list[str], list[str], dict[str, HealState]]:
    """(keys to re-run now, keys given up on, the new state) for ranges whose indexing is broken.

    Exponential backoff per range: the first retry at once, then ``base_seconds`` doubling up to
    ``max_seconds``, at most ``max_attempts`` times; a range that is whole again leaves the state,
    so a later failure starts afresh.
    """
    broken = sorted(set(broken))
    due: list[str] = []
    given_up: list[str] = []
    new_state: dict[str, HealState] = {}
    for key in broken:
        current = state.get(key, HealState(0, now))
        if current.attempts >= max_attempts:
            given_up.append(key)
        elif now >= current.next_at:
            due.append(key)
            delay = min(max_seconds, base_seconds * 2**current.attempts)
            current = HealState(current.attempts + 1, now + delay)
        new_state[key] = current
    return due, given_up, new_state
