"""Batch runs you can interrupt, through the library: checkpoints and resume, stop (drain),
the circuit breaker, blocked events, the watermark and event keys (against the emulator or a
MockTransport; no sleeps: every wait is on an outcome or a request)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from helpers_stream import Held, make_client, oid

from gett_async import (
    APIConnectionError,
    ApiRequest,
    ApiResponse,
    AuthenticationError,
    GettClient,
    GettValidationError,
    RetryPolicy,
)
from gett_async.checkpoints import FileCheckpoint, SqliteCheckpoint
from gett_async.orders import (
    CircuitBreaker,
    OrderBlockedError,
    OrderEvent,
    OutcomeKind,
    StreamAbortedError,
    UpdateOutcome,
    Watermark,
)
from gett_async.testing import GettEmulator, MockTransport

SENT, REFUSED, FAILED, BLOCKED, ABORTED = (
    OutcomeKind.SENT, OutcomeKind.REFUSED, OutcomeKind.FAILED, OutcomeKind.BLOCKED, OutcomeKind.ABORTED,
)
LIFECYCLE = ("confirmed", "preparing", "ready", "inTransit")
Store = FileCheckpoint | SqliteCheckpoint


@pytest.fixture(params=["file", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Store]:
    path = tmp_path / ("state.jsonl" if request.param == "file" else "state.db")
    kind: type[Store] = FileCheckpoint if request.param == "file" else SqliteCheckpoint
    return lambda: kind(path)


@pytest.fixture
async def emu() -> AsyncIterator[GettEmulator]:
    async with GettEmulator(writes_per_window=0, reads_per_window=0, auto_create_orders=True) as emulator:
        yield emulator


def lifecycles(orders: int) -> list[dict[str, Any]]:
    """Every order through its whole lifecycle, the orders' events interleaved."""
    events = [{"orderId": oid(n), "status": s} for s in LIFECYCLE for n in range(1, orders + 1)]
    return events + [{"orderId": oid(n), "state": "completed"} for n in range(1, orders + 1)]


def emu_client(emu: GettEmulator, **options: Any) -> GettClient:
    options.setdefault("retry", RetryPolicy(max_retries=0))
    return GettClient(options.pop("api_key", emu.api_key), base_url=emu.url, **options)


# -- resume --------------------------------------------------------------------------------------


async def test_a_stopped_run_resumes_where_it_stopped_and_a_finished_one_sends_nothing(
    emu: GettEmulator, store: Callable[[], Store]
) -> None:
    events = lifecycles(40)  # 200 events
    async with emu_client(emu) as gett:
        with store() as checkpoint:
            stream = gett.orders.stream(events, concurrency=8, checkpoint=checkpoint)
            first: list[UpdateOutcome[dict[str, Any]]] = []
            async with stream:
                async for outcome in stream:
                    first.append(outcome)
                    if len(first) == 60:
                        stream.stop()  # drain: in-flight ones finish and are recorded
            assert stream.stopped and stream.abort_error is not None and stream.abort_error.cause is None
            done = {o.key for o in first if o.final}
            assert all(o.kind is SENT for o in first if o.final)
            assert {o.kind for o in first if not o.final} == {ABORTED}
            assert stream.watermark.count <= len(done) and len(checkpoint) == len(done)
            requests = emu.stats.requests

        with store() as checkpoint:
            stream = gett.orders.stream(events, concurrency=8, checkpoint=checkpoint)
            second = [o async for o in stream]
            assert {o.key for o in second} == set(range(len(events))) - done  # the rest, once each
            assert {o.kind for o in second} == {SENT} and stream.skipped == len(done)
            assert stream.watermark == Watermark(len(events), len(events) - 1)
        assert emu.stats.requests == requests + len(second)  # nothing sent twice
        assert emu.stats.illegal_transitions == 0 and emu.stats.idempotent_repeats == 0
        assert all(emu.order(oid(n)).position == "completed" for n in range(1, 41))

        with store() as checkpoint:
            summary = await gett.orders.send_all(events, checkpoint=checkpoint)
        assert summary.total == 0 and summary.skipped == len(events) and summary.ok
        assert emu.stats.requests == requests + len(second)


async def test_resume_continues_each_order_from_its_recorded_state(
    emu: GettEmulator, store: Callable[[], Store]
) -> None:
    """Without the record, the second run would start every order at pending and refuse its later moves."""
    events = lifecycles(5)
    async with emu_client(emu) as gett:
        with store() as checkpoint:
            await gett.orders.send_all(events[:10], checkpoint=checkpoint)  # confirmed, preparing
        with store() as checkpoint:
            summary = await gett.orders.send_all(events, checkpoint=checkpoint)
    assert summary.counts["sent"] == len(events) - 10 and summary.counts["refused"] == 0
    assert emu.stats.illegal_transitions == 0


# -- blocked, and retry_failed ------------------------------------------------------------------


async def test_a_failed_event_blocks_its_order_across_runs_until_retried(store: Callable[[], Store]) -> None:
    a, b = oid(1), oid(2)
    broken = {"on": True}
    sent: list[tuple[str, bytes]] = []

    def handler(request: ApiRequest) -> ApiResponse:
        order = request.path.split("/")[-2]
        if broken["on"] and order == a and b"preparing" in (request.body or b""):
            return ApiResponse(500, {}, b"")
        sent.append((order, request.body or b""))
        return ApiResponse(204, {}, b"")

    events = [{"orderId": o, "status": s} for s in ("confirmed", "preparing", "ready") for o in (a, b)]
    async with make_client(transport=MockTransport(handler)) as gett:
        with store() as checkpoint:
            first = {o.key: o for o in [o async for o in gett.orders.stream(events[:5], checkpoint=checkpoint)]}
        assert [first[k].kind for k in range(5)] == [SENT, SENT, FAILED, SENT, BLOCKED]
        blocked = first[4].error
        assert isinstance(blocked, OrderBlockedError) and blocked.failed_key == 2
        assert not isinstance(blocked, GettValidationError)  # blocked is not refused

        broken["on"] = False
        with store() as checkpoint:  # a new event of the blocked order is blocked too; failed stays final
            second = [o async for o in gett.orders.stream(events, checkpoint=checkpoint)]
        assert [(o.key, o.kind) for o in second] == [(5, SENT)]
        assert len(sent) == 4

        with store() as checkpoint:
            third = [o async for o in gett.orders.stream(events, checkpoint=checkpoint, retry_failed=True)]
    assert sorted((o.key, o.kind) for o in third) == [(2, SENT), (4, SENT)]
    assert [body for order, body in sent if order == a] == [
        b'{"status":"confirmed"}', b'{"status":"preparing"}', b'{"status":"ready"}'
    ]  # the failed event first, then the one it blocked


# -- the circuit breaker -------------------------------------------------------------------------


async def test_a_wrong_key_makes_at_most_concurrency_requests(emu: GettEmulator, store: Callable[[], Store]) -> None:
    events = lifecycles(60)
    async with emu_client(emu, api_key="zpka_test_wrong") as gett:
        with store() as checkpoint:
            summary = await gett.orders.send_all(events, concurrency=8, checkpoint=checkpoint)
            assert len(checkpoint) == 0  # nothing final: a resume with the right key sends it all
    assert emu.stats.requests <= 8 and emu.stats.unauthenticated == emu.stats.requests
    assert summary.abort_error is not None and isinstance(summary.abort_error.cause, AuthenticationError)
    assert set(summary.counts.items()) - {("aborted", summary.total)} == {
        (kind, 0) for kind in ("sent", "refused", "failed", "superseded", "blocked")
    }
    assert not summary.ok and all(isinstance(o.error, StreamAbortedError) for o in summary.failures)
    async with emu_client(emu) as gett:
        with store() as checkpoint:
            again = await gett.orders.send_all(events, concurrency=8, checkpoint=checkpoint)
    assert again.counts["sent"] == len(events) and again.ok


async def test_connection_failures_pause_the_stream_then_abort_it() -> None:
    calls = 0

    def dead(request: ApiRequest) -> ApiResponse:
        nonlocal calls
        calls += 1
        raise APIConnectionError("connection refused")

    breaker = CircuitBreaker(connection_failures=3, pause=0)
    async with make_client(transport=MockTransport(dead)) as gett:
        stream = gett.orders.stream(lifecycles(20), concurrency=4, breaker=breaker)
        outcomes = [o async for o in stream]
    assert {o.kind for o in outcomes} == {ABORTED} and len(outcomes) <= stream.buffer
    assert stream.abort_error is not None and isinstance(stream.abort_error.cause, APIConnectionError)
    assert "3 connection failures in a row" in str(stream.abort_error)
    assert calls <= 3 * 4  # at most one round of concurrency requests per pause


async def test_a_pause_that_outlasts_the_outage_loses_nothing() -> None:
    outage = 4  # two rounds of two requests (concurrency 2) find no connection: 2 pauses, not 3
    calls = 0

    def flaky(request: ApiRequest) -> ApiResponse:
        nonlocal calls
        calls += 1
        if calls <= outage:
            raise APIConnectionError("connection reset")
        return ApiResponse(204, {}, b"")

    async with make_client(transport=MockTransport(flaky)) as gett:
        stream = gett.orders.stream(lifecycles(10), concurrency=2, breaker=CircuitBreaker(pause=0))
        outcomes = [o async for o in stream]
    assert sorted(o.key for o in outcomes) == list(range(50)) and {o.kind for o in outcomes} == {SENT}
    assert stream.abort_error is None


def test_the_breaker_refuses_nonsense() -> None:
    with pytest.raises(GettValidationError, match="connection_failures"):
        CircuitBreaker(connection_failures=0)
    with pytest.raises(GettValidationError, match="pause"):
        CircuitBreaker(pause=-1)
    assert CircuitBreaker(pause=1, max_pause=5).pause_after(4) == 5


# -- the watermark ------------------------------------------------------------------------------


async def test_the_watermark_counts_leading_final_events_only() -> None:
    held = Held()
    async with make_client(transport=MockTransport(held)) as gett:
        events = [OrderEvent(oid(n), status="confirmed", key=f"offset-{n}") for n in range(1, 4)]
        stream = gett.orders.stream(events, concurrency=3)
        pending = asyncio.ensure_future(anext(stream))
        while len(held.waiting) < 3:
            await held.arrived.wait()
            held.arrived.clear()
        held.answer(1)
        held.answer(2)
        later = await pending
        assert later.key in ("offset-2", "offset-3") and stream.watermark == Watermark(0, None)
        await anext(stream)
        held.answer(0)
        first = await anext(stream)
        assert first.key == "offset-1" and stream.watermark == Watermark(3, "offset-3")
        await stream.aclose()


# -- keys ----------------------------------------------------------------------------------------


async def test_outcomes_carry_the_callers_keys() -> None:
    async with make_client(transport=MockTransport(lambda r: ApiResponse(204, {}, b""))) as gett:
        keyed = [o async for o in gett.orders.stream([OrderEvent(oid(1), status="confirmed", key="evt-9")])]
        assert [(o.key, o.index) for o in keyed] == [("evt-9", 0)]

        mapped = [{"orderId": oid(2), "status": "confirmed", "eventId": 41}, {"orderId": oid(3), "status": "ready"}]
        outcomes = sorted([o async for o in gett.orders.stream(mapped, key_field="eventId")], key=lambda o: o.index)
        assert [(o.key, o.kind) for o in outcomes] == [(41, SENT), (1, REFUSED)]  # the second has no eventId
        assert "eventId" in str(outcomes[1].error)

        with pytest.raises(GettValidationError, match="key_field"):
            gett.orders.stream(mapped, key_field="orderId")


async def test_extra_fields_are_refused_by_name_unless_ignored() -> None:
    events = [{"orderId": oid(1), "status": "confirmed", "at": "2026-01-15T12:00:00Z", "eventId": "e1"}]
    async with make_client(transport=MockTransport(lambda r: ApiResponse(204, {}, b""))) as gett:
        [refused] = [o async for o in gett.orders.stream(events)]
        assert refused.kind is REFUSED and "at, eventId" in str(refused.error)
        assert "ignore_unknown_keys" in str(refused.error)
        [sent] = [o async for o in gett.orders.stream(events, ignore_unknown_keys=True, key_field="eventId")]
        assert (sent.kind, sent.key) == (SENT, "e1")


# -- the store's side --------------------------------------------------------------------------


class Recording:
    """A `Checkpoint` in memory that can be made to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.outcomes: dict[Any, Any] = {}
        self.orders: dict[str, Any] = {}

    def outcome(self, key: Any) -> Any:
        return self.outcomes.get(key)

    def order(self, order_id: str) -> Any:
        return self.orders.get(order_id)

    def write(self, batch: Any) -> None:
        if self.fail:
            raise OSError("No space left on device")
        self.outcomes.update((r.key, r) for r in batch.outcomes)
        self.orders.update(batch.orders)


async def test_a_checkpoint_that_cannot_be_written_stops_the_stream() -> None:
    async with make_client(transport=MockTransport(lambda r: ApiResponse(204, {}, b""))) as gett:
        stream = gett.orders.stream(lifecycles(10), concurrency=4, checkpoint=Recording(fail=True))
        with pytest.raises(OSError, match="No space left"):
            async with stream:
                async for _ in stream:
                    pass
        # Each order waited for its first answer to be recorded: none went further.
        assert stream.watermark.count == 0 and stream.counts["sent"] <= 4


async def test_aclose_records_every_final_outcome_it_has() -> None:
    store = Recording()
    async with make_client(transport=MockTransport(lambda r: ApiResponse(204, {}, b""))) as gett:
        stream = gett.orders.stream(lifecycles(10), concurrency=4, checkpoint=store)
        taken = [await anext(stream) for _ in range(5)]
        await stream.aclose()
    final = stream.counts["sent"] + stream.counts["refused"]
    assert len(store.outcomes) == final >= len(taken) and stream.watermark.count <= final


async def test_a_blocked_event_goes_once_an_interrupted_retry_has_sent_its_failed_one(
    store: Callable[[], Store]
) -> None:
    a = oid(1)
    broken = {"on": True}

    def handler(request: ApiRequest) -> ApiResponse:
        failing = broken["on"] and b"preparing" in (request.body or b"")
        return ApiResponse(500 if failing else 204, {}, b"")

    events = [{"orderId": a, "status": s} for s in ("confirmed", "preparing", "ready")]
    async with make_client(transport=MockTransport(handler)) as gett:
        with store() as checkpoint:
            first = await gett.orders.send_all(events, checkpoint=checkpoint)
        assert (first.counts["sent"], first.counts["failed"], first.counts["blocked"]) == (1, 1, 1)
        broken["on"] = False
        with store() as checkpoint:  # a retry that stops after the failed event (here: the input ends)
            retried = await gett.orders.send_all(events[:2], checkpoint=checkpoint, retry_failed=True)
        assert retried.counts["sent"] == 1
        with store() as checkpoint:  # a plain resume: the order is no longer failed, so "ready" goes
            last = [o async for o in gett.orders.stream(events, checkpoint=checkpoint)]
    assert [(o.key, o.kind) for o in last] == [(2, SENT)]
