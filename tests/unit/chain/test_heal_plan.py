"""Pure planning of the chain index: CLI range pieces, gaps, and the healing backoff."""

from __future__ import annotations

import pytest

from ops.chain.ranges import BlockRange, HealState, heal_schedule, missing_spans, plan_ranges


def test_missing_spans_are_the_runs_of_absent_numbers():
    assert missing_spans([0, 1, 2, 5, 6, 9], 0, 9) == [BlockRange(3, 4), BlockRange(7, 8)]
    assert missing_spans([], 3, 4) == [BlockRange(3, 4)]
    assert missing_spans([1, 2, 3], 0, 5) == [BlockRange(0, 0), BlockRange(4, 5)]
    assert missing_spans(list(range(10)), 0, 9) == []


def test_plan_ranges_aligns_to_the_range_size_and_reuses_known_ranges_whole():
    assert plan_ranges(0, 33, size=20, first_block=0, known=[]) == [BlockRange(0, 19), BlockRange(20, 33)]
    assert plan_ranges(5, 44, size=20, first_block=0, known=[]) == [
        BlockRange(5, 19), BlockRange(20, 39), BlockRange(40, 44)
    ]
    known = [BlockRange(0, 19), BlockRange(20, 33)]
    assert plan_ranges(3, 4, size=20, first_block=0, known=known) == [BlockRange(0, 19)]  # re-indexed whole
    # a partial range the CLI made earlier stays; the next piece stops where the following range starts
    assert plan_ranges(25, 45, size=20, first_block=0, known=known) == [BlockRange(20, 33), BlockRange(34, 39),
                                                                         BlockRange(40, 45)]
    assert plan_ranges(100, 130, size=20, first_block=100, known=[BlockRange(110, 119)]) == [
        BlockRange(100, 109), BlockRange(110, 119), BlockRange(120, 130)
    ]


@pytest.mark.parametrize(("start", "end", "first", "message"), [(9, 3, 0, "before --from"), (5, 9, 10, "first indexed")])
def test_plan_ranges_refuses_what_cannot_be_indexed(start, end, first, message):
    with pytest.raises(ValueError, match=message):
        plan_ranges(start, end, size=20, first_block=first, known=[])


def test_heal_schedule_retries_at_once_then_backs_off_and_gives_up():
    state: dict[str, HealState] = {}
    times = []
    now = 1000.0
    for _ in range(400):  # a range that never heals, ticked every 15 s for 100 minutes
        due, given_up, state = heal_schedule(["r"], state, now, base_seconds=30, max_seconds=300, max_attempts=6)
        if due:
            times.append(now - 1000.0)
        if given_up:
            break
        now += 15
    assert times == [0, 30, 90, 210, 450, 750]  # waits 30, 60, 120, 240, then 300 (the cap, not 480)
    assert given_up == ["r"] and state["r"].attempts == 6


def test_a_healed_range_leaves_the_state_and_a_new_failure_starts_afresh():
    _, _, state = heal_schedule(["a", "b"], {}, 0.0)
    assert set(state) == {"a", "b"}
    _, _, state = heal_schedule(["b"], state, 10.0)  # "a" indexed again
    assert set(state) == {"b"}
    due, _, state = heal_schedule(["a", "b"], state, 20.0)
    assert due == ["a"] and state["a"].attempts == 1  # "b" waits for its backoff
