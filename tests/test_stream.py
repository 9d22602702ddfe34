"""OrderStream: per-order FIFO, checked events, one outcome per event, ETA coalescing, closed
order memory, seeding, backpressure and a clean stop, through public seams only.

The server is aioresponses on the order-status URL (see helpers_stream.Server), or a
`MockTransport`; latency in a callback is simulated server time, never used to synchronise
the test. The pure parts (book, scheduler, engine) are tested without a loop in
test_stream_parts.py; memory and garbage-collector figures are measured in benchmarks/memory.py.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aioresponses import aioresponses
from helpers_stream import (
    Server,
    SimOrder,
    accepting_client,
    held_client,
    iso,
    latency,
    make_client,
    oid,
    parsed,
    same_body,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gett_async import (
    APIConnectionError,
    ApiRequest,
    ApiResponse,
    GettError,
    GettValidationError,
    OrderTracker,
    RetryPolicy,
    ServerError,
    lifecycle,
)
from gett_async.orders.stream import (
    CircuitBreaker,
    EventSourceError,
    OrderBlockedError,
    OrderEvent,
    OrderStream,
    OutcomeKind,
    StreamSummary,
    UpdateOutcome,
    parse_event,
)
from gett_async.orders.stream.events import Update
from gett_async.testing import MockTransport

BLOCKED, ABORTED = OutcomeKind.BLOCKED, OutcomeKind.ABORTED
SENT, REFUSED, FAILED, SUPERSEDED = (OutcomeKind.SENT, OutcomeKind.REFUSED, OutcomeKind.FAILED,
                                     OutcomeKind.SUPERSEDED)
UTC = timezone.utc
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=UTC)
ETAS = (ETA, ETA + timedelta(minutes=10), (ETA + timedelta(minutes=20)).astimezone(timezone(timedelta(hours=2))))
A, B, C = oid(1), oid(2), oid(3)


def wire(when: datetime) -> str:
    return when.isoformat()


def kinds(outcomes: list[UpdateOutcome]) -> dict[int, OutcomeKind]:
    return {o.index: o.kind for o in outcomes}


async def drain(stream: Any) -> list[UpdateOutcome]:
    return [outcome async for outcome in stream]


async def from_async(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


async def others_done() -> None:
    """Wait until every other task has ended: what the stream had under way, and the server's."""
    await asyncio.gather(*(asyncio.all_tasks() - {asyncio.current_task()}), return_exceptions=True)


# == the property: whatever comes in, what goes out is legal and accounted for =============

STATUSES = ("pending", "confirmed", "preparing", "ready", "inTransit", "bogus")
STATES = ("open", "completed", "cancelled", "cancelled", "bogus")
REASONS = (None, "Item out of stock", "", "   ")
NAIVE = datetime(2026, 1, 15, 13, 30)
IDS = (A, B, C, A, B, C, "../../etc/passwd", "not-a-uuid")


@st.composite
def events(draw: st.DrawFn) -> Any:
    order = draw(st.sampled_from(IDS))
    shape = draw(st.sampled_from(("progress", "close", "eta", "anything")))
    status = state = eta = reason = None
    if shape == "progress":
        status = draw(st.sampled_from(STATUSES))
        eta = draw(st.sampled_from((None, *ETAS)))
    elif shape == "close":
        state = draw(st.sampled_from(STATES))
        reason = draw(st.sampled_from(REASONS)) if state == "cancelled" else None
    elif shape == "eta":
        eta = draw(st.sampled_from(ETAS))
    else:
        status = draw(st.sampled_from((None, *STATUSES)))
        state = draw(st.sampled_from((None, *STATES)))
        eta = draw(st.sampled_from((None, NAIVE, *ETAS)))
        reason = draw(st.sampled_from(REASONS))
    if draw(st.booleans()):
        return OrderEvent(order, status, state, eta, reason)
    event: dict[str, Any] = {"orderId": order}
    for key, value in (("status", status), ("state", state), ("cancelReason", reason)):
        if value is not None:
            event[key] = value
    if eta is not None:
        event["estimatedReadyAt"] = eta.isoformat().replace("+00:00", draw(st.sampled_from(("Z", "+00:00"))))
    return event


async def _run_property(
    items: list[Any], strict: bool, concurrency: int, buffer: int | None, seed: int
) -> tuple[Server, list[UpdateOutcome]]:
    rng = random.Random(seed)

    async def yields(_: Any) -> None:  # deterministic simulated latency: a few loop turns
        for _ in range(rng.randint(0, 3)):
            await asyncio.sleep(0)

    with aioresponses() as mocked:
        server = Server(hold=yields).install(mocked)
        async with make_client() as gett:
            stream = gett.orders.stream(items, strict=strict, concurrency=concurrency, buffer=buffer)
            outcomes = await drain(stream)
    return server, outcomes


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(events(), max_size=40),
    strict=st.booleans(),
    concurrency=st.integers(1, 4),
    extra=st.sampled_from((None, 0, 3)),
    seed=st.integers(0, 2**16),
)
def test_property_sent_is_legal_refused_is_illegal_and_nothing_is_lost(
    items: list[Any], strict: bool, concurrency: int, extra: int | None, seed: int
) -> None:
    buffer = None if extra is None else concurrency + extra
    server, outcomes = asyncio.run(_run_property(items, strict, concurrency, buffer, seed))

    # (c) every event yields exactly one outcome, carrying the object that was passed in
    assert sorted(o.index for o in outcomes) == list(range(len(items)))
    for outcome in outcomes:
        assert outcome.event is items[outcome.index]

    # (d) the kinds add up, and only sent events cost a request
    counts = Counter(o.kind for o in outcomes)
    assert sum(counts.values()) == len(items)
    assert counts[FAILED] == 0  # the server accepts everything
    assert counts[SENT] == server.count

    # (a) per order, the bodies the server saw form a legal path from pending
    for order, bodies in server.by_order().items():
        sim = SimOrder()
        for body in bodies:
            sim.apply_body(body, strict=strict)  # raises IllegalTransitionError on an illegal move
        assert order in (A, B, C)

    # (b) re-simulate each order in input order: sent <=> legal against the acknowledged state
    kind_of = kinds(outcomes)
    sims: dict[str, SimOrder] = {}
    expected_bodies: dict[str, list[dict[str, Any]]] = {}
    for index, event in enumerate(items):
        kind = kind_of[index]
        parts = parsed(event)
        if parts is None:
            assert kind is REFUSED, (index, event)
            continue
        order, target, eta, reason = parts
        if kind is SUPERSEDED:
            assert target is None, "only ETA-only updates are coalesced"
            later = [parsed(e) for e in items[index + 1 :]]
            assert any(p is not None and p[0] == order and p[1] is None for p in later)
            continue
        body = sims.setdefault(order, SimOrder()).try_move(target, eta, reason, strict=strict)
        assert (kind is SENT) == (body is not None), (index, event, kind, sims[order])
        if body is not None:
            expected_bodies.setdefault(order, []).append(body)
    seen = server.by_order()
    assert set(seen) == set(expected_bodies)
    for order, bodies in expected_bodies.items():
        assert len(seen[order]) == len(bodies)
        assert all(same_body(s, e) for s, e in zip(seen[order], bodies, strict=True)), (seen[order], bodies)

    # refusals name a problem
    for outcome in outcomes:
        if outcome.kind is REFUSED:
            assert isinstance(outcome.error, GettValidationError)


# == a big interleaved run with random server latency ========================================


def _plan(rng: random.Random, orders: int, per_order: int) -> list[dict[str, Any]]:
    """Mostly legal random walks, with illegal moves sprinkled in, interleaved at random."""
    walks: list[list[dict[str, Any]]] = []
    for n in range(orders):
        order, position, walk = oid(1000 + n), "pending", []
        for _ in range(per_order):
            allowed = [p for p in lifecycle.allowed_next(position) if p not in lifecycle.CLOSED_STATES]
            if allowed and rng.random() < 0.7:
                target = rng.choice(allowed)
                position = target
            else:
                target = rng.choice(lifecycle.POSITIONS)
            event: dict[str, Any] = {"orderId": order}
            if target in lifecycle.CLOSED_STATES:
                event["state"] = target
                if target == "cancelled":
                    event["cancelReason"] = "Item out of stock"
            else:
                event["status"] = target
                if rng.random() < 0.3:
                    event["estimatedReadyAt"] = wire(rng.choice(ETAS))
            walk.append(event)
        walks.append(walk)
    plan: list[dict[str, Any]] = []
    while walks:
        walk = rng.choice(walks)
        plan.append(walk.pop(0))
        if not walk:
            walks.remove(walk)
    return plan


async def test_thousands_of_interleaved_events_keep_per_order_fifo(mocked: Any) -> None:
    rng = random.Random(20240611)
    plan = _plan(rng, orders=300, per_order=10)
    server = Server(delay=latency(7, most=0.002)).install(mocked)
    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(plan, concurrency=32))

    sims: dict[str, SimOrder] = {}
    expected: dict[str, list[dict[str, Any]]] = {}
    legal: set[int] = set()
    for index, event in enumerate(plan):
        parts = parsed(event)
        if parts is None:  # e.g. status=pending
            continue
        body = sims.setdefault(parts[0], SimOrder()).try_move(*parts[1:], strict=False)
        if body is not None:
            legal.add(index)
            expected.setdefault(parts[0], []).append(body)
    assert 0 < len(legal) < len(plan)  # the plan has both

    assert len(outcomes) == len(plan) == 3000
    assert sorted(o.index for o in outcomes) == list(range(len(plan)))
    assert {o.index for o in outcomes if o.kind is SENT} == legal
    assert {o.index for o in outcomes if o.kind is REFUSED} == set(range(len(plan))) - legal
    seen = server.by_order()
    assert set(seen) == set(expected)
    for order, bodies in expected.items():  # the requests per order, in input order of its legal events
        assert len(seen[order]) == len(bodies)
        assert all(same_body(s, e) for s, e in zip(seen[order], bodies, strict=True)), order
    assert server.count == len(legal)  # refused events sent nothing
    assert 1 < server.max_in_flight <= 32
    assert all(o.attempts == 1 and o.latency > 0 for o in outcomes if o.kind is SENT)
    assert all(o.attempts == 0 and o.latency == 0 for o in outcomes if o.kind is REFUSED)


# == failures ==============================================================================


def _fail_first_two(order: str, body: dict[str, Any]) -> Any:
    return lambda seen: 500 if (seen.order_id, seen.body, seen.attempt <= 2) == (order, body, True) else 204


async def test_a_failed_event_blocks_its_orders_later_events_and_not_the_stream(mocked: Any) -> None:
    server = Server(answer=_fail_first_two(A, {"status": "preparing"})).install(mocked)
    events = [
        {"orderId": A, "status": "confirmed"},  # 0
        {"orderId": B, "status": "confirmed"},  # 1
        {"orderId": A, "status": "preparing"},  # 2: 500, retried once, 500 again -> failed
        {"orderId": C, "status": "ready"},  # 3
        {"orderId": A, "estimatedReadyAt": wire(ETA)},  # 4: blocked behind 2 (not refused: legal)
        {"orderId": B, "status": "preparing"},  # 5
        {"orderId": A, "status": "preparing"},  # 6: blocked
        {"orderId": A, "status": "ready"},  # 7: blocked
        {"orderId": C, "state": "completed"},  # 8
    ]
    async with make_client(retry=RetryPolicy(max_retries=1, base=0.001, cap=0.002)) as gett:
        outcomes = await drain(gett.orders.stream(events, concurrency=4))
    by_index = {o.index: o for o in outcomes}
    failed = by_index[2]
    assert failed.kind is FAILED and failed.attempts == 2
    assert isinstance(failed.error, ServerError) and failed.error.status == 500
    assert not failed.ok
    assert {i: o.kind for i, o in by_index.items() if i != 2} == {
        **dict.fromkeys((0, 1, 3, 5, 8), SENT), **dict.fromkeys((4, 6, 7), BLOCKED)
    }
    for i in (4, 6, 7):  # each names the failed event, and is not a refusal
        error = by_index[i].error
        assert isinstance(error, OrderBlockedError) and (error.order_id, error.failed_key) == (A, 2)
        assert "2" in str(error) and not isinstance(error, GettValidationError)
    assert server.bodies(A) == [{"status": "confirmed"}, {"status": "preparing"}, {"status": "preparing"}]
    assert server.bodies(B) == [{"status": "confirmed"}, {"status": "preparing"}]
    assert server.bodies(C) == [{"status": "ready"}, {"state": "completed"}]


async def test_after_a_failure_even_an_illegal_event_is_blocked_not_refused(mocked: Any) -> None:
    server = Server(answer=_fail_first_two(A, {"status": "preparing"})).install(mocked)
    events = [
        {"orderId": A, "status": "confirmed"},
        {"orderId": A, "status": "preparing"},
        {"orderId": A, "status": "ready"},  # confirmed -> ready is a skip
    ]
    async with make_client(retry=RetryPolicy(max_retries=1, base=0.001, cap=0.002)) as gett:
        outcomes = await drain(gett.orders.stream(events, strict=True))
    # Whether it is legal depends on where the failed event left the order: only a resume can tell.
    assert kinds(outcomes) == {0: SENT, 1: FAILED, 2: BLOCKED}
    assert server.bodies() == [{"status": "confirmed"}, {"status": "preparing"}, {"status": "preparing"}]


async def test_a_connection_error_that_only_one_event_meets_ends_it_failed(mocked: Any) -> None:
    # Nothing registered for B: aioresponses refuses the connection; A's go through meanwhile.
    server = Server()
    mocked.post(f"https://api.gett-tech.com/v1/commerce/orders/{A}/status", callback=server.callback, repeat=True)
    events = [{"orderId": B, "status": "confirmed"}, {"orderId": B, "status": "preparing"},
              *({"orderId": A, "status": s} for s in ("confirmed", "preparing", "ready", "inTransit"))]
    breaker = CircuitBreaker(connection_failures=3, pause=0)
    async with make_client(retry=RetryPolicy(max_retries=0)) as gett:
        stream = gett.orders.stream(events, concurrency=1, breaker=breaker)
        outcomes = await drain(stream)
    # Paused and retried twice (A's events going through in between), then failed on its own.
    assert kinds(outcomes) == {0: FAILED, 1: BLOCKED, 2: SENT, 3: SENT, 4: SENT, 5: SENT}
    failed = next(o for o in outcomes if o.index == 0)
    assert isinstance(failed.error, APIConnectionError) and stream.abort_error is None
    assert len(server.bodies()) == 4


# == ETA coalescing ========================================================================


async def test_eta_updates_queued_behind_an_in_flight_request_are_coalesced(mocked: Any) -> None:
    release = asyncio.Event()
    server = Server(hold=lambda seen: release.wait() if seen.body == {"status": "confirmed"} else None)
    server.install(mocked)

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"orderId": A, "status": "confirmed"}
        await server.started.wait()  # the confirm is in flight (and held) from here on
        for eta in ETAS:
            yield {"orderId": A, "estimatedReadyAt": wire(eta)}
        yield {"orderId": B, "status": "confirmed"}
        release.set()  # runs when the stream pulls again, i.e. after the events above were accepted

    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(events()))
    order = [(o.index, o.kind) for o in outcomes]
    # the older ETAs end as superseded while the confirm is still held, before anything of A is sent
    assert order[:2] == [(1, SUPERSEDED), (2, SUPERSEDED)]
    assert sorted(order[2:]) == [(0, SENT), (3, SENT), (4, SENT)]
    assert all(o.ok for o in outcomes)
    bodies = server.bodies(A)
    assert bodies[0] == {"status": "confirmed"}
    assert bodies[1]["status"] == "confirmed" and iso(bodies[1]["estimatedReadyAt"]) == ETAS[-1]
    assert len(bodies) == 2  # only the newest ETA cost a write


async def test_eta_updates_that_are_not_adjacent_are_each_sent(mocked: Any) -> None:
    server = Server().install(mocked)
    events = [
        {"orderId": A, "status": "confirmed"},
        {"orderId": A, "estimatedReadyAt": wire(ETAS[0])},
        {"orderId": A, "status": "preparing"},
        {"orderId": A, "estimatedReadyAt": wire(ETAS[1])},
        {"orderId": A, "estimatedReadyAt": wire(ETAS[2])},  # adjacent to the one before: supersedes it
    ]
    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(events))
    assert kinds(outcomes) == {0: SENT, 1: SENT, 2: SENT, 3: SUPERSEDED, 4: SENT}
    assert [b["status"] for b in server.bodies()] == ["confirmed", "confirmed", "preparing", "preparing"]
    assert [iso(b["estimatedReadyAt"]) for b in server.bodies()[1::2]] == [ETAS[0], ETAS[2]]


# == closed orders =========================================================================


async def test_a_late_event_for_a_released_closed_order_is_refused(mocked: Any) -> None:
    server = Server().install(mocked)
    closed = asyncio.Event()

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"orderId": A, "status": "ready"}
        yield {"orderId": A, "state": "completed"}
        await closed.wait()
        yield {"orderId": A, "status": "confirmed"}  # legal for a new order at pending
        yield {"orderId": A, "state": "cancelled", "cancelReason": "late"}  # legal from any open status

    async with make_client() as gett:
        stream = gett.orders.stream(events())
        first = [await anext(stream), await anext(stream)]
        assert [o.kind for o in first] == [SENT, SENT]
        closed.set()
        late = await drain(stream)
    assert [(o.index, o.kind) for o in late] == [(2, REFUSED), (3, REFUSED)]
    for outcome in late:
        assert isinstance(outcome.error, GettValidationError) and "already completed" in str(outcome.error)
        assert outcome.order_id == A
    assert server.count == 2


@pytest.mark.parametrize("memory", [1, 2])
async def test_closed_memory_is_a_bounded_lru(mocked: Any, memory: int) -> None:
    """Only the last ``closed_memory`` closed orders are remembered. An older one is
    forgotten: a late event for it is checked from ``pending`` like a new order's, so a
    cancel (legal from any open status) is sent; a remembered one is refused."""
    server = Server().install(mocked)
    gates = [asyncio.Event(), asyncio.Event()]

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"orderId": A, "status": "ready"}
        yield {"orderId": A, "state": "completed"}
        await gates[0].wait()  # A is closed and released before B closes
        yield {"orderId": B, "status": "ready"}
        yield {"orderId": B, "state": "completed"}
        await gates[1].wait()
        # B's first: a cancel sent for A would close A again and, with room for one, push B out.
        yield {"orderId": B, "state": "cancelled", "cancelReason": "late"}
        yield {"orderId": A, "state": "cancelled", "cancelReason": "late"}

    async with make_client() as gett:
        stream = gett.orders.stream(events(), closed_memory=memory)
        for gate in gates:
            assert [(await anext(stream)).kind for _ in range(2)] == [SENT, SENT]
            gate.set()
        late = {o.order_id: o for o in await drain(stream)}
    assert late[B].kind is REFUSED and "already completed" in str(late[B].error)
    if memory == 1:
        assert late[A].kind is SENT
        assert server.bodies(A)[-1] == {"state": "cancelled", "cancelReason": "late"}
    else:
        assert late[A].kind is REFUSED
    assert server.count == 4 + (memory == 1)


async def test_events_queued_behind_a_close_are_refused(mocked: Any) -> None:
    server = Server().install(mocked)
    events = [
        {"orderId": A, "status": "ready"},
        {"orderId": A, "state": "completed"},
        {"orderId": A, "state": "cancelled", "cancelReason": "late"},
        {"orderId": A, "estimatedReadyAt": wire(ETA)},
    ]
    async with make_client() as gett:
        stream = gett.orders.stream(events)
        outcomes = await drain(stream)
    assert kinds(outcomes) == {0: SENT, 1: SENT, 2: REFUSED, 3: REFUSED}
    assert server.count == 2
    assert all("already completed" in str(o.error) for o in outcomes if o.kind is REFUSED)
    assert stream.snapshots() == []  # closed: nothing to carry over


# == seeding ===============================================================================


async def test_seeding_from_a_snapshot_starts_the_order_where_it_is(mocked: Any) -> None:
    server = Server().install(mocked)
    events = [{"orderId": A, "state": "completed"}, {"orderId": B, "state": "completed"}]
    async with make_client() as gett:
        seed = gett.orders.track(A, status="ready").snapshot()
        outcomes = await drain(gett.orders.stream(events, snapshots=[seed]))
    assert kinds(outcomes) == {0: SENT, 1: REFUSED}  # B has no seed: it starts at pending
    assert server.bodies() == [{"state": "completed"}]


async def test_seeding_with_a_tracker_and_snapshots_of_open_orders(mocked: Any) -> None:
    Server().install(mocked)
    async with make_client() as gett:
        tracker = gett.orders.track(A, status="preparing")
        stream = gett.orders.stream(
            [{"orderId": A, "status": "ready"}, {"orderId": B, "status": "confirmed"},
             {"orderId": C, "status": "ready"}, {"orderId": C, "state": "completed"}],
            snapshots=[tracker],
        )
        assert {o.kind for o in await drain(stream)} == {SENT}
        assert tracker.status == "ready"  # the stream moved the very tracker it was given
        snapshots = {s["orderId"]: s for s in stream.snapshots()}
    assert set(snapshots) == {A, B}  # C closed: nothing to carry over
    assert (snapshots[A]["status"], snapshots[B]["status"]) == ("ready", "confirmed")


async def test_a_strict_stream_makes_restored_seeds_strict(mocked: Any) -> None:
    server = Server().install(mocked)
    async with make_client() as gett:
        seed = gett.orders.track(A, status="confirmed").snapshot()
        outcomes = await drain(gett.orders.stream([{"orderId": A, "status": "ready"}], snapshots=[seed],
                                                  strict=True))
    assert kinds(outcomes) == {0: REFUSED} and server.count == 0


async def test_a_malformed_seed_refuses_that_orders_events(mocked: Any) -> None:
    server = Server().install(mocked)
    async with make_client() as gett:
        seed = {"orderId": A, "status": "bogus"}
        outcomes = await drain(gett.orders.stream(
            [{"orderId": A, "status": "confirmed"}, {"orderId": B, "status": "confirmed"}], snapshots=[seed]
        ))
    assert kinds(outcomes) == {0: REFUSED, 1: SENT}
    assert server.bodies() == [{"status": "confirmed"}] and server.seen[0].order_id == B


# == backpressure ==========================================================================


class Counting:
    """An input that records how many items were pulled from it."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.pulled = 0

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            self.pulled += 1
            yield item

    async def aiter(self) -> AsyncIterator[Any]:
        for item in self.items:
            self.pulled += 1
            yield item


def _mixed(n: int) -> list[dict[str, Any]]:
    """Legal and refused events over a few orders."""
    out: list[dict[str, Any]] = []
    for i in range(n):
        order = oid(1 + i % 7)
        out.append({"orderId": order, "status": ("confirmed", "preparing", "ready", "bogus")[(i // 7) % 4]})
    return out


@pytest.mark.parametrize("source", ["sync", "async"])
@pytest.mark.parametrize(("buffer", "concurrency"), [(4, 2), (8, 8), (16, 3)])
async def test_input_is_pulled_only_while_the_buffer_has_room(
    mocked: Any, source: str, buffer: int, concurrency: int
) -> None:
    server = Server(delay=latency(3, most=0.001)).install(mocked)
    counting = Counting(_mixed(300))
    async with make_client() as gett:
        stream = gett.orders.stream(
            counting.aiter() if source == "async" else counting, buffer=buffer, concurrency=concurrency
        )
        assert stream.buffer == buffer
        for k in range(1, 41):
            await anext(stream)
            assert counting.pulled <= stream.buffer + k  # the documented bound
            assert stream.max_held <= stream.buffer
            assert stream.held <= stream.buffer and stream.in_flight <= concurrency
        # Stop pulling: what is under way ends (the requests in flight and, for an async
        # source, the one read already started), but nothing more is read or sent.
        counts = stream.counts
        pulled, started = counting.pulled, counts["sent"] + counts["failed"] + stream.in_flight
        await others_done()
        assert asyncio.all_tasks() == {asyncio.current_task()}  # so nothing more can happen
        assert counting.pulled <= pulled + (source == "async")
        assert counting.pulled <= stream.buffer + 40
        assert server.count == started and stream.in_flight == 0
        assert counting.pulled < len(counting.items)
        await stream.aclose()
    assert stream.max_held <= buffer
    if source == "sync":
        assert stream.max_held == buffer  # a sync source fills the buffer at once: it was used, never exceeded


async def test_lanes_go_on_while_the_consumer_waits() -> None:
    """A request's task takes the next ready event itself while the consumer waits in
    ``__anext__``: a few long-lived tasks send everything, not one task per event."""
    senders: set[asyncio.Task[Any] | None] = set()

    async def handler(request: ApiRequest) -> ApiResponse:
        senders.add(asyncio.current_task())
        await asyncio.sleep(0)  # an answer a loop turn later, as from a network
        return ApiResponse(204, {}, b"")

    async with make_client(transport=MockTransport(handler)) as gett:
        outcomes = await drain(gett.orders.stream(_mixed(400), concurrency=8))
    assert len(outcomes) == 400 and {o.kind for o in outcomes} == {SENT, REFUSED}
    assert len(senders) <= 2 * 8, len(senders)


async def test_no_request_starts_once_the_consumer_is_cancelled() -> None:
    """An answer and the consumer's cancellation in the same loop step: the answered request's
    task must not go on to the next event."""
    gett, transport, held = held_client()
    stream = gett.orders.stream(_confirms(2), concurrency=1)
    consumer = asyncio.create_task(anext(stream))
    await held.arrived.wait()

    def answer_and_cancel() -> None:
        held.answer()
        consumer.cancel()

    asyncio.get_running_loop().call_soon(answer_and_cancel)
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await stream.aclose()
    assert len(transport.requests) == 1
    assert stream.counts["sent"] == 1 and stream.in_flight == 0


async def test_a_lane_stopped_before_it_ran_still_gives_its_event_an_outcome() -> None:
    gett, transport, _ = held_client()
    events = [{"orderId": "not-a-uuid", "status": "confirmed"}, *_confirms(1)]
    stream = gett.orders.stream(events, concurrency=1)
    first = await anext(stream)  # the refusal, returned before the valid event's task ever ran
    assert first.kind is REFUSED and stream.in_flight == 1
    await stream.aclose()
    assert stream.counts == {"sent": 0, "refused": 1, "failed": 0, "superseded": 0, "blocked": 0, "aborted": 1}
    assert transport.requests == [] and stream.in_flight == 0
    # The order was never moved: it is handed on where it was.
    assert [(s["orderId"], s["status"]) for s in stream.snapshots()] == [(oid(5000), "pending")]


async def test_a_request_cancelled_from_outside_aborts_its_order_for_the_run() -> None:
    answers = iter([asyncio.CancelledError(), None, None])

    def handler(request: ApiRequest) -> ApiResponse:
        error = next(answers)
        if error is not None:
            raise error
        return ApiResponse(204, {}, b"")

    async with make_client(transport=MockTransport(handler)) as gett:
        moves = [{"orderId": A, "status": status} for status in ("confirmed", "preparing", "ready")]
        outcomes = await drain(gett.orders.stream(moves, concurrency=1))
    # It may have been applied: its order's later events wait for a resumed run (none is final).
    assert [o.kind for o in outcomes] == [ABORTED, ABORTED, ABORTED]
    assert isinstance(outcomes[0].error, GettError) and "cancelled" in str(outcomes[0].error)
    assert not any(o.final for o in outcomes)


async def test_an_unexpected_error_while_preparing_is_a_failed_outcome(
    mocked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a refusal but still an outcome: the order's later events are blocked."""
    Server().install(mocked)
    check, calls = OrderTracker.check, 0

    def flaky(self: OrderTracker, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("boom")
        return check(self, *args, **kwargs)

    monkeypatch.setattr(OrderTracker, "check", flaky)
    moves = [{"orderId": A, "status": status} for status in ("confirmed", "preparing", "ready")]
    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(moves, concurrency=1))
    assert [o.kind for o in outcomes] == [SENT, FAILED, BLOCKED]
    assert isinstance(outcomes[1].error, RuntimeError)


async def test_refused_events_count_against_the_buffer(mocked: Any) -> None:
    counting = Counting([{"orderId": "nope", "status": "confirmed"}] * 100)
    async with make_client() as gett:
        stream = gett.orders.stream(counting, buffer=5, concurrency=1)
        outcomes = [await anext(stream) for _ in range(3)]
        assert counting.pulled <= 5 + 3
        assert {o.kind for o in outcomes} == {REFUSED}
        rest = await drain(stream)
    assert len(outcomes) + len(rest) == 100 and stream.max_held == 5


def test_buffer_and_concurrency_are_validated() -> None:
    gett = make_client()
    with pytest.raises(ValueError, match="concurrency"):
        gett.orders.stream([], concurrency=0)
    with pytest.raises(ValueError, match="buffer"):
        gett.orders.stream([], concurrency=8, buffer=4)
    assert gett.orders.stream([], concurrency=32).buffer == 128
    assert gett.orders.stream([], concurrency=2).buffer == 64


# == memory ================================================================================

N = 4_000
MOVES = ("confirmed", "preparing", "ready", "completed")


def _lifecycles(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n // len(MOVES)):
        order = oid(10**9 + i)
        for move in MOVES:
            yield {"orderId": order, "state": move} if move == "completed" else {"orderId": order, "status": move}


async def test_many_full_lifecycles_are_all_sent_and_leave_no_open_order() -> None:
    """Closed orders are released (their memory is measured in benchmarks/memory.py)."""
    gett, transport = accepting_client()
    stream = gett.orders.stream(_lifecycles(N), concurrency=16, closed_memory=1_000)
    counts: Counter[OutcomeKind] = Counter()
    async for outcome in stream:
        counts[outcome.kind] += 1
        assert stream.held <= stream.buffer
    assert counts == {SENT: N} and len(transport.requests) == N
    assert stream.snapshots() == [] and stream.max_held == stream.buffer


# == stopping: break, aclose, cancellation, async with ======================================


def _confirms(n: int) -> list[dict[str, Any]]:
    return [{"orderId": oid(5000 + i), "status": "confirmed"} for i in range(n)]


async def test_break_and_drop_starts_nothing_more_and_leaves_no_task(
    mocked: Any, caplog: pytest.LogCaptureFixture
) -> None:
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    server = Server(delay=latency(11, most=0.002)).install(mocked)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        async with make_client() as gett:
            stream = gett.orders.stream(_confirms(200), concurrency=8)
            got = 0
            async for _ in stream:
                got += 1
                if got == 5:
                    break
            counts = stream.counts
            started_at_break = counts["sent"] + counts["failed"] + stream.in_flight
            assert stream.in_flight  # requests were still in flight
            del stream
            gc.collect()
            await others_done()  # the requests in flight end by themselves
            assert server.count == started_at_break  # nothing started after the break
            assert asyncio.all_tasks() == {asyncio.current_task()}
        gc.collect()
    assert errors == []
    assert "Task was destroyed" not in caplog.text


async def test_aclose_cancels_and_awaits_in_flight_requests(mocked: Any) -> None:
    server = Server(delay=latency(12, most=0.002)).install(mocked)
    closed_source = []

    async def events() -> AsyncIterator[dict[str, Any]]:
        try:
            for event in _confirms(100):
                yield event
        finally:
            closed_source.append(True)

    async with make_client() as gett:
        stream = gett.orders.stream(events(), concurrency=8)
        for _ in range(3):
            await anext(stream)
        in_flight, aborted = stream.in_flight, stream.counts["aborted"]
        assert in_flight
        await stream.aclose()
        assert asyncio.all_tasks() == {asyncio.current_task()}  # awaited: nothing left running
        assert stream.in_flight == 0 and stream.counts["aborted"] == aborted + in_flight
        sent = server.count
        with pytest.raises(StopAsyncIteration):
            await anext(stream)
        assert server.count == sent
        assert closed_source == [True]


async def test_cancelling_the_consumer_stops_the_stream(mocked: Any) -> None:
    release = asyncio.Event()
    all_held = asyncio.Event()
    concurrency = 4

    def hold(seen: Any) -> Any:
        if server.count == concurrency:
            all_held.set()
        return release.wait()

    server = Server(hold=hold).install(mocked)
    async with make_client() as gett:
        stream = gett.orders.stream(_confirms(50), concurrency=concurrency)
        consumer = asyncio.create_task(drain(stream))
        await all_held.wait()
        assert stream.in_flight == concurrency
        consumer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await consumer
        release.set()  # were they not cancelled, they would now complete (and the test would not hang)
        await others_done()
        assert server.count == concurrency  # nothing more started
        await stream.aclose()  # awaits the cancelled requests' ends
        assert stream.counts["aborted"] == concurrency and stream.counts["sent"] == 0  # cancelled, not answered
        assert server.count == concurrency and stream.in_flight == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


async def test_leaving_async_with_cleans_up(mocked: Any) -> None:
    server = Server(delay=latency(13, most=0.002)).install(mocked)
    async with make_client() as gett:
        async with gett.orders.stream(_confirms(100), concurrency=8) as stream:
            assert isinstance(stream, OrderStream)
            async for _ in stream:
                in_flight = stream.in_flight
                break
        assert in_flight and stream.in_flight == 0
        assert asyncio.all_tasks() == {asyncio.current_task()}  # awaited: nothing left running
        assert server.count < 100


async def test_a_failing_async_source_ends_the_stream_after_what_it_gave(mocked: Any) -> None:
    Server().install(mocked)

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"orderId": A, "status": "confirmed"}
        yield {"orderId": B, "status": "confirmed"}
        raise RuntimeError("the source broke")

    async with make_client() as gett:
        stream = gett.orders.stream(events())
        outcomes = []
        with pytest.raises(EventSourceError) as info:
            async for outcome in stream:
                outcomes.append(outcome)
        summary = await gett.orders.send_all(events())
    assert kinds(outcomes) == {0: SENT, 1: SENT}
    assert isinstance(info.value.error, RuntimeError) and info.value.events == 2
    assert isinstance(stream.source_error, RuntimeError)
    assert summary.counts["sent"] == 2 and summary.source_error is not None and not summary.ok


async def test_a_failing_sync_source_is_reported_the_same_way(mocked: Any) -> None:
    server = Server().install(mocked)

    def events() -> Iterator[dict[str, Any]]:
        yield {"orderId": A, "status": "confirmed"}
        raise ValueError("bad row")

    async with make_client() as gett:
        outcomes = []
        with pytest.raises(EventSourceError) as info:
            async for outcome in gett.orders.stream(events()):
                outcomes.append(outcome)
    assert kinds(outcomes) == {0: SENT} and server.count == 1
    assert isinstance(info.value.error, ValueError)


# == input forms and malformed events ======================================================


async def test_wire_mappings_are_accepted(mocked: Any) -> None:
    server = Server().install(mocked)
    events = [
        {"orderId": A, "status": "confirmed", "estimatedReadyAt": "2026-01-15T15:30:00+02:00"},
        {"orderId": A, "estimatedReadyAt": "2026-01-15T13:45:00.250Z"},
        {"orderId": A, "state": "cancelled", "cancelReason": "Item out of stock"},
        {"orderId": B.upper(), "status": "inTransit"},
        {"orderId": B, "state": "completed"},
    ]
    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(events))
    assert set(kinds(outcomes).values()) == {SENT}
    assert server.by_order() == {
        A: [
            {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00Z"},
            {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:45:00.250Z"},
            {"state": "cancelled", "cancelReason": "Item out of stock"},
        ],
        B: [{"status": "inTransit"}, {"state": "completed"}],
    }
    assert {o.order_id for o in outcomes} == {A, B}


TRAVERSAL = "../" * 9 + "etc/passw"
NO_OFFSET = "estimatedReadyAt: must be an RFC 3339 time with an offset"
MALFORMED: list[tuple[object, str]] = [
    ({"orderId": A, "status": "confirmed", "storeId": "x"}, "unknown field(s) storeId"),
    ({"orderId": A, "Status": "confirmed"}, "unknown field(s) Status"),
    ({"orderId": "../../admin", "status": "confirmed"}, "orderId: must be a UUID"),
    ({"orderId": TRAVERSAL, "status": "confirmed"}, "orderId: must be a UUID"),
    ({"orderId": A[:-1] + "/", "status": "confirmed"}, "orderId: must be a UUID"),
    ({"orderId": "%2e%2e%2f" * 4, "status": "confirmed"}, "orderId: must be a UUID"),
    ({"orderId": 12345, "status": "confirmed"}, "orderId: must be a UUID string"),
    ({"status": "confirmed"}, "orderId"),
    ({"orderId": A, "status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00"}, NO_OFFSET),
    ({"orderId": A, "estimatedReadyAt": "2026-01-15 13:30"}, NO_OFFSET),
    ({"orderId": A, "estimatedReadyAt": "2026-02-30T13:30:00Z"}, "estimatedReadyAt: is not a valid date-time"),
    ({"orderId": A, "estimatedReadyAt": 1768483800}, "estimatedReadyAt: must be a datetime"),
    ({"orderId": A, "state": "cancelled", "cancelReason": "   "}, "cancelReason: must not be blank"),
    ({"orderId": A, "state": "cancelled", "cancelReason": ""}, "cancelReason: must not be blank"),
    ({"orderId": A, "state": "cancelled"}, "cancelReason: a cancel needs a non-blank reason"),
    ({"orderId": A, "status": "confirmed", "cancelReason": "why"}, "cancelReason: is only sent with state="),
    ({"orderId": A, "state": "completed", "cancelReason": "why"}, "cancelReason: is only sent with state="),
    ({"orderId": A, "status": "pending"}, "'pending' may not be sent"),
    ({"orderId": A, "state": "open"}, "'open' may not be sent"),
    ({"orderId": A, "status": "shipped"}, "status: unknown value"),
    ({"orderId": A, "status": "confirmed", "state": "completed"}, "not both"),
    ({"orderId": A}, "asks for nothing"),
    (OrderEvent(A, status="confirmed", estimated_ready_at=NAIVE), "must be timezone-aware"),
    (OrderEvent(A, state="completed"), "completes only from ready or inTransit"),
    ("confirmed", "must be an OrderEvent or a mapping, got str"),
    (42, "got int"),
    (None, "got NoneType"),
    ([("orderId", A), ("status", "confirmed")], "got list"),
]


async def test_malformed_events_are_refused_naming_the_problem_and_send_nothing(mocked: Any) -> None:
    server = Server().install(mocked)
    items = [event for event, _ in MALFORMED] + [{"orderId": C, "status": "confirmed"}]
    async with make_client() as gett:
        outcomes = {o.index: o for o in await drain(gett.orders.stream(items))}
    assert len(outcomes) == len(items)
    for index, (event, words) in enumerate(MALFORMED):
        outcome = outcomes[index]
        assert outcome.kind is REFUSED, event
        assert outcome.event is event
        assert isinstance(outcome.error, GettValidationError)
        assert words in str(outcome.error), (event, str(outcome.error))
        assert (outcome.attempts, outcome.latency) == (0, 0.0)
    assert outcomes[len(MALFORMED)].kind is SENT  # the stream carried on
    assert server.bodies() == [{"status": "confirmed"}] and server.seen[0].order_id == C


def test_parse_event_returns_the_normalised_update() -> None:
    update = parse_event({"orderId": A.upper(), "estimatedReadyAt": "2026-01-15T15:30:00+02:00"})
    assert update == Update(A, None, ETA, None) and update.order_id == A  # the same instant, the id canonical
    assert parse_event(OrderEvent(A, state="cancelled", cancel_reason="x")) == Update(A, "cancelled", None, "x")
    assert parse_event({"orderId": A, "status": "inTransit"}) == Update(A, "inTransit", None, None)


async def test_async_iterable_input(mocked: Any) -> None:
    server = Server().install(mocked)
    async with make_client() as gett:
        outcomes = await drain(gett.orders.stream(from_async([
            OrderEvent(A, status="confirmed", estimated_ready_at=ETA),
            {"orderId": A, "status": "ready"},
            {"orderId": A, "status": "preparing"},  # backward: refused
            OrderEvent(A, state="completed"),
        ])))
    assert kinds(outcomes) == {0: SENT, 1: SENT, 2: REFUSED, 3: SENT}
    assert server.bodies() == [
        {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00Z"}, {"status": "ready"},
        {"state": "completed"},
    ]


async def test_send_all_counts_every_kind_and_keeps_the_failures(mocked: Any) -> None:
    server = Server(answer=lambda seen: 503 if seen.order_id == C else 204).install(mocked)
    events = [
        {"orderId": A, "status": "confirmed"},
        {"orderId": A, "estimatedReadyAt": wire(ETAS[0])},  # superseded by the next
        {"orderId": A, "estimatedReadyAt": wire(ETAS[1])},
        {"orderId": B, "state": "completed"},  # refused: B is pending
        {"orderId": "nope", "status": "ready"},  # refused: malformed
        {"orderId": C, "status": "ready"},  # failed: 503
    ]
    async with make_client() as gett:
        summary = await gett.orders.send_all(events, concurrency=2)
    assert isinstance(summary, StreamSummary)
    assert summary.counts == {"sent": 2, "refused": 2, "failed": 1, "superseded": 1, "blocked": 0, "aborted": 0}
    assert summary.total == len(events) and not summary.ok
    [failure] = summary.failures
    assert (failure.index, failure.order_id, failure.kind) == (5, C, FAILED)
    assert isinstance(failure.error, ServerError) and failure.attempts == 1
    assert sorted(r.index for r in summary.refusals) == [3, 4]
    assert server.count == 3


async def test_send_all_on_clean_input_is_ok(mocked: Any) -> None:
    Server().install(mocked)
    async with make_client() as gett:
        summary = await gett.orders.send_all(from_async(_confirms(10)), keep=0)
    assert summary.ok and summary.counts["sent"] == 10 and summary.failures == [] and summary.refusals == []


async def test_an_idle_open_order_is_remembered_and_its_next_event_checked_against_it(mocked: Any) -> None:
    """An open order with nothing under way is parked (as plain values, see benchmarks/memory.py):
    its later events are still checked against where it is, in the same stream and the next."""
    server = Server().install(mocked)
    eta = "2026-01-15T13:30:00Z"
    idle = asyncio.Event()

    async def events() -> AsyncIterator[dict[str, Any]]:
        yield {"orderId": A, "status": "preparing", "estimatedReadyAt": eta}
        await idle.wait()  # A's outcome was taken: nothing of A is under way
        yield {"orderId": A, "status": "confirmed"}  # backward: refused

    async with make_client() as gett:
        stream = gett.orders.stream(events())
        assert (await anext(stream)).kind is SENT
        idle.set()
        assert kinds(await drain(stream)) == {1: REFUSED}
        (snapshot,) = stream.snapshots()
        assert (snapshot["orderId"], snapshot["status"], snapshot["estimatedReadyAt"]) == (A, "preparing", eta)

        later = gett.orders.stream(
            [{"orderId": A, "status": "confirmed"}, {"orderId": A, "estimatedReadyAt": eta},
             {"orderId": A, "status": "ready"}],
            snapshots=[snapshot],
        )
        outcomes = await drain(later)
    # backward: refused; the same ETA again: refused (nothing changed); ready: sent
    assert kinds(outcomes) == {0: REFUSED, 1: REFUSED, 2: SENT}
    assert server.bodies(A) == [{"status": "preparing", "estimatedReadyAt": eta}, {"status": "ready"}]


async def test_snapshots_hand_back_seeds_the_stream_never_needed(mocked: Any) -> None:
    Server().install(mocked)
    async with make_client() as gett:
        untouched = gett.orders.track(B, status="ready").snapshot()
        stream = gett.orders.stream([{"orderId": A, "status": "confirmed"}], snapshots=[untouched])
        await drain(stream)
        carried = {s["orderId"]: s for s in stream.snapshots()}
    assert set(carried) == {A, B}
    assert carried[B] == untouched and carried[A]["status"] == "confirmed"
