"""Block ranges, the sensor's planning of the next ranges, and hash-chain continuity."""

from __future__ import annotations

import pytest

from ops.chain.ranges import BlockRange, continuity_breaks, next_ranges, ranges_of, stale_numbers


def test_keys_are_zero_padded_sort_numerically_and_parse_back():
    ranges = [BlockRange(1000, 1999), BlockRange(0, 999), BlockRange(17173000, 17173999)]
    keys = [r.key for r in ranges]
    assert keys[0] == "0000001000-0000001999"
    assert sorted(keys) == [r.key for r in sorted(ranges)]
    assert [BlockRange.parse(k) for k in keys] == ranges


@pytest.mark.parametrize("bad", ["", "12", "a-b", "0000000010-0000000001", "-1-5"])
def test_malformed_keys_are_refused_with_the_key_in_the_message(bad):
    with pytest.raises(ValueError, match="range"):
        BlockRange.parse(bad)


def test_next_ranges_waits_for_confirmations_and_aligns_to_the_size():
    # head 64, 2 confirmations: blocks up to 62 are safe -> [0-19], [20-39], [40-59]; [60-79] must wait.
    planned = next_ranges(indexed_to=None, head=64, size=20, confirmations=2)
    assert [(r.start, r.end) for r in planned] == [(0, 19), (20, 39), (40, 59)]
    assert next_ranges(indexed_to=59, head=80, size=20, confirmations=2) == []
    assert next_ranges(indexed_to=59, head=81, size=20, confirmations=2) == [BlockRange(60, 79)]


def test_next_ranges_from_a_first_block_and_bounded_catch_up():
    planned = next_ranges(indexed_to=None, head=10_000, size=1000, confirmations=12, first_block=5000, limit=2)
    assert planned == [BlockRange(5000, 5999), BlockRange(6000, 6999)]
    # Resuming mid-way after a partial range (e.g. an older, smaller range size) re-aligns.
    assert next_ranges(indexed_to=6499, head=10_000, size=1000, confirmations=0, first_block=5000, limit=1) == [
        BlockRange(6500, 6999)
    ]


def test_following_the_head_indexes_confirmed_blocks_of_the_open_range_then_realigns():
    # head 64, 2 confirmations: [60-62] is confirmed but [60-79] is open; with head_min it is a range of its own.
    planned = next_ranges(indexed_to=None, head=64, size=20, confirmations=2, head_min=1)
    assert [(r.start, r.end) for r in planned] == [(0, 19), (20, 39), (40, 59), (60, 62)]
    assert next_ranges(indexed_to=62, head=64, size=20, confirmations=2, head_min=1) == []  # nothing new confirmed
    assert next_ranges(indexed_to=62, head=66, size=20, confirmations=2, head_min=3) == []  # 63-64: below head_min
    assert next_ranges(indexed_to=62, head=70, size=20, confirmations=2, head_min=3) == [BlockRange(63, 68)]
    # Past the boundary the aligned range closes first, then the head's part of the next one.
    assert next_ranges(indexed_to=68, head=85, size=20, confirmations=2, head_min=1) == [
        BlockRange(69, 79), BlockRange(80, 83)
    ]
    # The catch-up bound holds: no head range when the limit is reached by whole ones.
    assert next_ranges(indexed_to=None, head=64, size=20, confirmations=2, head_min=1, limit=3)[-1] == BlockRange(40, 59)
    with pytest.raises(ValueError, match="head_min"):
        next_ranges(indexed_to=None, head=64, size=20, confirmations=2, head_min=-1)


def test_continuity_accepts_a_chain_and_reports_breaks_gaps_and_a_stale_previous_range():
    chain = [(10, "h10", "h9"), (11, "h11", "h10"), (12, "h12", "h11")]
    assert continuity_breaks(chain, previous_hash="h9") == []
    assert continuity_breaks(chain, previous_hash=None) == []

    reorged_previous = continuity_breaks(chain, previous_hash="h9-old")
    assert [(b.number, b.parent_hash, b.expected) for b in reorged_previous] == [(10, "h9", "h9-old")]
    assert "block 9 is stored as h9-old" in reorged_previous[0].describe()

    broken = continuity_breaks([(10, "h10", "h9"), (11, "h11", "other")])
    assert [b.number for b in broken] == [11]
    gap = continuity_breaks([(10, "h10", "h9"), (12, "h12", "h11")])
    assert [(b.number, b.parent_hash) for b in gap] == [(11, "(missing)")]


def test_stale_numbers_and_the_ranges_they_fall_in():
    stored = {18: "a", 19: "b", 20: "c", 21: "d"}
    canonical = {18: "a", 19: "B", 20: "C", 21: "d"}
    assert stale_numbers(stored, canonical) == [19, 20]
    keys = [BlockRange(0, 19).key, BlockRange(20, 39).key, BlockRange(40, 59).key]
    assert ranges_of([19, 20], keys) == keys[:2]
