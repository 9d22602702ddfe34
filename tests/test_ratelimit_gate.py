"""HeaderRateLimitGate on a fake clock: every wait is asserted exactly and none is slept."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_core import ORDER_ID, ORDER_URL, STORE_ID, FakeClock, RecordingGate, make_client, total_calls

from gett_async import HeaderRateLimitGate, Priority
from gett_async._core.ratelimit import RateWindow

T0 = 1_700_000_000.0


def window(remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(int(reset))}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def gate(clock: FakeClock) -> HeaderRateLimitGate:
    return HeaderRateLimitGate(clock=clock, sleep=clock.sleep)


async def test_nothing_known_means_no_wait(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    for _ in range(50):
        await gate.acquire("write")
        gate.settle("write", None, None)
    assert clock.sleeps == []
    assert gate.paused_for("write") == 0.0


async def test_remaining_zero_holds_the_next_request_until_reset(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    gate.settle("write", window(0, T0 + 30), None)
    assert gate.paused_for("write") == 30.0
    await gate.acquire("write")
    assert clock.sleeps == [30.0]
    assert clock.now == T0 + 30


async def test_a_spent_gate_makes_the_transport_wait_in_acquire(mocked: Any, clock: FakeClock) -> None:
    mocked.post(ORDER_URL, status=204, headers=window(0, T0 + 20), repeat=True)
    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep)
    async with make_client(gate=gate) as gett:
        await gett.orders.complete(ORDER_ID)  # free room: no wait
        await gett.orders.complete(ORDER_ID)  # the window is spent: waits until its reset
    assert clock.sleeps == [20.0] and total_calls(mocked) == 2


async def test_a_subclass_that_overrides_acquire_sees_every_call(mocked: Any, clock: FakeClock) -> None:
    """A gate that overrides ``acquire`` alone (to log, or to share a budget) is awaited for
    every attempt."""
    mocked.post(ORDER_URL, status=204, repeat=True)
    seen: list[str] = []

    class Logged(HeaderRateLimitGate):
        async def acquire(self, kind: str, *, priority: Priority = "interactive") -> None:
            seen.append(kind)
            await super().acquire(kind)

    async with make_client(gate=Logged(clock=clock, sleep=clock.sleep)) as gett:
        for _ in range(3):
            await gett.orders.complete(ORDER_ID)
    assert seen == ["write"] * 3


async def test_remaining_counts_requests_still_in_flight(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    for _ in range(3):
        await gate.acquire("read")
    # Gett says 3 left, but two of ours are still on the way and may not be counted yet.
    gate.settle("read", window(3, T0 + 60), None)
    await gate.acquire("read")
    assert clock.sleeps == []
    assert gate.paused_for("read") == 60.0
    await gate.acquire("read")
    assert clock.sleeps == [60.0]


async def test_an_attempt_without_answer_leaves_flight(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    await gate.acquire("write")
    gate.settle("write", None, None)  # connection error: no headers, but no longer in flight
    gate.settle("write", window(1, T0 + 60), None)
    await gate.acquire("write")
    assert clock.sleeps == []
    assert gate.paused_for("write") == 60.0


async def test_429_retry_after_pauses_the_class(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    gate.settle("write", None, 5.0)
    assert gate.paused_for("write") == 5.0
    assert gate.paused_for("read") == 0.0
    await gate.acquire("read")
    assert clock.sleeps == []
    await gate.acquire("write")
    assert clock.sleeps == [5.0]


async def test_a_zero_retry_after_does_not_pause(gate: HeaderRateLimitGate) -> None:
    await gate.acquire("write")
    gate.settle("write", None, 0.0)
    assert gate.paused_for("write") == 0.0


async def test_read_and_write_classes_are_independent(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    await gate.acquire("read")
    gate.settle("write", window(0, T0 + 40), None)
    gate.settle("read", window(999, T0 + 40), None)
    for _ in range(10):
        await gate.acquire("read")
    assert clock.sleeps == []
    assert gate.paused_for("write") == 40.0
    assert gate.paused_for("read") == 0.0


async def test_writes_per_minute_over_a_sliding_window(clock: FakeClock) -> None:
    gate = HeaderRateLimitGate(writes_per_minute=3, clock=clock, sleep=clock.sleep)
    for at in (0.0, 10.0, 20.0):
        clock.now = T0 + at
        await gate.acquire("write")
    assert clock.sleeps == []
    assert gate.paused_for("write") == 40.0
    await gate.acquire("write")  # the one sent at t=0 leaves the window at t=60
    assert clock.sleeps == [40.0]
    await gate.acquire("write")  # the one sent at t=10 leaves it at t=70
    assert clock.sleeps == [40.0, 10.0]
    assert clock.now == T0 + 70
    for _ in range(20):  # reads have no fixed budget here
        await gate.acquire("read")
    assert clock.sleeps == [40.0, 10.0]


async def test_reads_per_minute(clock: FakeClock) -> None:
    gate = HeaderRateLimitGate(reads_per_minute=2, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        await gate.acquire("read")
    assert clock.sleeps == [60.0]


async def test_a_stale_answer_from_an_old_window_is_ignored(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    await gate.acquire("write")
    gate.settle("write", window(5, T0 + 60), None)  # the current window
    gate.settle("write", window(0, T0 - 1), None)  # a late answer from the window before
    assert gate.paused_for("write") == 0.0
    await gate.acquire("write")
    assert clock.sleeps == []


async def test_after_the_reset_the_budget_restarts_from_the_largest_window(
    gate: HeaderRateLimitGate, clock: FakeClock
) -> None:
    for remaining in (9, 4, 0):
        await gate.acquire("write")
        gate.settle("write", window(remaining, T0 + 10), None)
    await gate.acquire("write")
    assert clock.sleeps == [10.0]


def test_after_the_reset_the_window_restarts_from_the_largest_budget_seen() -> None:
    """The arithmetic behind the gate test above, on the pure `RateWindow` (no loop): with no
    answer yet from the new window, what may still start is its ``budget``. 9 left after one
    answer means a window of 10; one is now in flight."""
    account = RateWindow()
    for remaining in (9, 4, 0):
        account.take(T0)
        account.settle(T0, window(remaining, T0 + 10), None)
    assert account.wait(T0) == 10.0
    assert account.wait(T0 + 10) == 0.0
    account.take(T0 + 10)
    assert (account.budget, account.limit_seen, account.in_flight) == (9, 10, 1)


async def test_unreadable_headers_are_ignored(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    await gate.acquire("write")
    gate.settle("write", {"X-RateLimit-Remaining": "many", "X-RateLimit-Reset": "soon"}, None)
    await gate.acquire("write")
    gate.settle("write", {"X-RateLimit-Reset": str(int(T0 + 60))}, None)
    await gate.acquire("write")
    assert clock.sleeps == []


def test_construction() -> None:
    with pytest.raises(ValueError, match="writes_per_minute"):
        HeaderRateLimitGate(writes_per_minute=0)
    with pytest.raises(ValueError, match="reads_per_minute"):
        HeaderRateLimitGate(reads_per_minute=-5)
    assert repr(HeaderRateLimitGate(reads_per_minute=10)) == (
        "HeaderRateLimitGate(reads_per_minute=10, writes_per_minute=None)"
    )


# -- end to end through the client -------------------------------------------------------


async def test_remaining_zero_makes_the_next_write_wait(
    mocked: Any, clock: FakeClock, gate: HeaderRateLimitGate
) -> None:
    sent_after: list[list[float]] = []

    def record(url: Any, **kwargs: Any) -> None:
        sent_after.append(list(clock.sleeps))

    mocked.post(ORDER_URL, status=204, headers=window(0, T0 + 30), callback=record)
    mocked.post(ORDER_URL, status=204, headers=window(99, T0 + 90), callback=record)
    mocked.get(f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}/status", payload={"status": "online"})
    async with make_client(gate=gate) as gett:
        await gett.orders.update_status(ORDER_ID, status="confirmed")
        await gett.store_status.get(STORE_ID)  # reads are another class: no wait
        assert clock.sleeps == []
        await gett.orders.update_status(ORDER_ID, status="preparing")
    # The second write went on the wire only after waiting out the window.
    assert sent_after == [[], [30.0]]
    assert total_calls(mocked) == 3
    assert gate.paused_for("write") == 0.0


async def test_a_pause_longer_than_max_wait_fails_fast_instead_of_hanging(clock: FakeClock) -> None:
    from gett_async import RateLimitError

    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep, max_wait=20.0)
    await gate.acquire("write")
    gate.settle("write", None, 45.0)  # a 429 asking for 45 s, more than this gate may wait
    with pytest.raises(RateLimitError) as info:
        await gate.acquire("write")
    assert info.value.retry_after == pytest.approx(45.0)
    assert clock.sleeps == []  # refused at once, not slept
    await gate.acquire("read")  # the read class is not affected


@pytest.mark.parametrize("asked", [3600.0, 1e12])
async def test_no_server_value_pauses_a_class_beyond_one_window(clock: FakeClock, asked: float) -> None:
    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep, max_wait=60.0)
    await gate.acquire("write")
    gate.settle("write", None, asked)  # a 429 asking for an hour, or for ever
    await gate.acquire("write")
    assert clock.sleeps == [60.0]  # one documented window, then writes go again
    await gate.acquire("write")
    assert clock.sleeps == [60.0]


async def test_a_reset_far_in_the_future_pauses_for_one_window_at_most(clock: FakeClock) -> None:
    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep, max_wait=60.0)
    await gate.acquire("write")
    gate.settle("write", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1e12"}, None)
    await gate.acquire("write")
    assert clock.sleeps == [60.0]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "Infinity", "-5", "soon"])
async def test_rate_limit_headers_that_are_not_finite_numbers_are_ignored(clock: FakeClock, value: str) -> None:
    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep, max_wait=60.0)
    await gate.acquire("write")
    gate.settle("write", {"X-RateLimit-Remaining": value, "X-RateLimit-Reset": value}, None)
    await gate.acquire("write")
    await gate.acquire("write")
    assert clock.sleeps == []


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, True, "60"])
def test_max_wait_must_be_finite_seconds(value: Any) -> None:
    from gett_async import GettValidationError

    with pytest.raises(GettValidationError) as info:
        HeaderRateLimitGate(max_wait=value)
    assert info.value.field == "max_wait"


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
def test_fixed_budgets_are_validated(value: Any) -> None:
    from gett_async import GettValidationError

    with pytest.raises(GettValidationError) as info:
        HeaderRateLimitGate(writes_per_minute=value)
    assert info.value.field == "writes_per_minute"


async def test_the_gate_hears_who_asks(mocked: Any) -> None:
    """Single calls and tracker moves are interactive; a stream's requests are batch."""
    mocked.post(ORDER_URL, status=204, repeat=True)
    gate = RecordingGate()
    async with make_client(gate=gate) as gett:
        await gett.orders.complete(ORDER_ID)
        await gett.orders.track(ORDER_ID, status="ready").complete()
    assert gate.priorities == ["interactive", "interactive"]


async def test_a_streams_requests_are_batch(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204, repeat=True)
    gate = RecordingGate()
    async with make_client(gate=gate) as gett:
        summary = await gett.orders.send_all([{"orderId": ORDER_ID, "status": "confirmed"}])
    assert summary.counts["sent"] == 1 and gate.priorities == ["batch"]


async def test_the_header_gates_state_is_readable(gate: HeaderRateLimitGate, clock: FakeClock) -> None:
    assert gate.state("write").remaining == 0 and gate.state("write").paused_until is None  # nothing known yet
    await gate.acquire("write")
    gate.settle("write", window(0, T0 + 30), None)  # Gett: nothing left until T0 + 30
    state = gate.state("write")
    assert (state.kind, state.limit, state.remaining) == ("write", 1, 0)
    assert (state.resets_at, state.paused_until) == (T0 + 30, T0 + 30)
    assert not state.fallback_active and gate.state("read").paused_until is None
