"""The shared gate's slot arithmetic, without Redis: `first_free` against a brute force on
whole numbers (every window start tried), and the reserve, pacing and fallback share."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gett_async._core.sharedlimit import (
    batch_spacing,
    class_limit,
    default_margin,
    fallback_share,
    first_free,
    reserve_count,
)
from gett_async.errors import GettValidationError


def feasible(log: list[int], t: int, limit: int, span: int) -> bool:
    """Every window [a, a + span) that holds t holds fewer than ``limit`` entries (whole numbers:
    every start a in (t - span, t] is tried)."""
    return all(sum(a <= e < a + span for e in log) < limit for a in range(t - span + 1, t + 1))


@given(
    st.lists(st.integers(0, 60), max_size=25),
    st.integers(0, 40),
    st.integers(1, 6),
    st.integers(1, 15),
)
def test_first_free_is_the_earliest_time_that_keeps_every_window_within_the_limit(
    entries: list[int], start: int, limit: int, span: int
) -> None:
    log = sorted(entries)
    slot = first_free(log, start, limit, span)
    assert slot >= start and slot == int(slot)
    assert feasible(log, int(slot), limit, span)
    assert not any(feasible(log, t, limit, span) for t in range(start, int(slot)))


def test_an_empty_or_thin_log_gives_the_start() -> None:
    assert first_free([], 5.0, 3, 10.0) == 5.0
    assert first_free([1.0, 2.0], 5.0, 3, 10.0) == 5.0


def test_a_full_window_waits_for_its_oldest_entry_to_leave() -> None:
    assert first_free([1.0, 2.0, 3.0], 5.0, 3, 10.0) == 11.0


def test_a_gap_between_future_reservations_is_used_first() -> None:
    # Two entries now, two reserved far ahead: one more fits at once, the next waits.
    log = [0.0, 0.0, 30.0, 30.0]
    assert first_free(log, 0.0, 3, 10.0) == 0.0
    assert first_free([0.0, *log], 0.0, 3, 10.0) == 10.0


@pytest.mark.parametrize(("limit", "span"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_first_free_refuses_an_empty_limit_or_window(limit: int, span: float) -> None:
    with pytest.raises(GettValidationError):
        first_free([], 0.0, limit, span)


@pytest.mark.parametrize(
    ("limit", "reserve", "batch_limit"),
    [(100, 0.1, 90), (1000, 0.1, 900), (60, 0.1, 54), (100, 0.0, 100), (5, 0.1, 5), (1, 0.5, 1), (10, 0.99, 1)],
)
def test_batch_callers_leave_the_reserve(limit: int, reserve: float, batch_limit: int) -> None:
    assert class_limit(limit, reserve, batch=True) == batch_limit
    assert class_limit(limit, reserve, batch=False) == limit
    assert reserve_count(limit, reserve) == limit - batch_limit


def test_batch_is_paced_over_the_window_by_its_own_part() -> None:
    assert batch_spacing(60.0, 100, 0.1) == pytest.approx(60.0 / 90)


@pytest.mark.parametrize(("limit", "processes", "share"), [(100, 4, 25), (100, 3, 33), (100, 1, 100), (2, 5, 1),
                                                            (60, 0, 60)])
def test_the_fallback_share_is_an_equal_part_and_at_least_one(limit: int, processes: int, share: int) -> None:
    assert fallback_share(limit, processes) == share


def test_the_default_margin_is_small_and_capped() -> None:
    assert default_margin(60.0) == 0.25
    assert default_margin(2.0) == pytest.approx(0.01)
