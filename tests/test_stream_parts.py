"""The stream's pure parts, without an event loop: the scheduler, the order book and the engine.

The engine is driven by hand (accept, next_job, finish, take) in every order a network could
produce, and checked against the stream's guarantees.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers_stream import oid
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gett_async import GettValidationError, IllegalTransitionError, OrderTracker, lifecycle
from gett_async.orders.stream import Job, OrderBook, OrderEvent, OutcomeKind, Scheduler, StreamEngine

BLOCKED, ABORTED = OutcomeKind.BLOCKED, OutcomeKind.ABORTED
SENT, REFUSED, FAILED, SUPERSEDED = (OutcomeKind.SENT, OutcomeKind.REFUSED, OutcomeKind.FAILED,
                                     OutcomeKind.SUPERSEDED)
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)
A, B, C = oid(1), oid(2), oid(3)


class NoSender:
    """The book's trackers never send here: the engine hands jobs out, the test answers them."""

    async def send_update(self, update: Any, **options: Any) -> Any:
        raise AssertionError("the pure parts do no I/O")


def book(**options: Any) -> OrderBook:
    return OrderBook(NoSender(), **options)


# == the scheduler ===========================================================================


def test_scheduler_keeps_each_key_in_order_with_one_out() -> None:
    queues: Scheduler[str, int] = Scheduler()
    for item, key in enumerate("aabab"):
        queues.push(key, item)
    assert queues.pop() == ("a", 0) and queues.pop() == ("b", 2)
    assert queues.pop() is None  # both keys have one out
    assert queues.done("a") is False  # a still has 1 and 3
    assert queues.pop() == ("a", 1)
    assert queues.done("b") is False and queues.pop() == ("b", 4)
    assert queues.done("b") is True and queues.keys == 1  # b is forgotten
    assert queues.done("a") is False and queues.pop() == ("a", 3) and queues.done("a") is True
    assert queues.keys == 0 and not queues


def test_scheduler_coalesces_only_adjacent_waiting_items() -> None:
    queues: Scheduler[str, str] = Scheduler(coalesces=lambda item: item.startswith("eta"))
    assert queues.push("a", "eta1") is None
    assert queues.pop() == ("a", "eta1")  # out: no longer waiting, so not replaced
    assert queues.push("a", "eta2") is None
    assert queues.push("a", "eta3") == "eta2"
    assert queues.push("a", "status") is None
    assert queues.push("a", "eta4") is None  # not adjacent to eta3
    assert queues.waiting("a") == 3


ops = st.lists(st.tuples(st.sampled_from(("push", "pop", "done")), st.sampled_from("abc"), st.booleans()),
               max_size=80)


@settings(max_examples=200)
@given(ops)
def test_scheduler_property_every_item_out_once_or_replaced_in_key_order(steps: list[tuple[str, str, bool]]) -> None:
    queues: Scheduler[str, tuple[str, int, bool]] = Scheduler(coalesces=lambda item: item[2])
    pushed: list[tuple[str, int, bool]] = []
    out: dict[str, tuple[str, int, bool]] = {}
    popped: list[tuple[str, int, bool]] = []
    replaced: list[tuple[str, int, bool]] = []
    for op, key, flag in steps:
        if op == "push":
            item = (key, len(pushed), flag)
            pushed.append(item)
            old = queues.push(key, item)
            if old is not None:
                assert old[0] == key and old[2] and flag and old not in out.values()
                replaced.append(old)
        elif op == "pop":
            got = queues.pop()
            if got is not None:
                assert got[0] not in out  # one out per key
                out[got[0]] = got[1]
                popped.append(got[1])
        elif key in out:
            del out[key]
            queues.done(key)
    while out or queues:  # drain
        for key in list(out):
            del out[key]
            queues.done(key)
        while (got := queues.pop()) is not None:
            out[got[0]] = got[1]
            popped.append(got[1])
    assert queues.keys == 0
    assert sorted(popped + replaced) == sorted(pushed)  # each item exactly once
    for key in "abc":
        indexes = [item[1] for item in popped if item[0] == key]
        assert indexes == sorted(indexes)  # per-key FIFO


# == the order book ============================================================================


def test_an_idle_open_order_is_parked_and_picked_up_where_it_was() -> None:
    orders = book()
    tracker = orders.tracker(A)
    tracker.acknowledge(tracker.prepare("preparing", estimated_ready_at=ETA))
    orders.release(A)
    assert (orders.active, orders.parked, orders.position(A)) == (0, 1, "preparing")
    again = orders.tracker(A)
    assert again is not tracker and (again.status, again.estimated_ready_at) == ("preparing", ETA)
    assert (orders.active, orders.parked) == (1, 0)


def test_closed_orders_are_forgotten_as_trackers_and_remembered_by_id_in_a_bounded_lru() -> None:
    orders = book(closed_memory=2)
    for order_id in (A, B, C):
        tracker = orders.tracker(order_id)
        tracker.acknowledge(tracker.prepare("cancelled", cancel_reason="gone"))
        orders.release(order_id)
    assert (orders.active, orders.parked, len(orders.closed)) == (0, 0, 2)
    assert orders.position(A) is None  # the oldest was forgotten: it would start at pending
    assert orders.position(C) == "cancelled"
    with pytest.raises(IllegalTransitionError, match="already cancelled"):
        orders.tracker(C).prepare("confirmed")


def test_seeds_start_orders_where_they_are_and_a_callers_tracker_is_moved_itself() -> None:
    mine = OrderTracker(NoSender(), B, status="ready")
    orders = book(seeds=[OrderTracker(NoSender(), A, status="confirmed").snapshot(), mine], strict=True)
    assert orders.tracker(A).status == "confirmed" and orders.tracker(A).strict
    assert orders.tracker(B) is mine and mine.strict  # a strict stream makes its seeds strict
    orders.release(B)
    assert orders.active == 2 and orders.parked == 0  # the caller's own tracker is never parked
    orders.release(A)
    assert {s["orderId"] for s in orders.snapshots()} == {A, B}


def test_a_malformed_seed_is_refused_when_its_order_comes_up() -> None:
    orders = book(seeds=[{"orderId": A, "status": "bogus"}])
    with pytest.raises(GettValidationError):
        orders.tracker(A)
    assert orders.tracker(A).status == "pending"  # dropped: the order starts afresh
    with pytest.raises(GettValidationError, match="orderId"):
        book(seeds=[{"orderId": "nope"}])


# == the engine ==============================================================================


def engine(buffer: int = 64, **options: Any) -> StreamEngine[Any]:
    return StreamEngine(book(**options), buffer=buffer)


def test_the_engine_refuses_at_once_and_checks_each_order_against_its_acknowledged_state() -> None:
    core = engine()
    events = [{"orderId": A, "status": "confirmed"}, {"orderId": "nope", "status": "ready"},
              {"orderId": A, "status": "preparing"}, {"orderId": A, "status": "confirmed"}]
    for event in events:
        core.accept(event)
    refused = core.take()
    assert refused is not None and (refused.kind, refused.index, refused.order_id) == (REFUSED, 1, "nope")
    first = core.next_job()
    assert first is not None and first.index == 0
    assert core.next_job() is None  # A has one in flight
    core.finish(first, attempts=1)
    second = core.next_job()
    assert second is not None and second.update.target == "preparing"
    core.finish(second, error=RuntimeError("503"))  # failed: A stays at confirmed
    assert core.next_job() is None  # behind the failed event: blocked on the way
    core.end_input()
    taken = [core.take() for _ in range(4)]
    assert [(o.index, o.kind) for o in taken if o is not None] == [(0, SENT), (2, FAILED), (3, BLOCKED)]
    assert core.finished and core.book.position(A) == "confirmed"


def test_eta_only_updates_waiting_in_a_row_are_superseded_by_the_newest() -> None:
    core = engine()
    core.accept(OrderEvent(A, status="confirmed"))
    job = core.next_job()
    for minutes in (5, 10, 15):
        core.accept(OrderEvent(A, estimated_ready_at=ETA + timedelta(minutes=minutes)))
    assert [(o.index, o.kind) for o in (core.take(), core.take())] == [(1, SUPERSEDED), (2, SUPERSEDED)]
    assert job is not None
    core.finish(job)
    eta = core.next_job()
    assert eta is not None and eta.index == 3
    assert eta.update.target == "confirmed"  # an ETA-only update restates the current status


def test_an_abandoned_job_is_aborted_and_so_are_its_orders_later_events() -> None:
    core = engine()
    core.accept({"orderId": A, "status": "confirmed"})
    core.accept({"orderId": A, "status": "preparing"})
    job = core.next_job()
    assert job is not None
    core.abandon(job, RuntimeError("cancelled"))
    assert core.next_job() is None  # it may have been applied: "preparing" waits for a resumed run
    assert [(o.index, o.kind, o.final) for o in (core.take(), core.take()) if o is not None] == [
        (0, ABORTED, False), (1, ABORTED, False)
    ]
    assert core.book.position(A) == "pending"  # never acknowledged


STATUSES = ("confirmed", "preparing", "ready", "inTransit", "pending")


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    order = draw(st.sampled_from((A, B, C)))
    kind = draw(st.sampled_from(("status", "close", "eta")))
    if kind == "status":
        return {"orderId": order, "status": draw(st.sampled_from(STATUSES))}
    if kind == "close":
        state = draw(st.sampled_from(("completed", "cancelled")))
        return {"orderId": order, "state": state, **({"cancelReason": "x"} if state == "cancelled" else {})}
    minutes = draw(st.integers(0, 3))
    return {"orderId": order, "estimatedReadyAt": (ETA + timedelta(minutes=minutes)).isoformat()}


@settings(max_examples=300)
@given(
    events=st.lists(event(), max_size=30),
    buffer=st.integers(1, 6),
    concurrency=st.integers(1, 3),
    moves=st.lists(st.tuples(st.sampled_from(("read", "send", "answer", "fail", "take")), st.integers(0, 5)),
                   max_size=200),
    strict=st.booleans(),
)
@example(  # found by hypothesis: an ETA superseded by the next ETA across a refused "pending" between them
    events=[{"orderId": C, "estimatedReadyAt": "2026-01-15T13:30:00+00:00"}, {"orderId": C, "status": "pending"},
            {"orderId": C, "estimatedReadyAt": "2026-01-15T13:30:00+00:00"}],
    buffer=3, concurrency=1, moves=[("read", 0), ("read", 0)], strict=False,
)
def test_engine_property_one_outcome_each_fifo_one_in_flight_bounded_legal(
    events: list[dict[str, Any]], buffer: int, concurrency: int, moves: list[tuple[str, int]], strict: bool
) -> None:
    core: StreamEngine[dict[str, Any]] = engine(buffer=buffer, strict=strict)
    source = iter(events)
    flying: list[Job[dict[str, Any]]] = []
    sent: dict[str, list[Job[dict[str, Any]]]] = {}
    launched: list[int] = []
    outcomes = []

    def step(move: str, pick: int) -> None:
        if move == "read" and core.wants_input:
            item = next(source, None)
            if item is None:
                core.end_input()
            else:
                core.accept(item)
        elif move == "send" and len(flying) < concurrency:
            job = core.next_job()
            if job is not None:
                assert all(other.order_id != job.order_id for other in flying)  # one in flight per order
                flying.append(job)
                launched.append(job.index)
        elif move in ("answer", "fail") and flying:
            job = flying.pop(pick % len(flying))
            if move == "answer":
                sent.setdefault(job.order_id, []).append(job)
                core.finish(job)
            else:
                core.finish(job, error=RuntimeError("no"))
        elif move == "take" and (outcome := core.take()) is not None:
            outcomes.append(outcome)
        assert core.outcomes.held <= buffer

    for move, pick in moves:
        step(move, pick)
    while not core.finished:  # then let everything finish
        for move in ("read", "send", "answer", "take"):
            step(move, 0)

    assert sorted(o.index for o in outcomes) == list(range(len(events)))  # exactly one outcome each
    assert all(o.event is events[o.index] for o in outcomes)
    assert {o.index for o in outcomes if o.kind in (SENT, FAILED)} == set(launched)
    for order_id in (A, B, C):
        indexes = [i for i in launched if events[i]["orderId"] == order_id]
        assert indexes == sorted(indexes)  # per-order FIFO
        position = "pending"
        for job in sent.get(order_id, []):  # what Gett acknowledged is a legal path
            assert job.update.target is not None
            lifecycle.check(position, job.update.target, strict=strict, eta_changed=True)
            position = job.update.target
        assert core.book.position(order_id) in (None if position == "pending" else position, position)
    for outcome in outcomes:
        if outcome.kind is SUPERSEDED:  # by a later ETA of its order that waited with it (a refusal between waits not)
            by = outcome.superseded_by
            assert isinstance(by, int) and by > outcome.index and events[by]["orderId"] == outcome.order_id
            assert "estimatedReadyAt" in outcome.event and "estimatedReadyAt" in events[by]
    assert core.book.active == 0  # nothing under way: no tracker kept
