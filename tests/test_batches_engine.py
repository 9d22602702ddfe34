"""The checkpoint protocol without an event loop: a run killed at any instant and resumed
from what its store holds sends no older status after a newer one, repeats only exact
writes, gives every event one final outcome, and leaves each order where an uninterrupted
run leaves it (hypothesis drives the interleavings and the instant of the kill)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from helpers_stream import oid
from hypothesis import given, settings
from hypothesis import strategies as st

from gett_async import APIConnectionError, AuthenticationError, IllegalTransitionError, ServerError, lifecycle
from gett_async.orders.stream import (
    Batch,
    CircuitBreaker,
    EventKey,
    Job,
    OrderBook,
    OutcomeKind,
    OutcomeRecord,
    StreamEngine,
)
from gett_async.resources import Receipt

A, B, C = oid(1), oid(2), oid(3)
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)


class NoSender:
    async def send_update(self, update: Any, **options: Any) -> Receipt:  # never called: no I/O here
        raise AssertionError("the engine sends nothing itself")


class MemoryStore:
    """A checkpoint whose durable content is exactly what `write` got."""

    def __init__(self) -> None:
        self.outcomes: dict[EventKey, OutcomeRecord] = {}
        self.orders: dict[str, Mapping[str, Any]] = {}

    def outcome(self, key: EventKey) -> OutcomeRecord | None:
        return self.outcomes.get(key)

    def order(self, order_id: str) -> Mapping[str, Any] | None:
        return self.orders.get(order_id)

    def write(self, batch: Batch) -> None:
        self.outcomes.update((r.key, r) for r in batch.outcomes)
        self.orders.update(batch.orders)


class Gett:
    """Where each order really is, and every write that would have been a 409."""

    def __init__(self) -> None:
        self.orders: dict[str, tuple[str, datetime | None]] = {}
        self.illegal: list[tuple[str, str, str]] = []
        self.repeats = 0
        self.applied = 0

    def apply(self, job: Job[Any]) -> None:
        position, eta = self.orders.get(job.order_id, ("pending", None))
        target = job.update.target or position
        if target == position and (lifecycle.is_closed(target) or job.update.estimated_ready_at == eta):
            self.repeats += 1  # an exact repeat: accepted, nothing moves (as the emulator does)
            return
        changed = job.update.estimated_ready_at is not None and job.update.estimated_ready_at != eta
        try:
            lifecycle.check(position, target, eta_changed=changed)
        except IllegalTransitionError:
            self.illegal.append((job.order_id, position, target))
            return
        self.orders[job.order_id] = (target, eta if lifecycle.is_closed(target) else job.update.estimated_ready_at)
        self.applied += 1


def engine(store: MemoryStore) -> StreamEngine[Any]:
    book = OrderBook(NoSender(), lookup=store.order)
    return StreamEngine(book, buffer=6, prior=store.outcome, checkpointing=True)


@st.composite
def lifecycle_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Each order's legal path with ETA updates (every ETA later than the last), a few illegal
    events mixed in, the orders interleaved."""
    per_order: list[list[dict[str, Any]]] = []
    minutes = 0
    for order in (A, B, C):
        path = draw(st.sampled_from([
            ["confirmed", "ready", "completed"], ["confirmed", "preparing", "ready", "inTransit", "completed"],
            ["confirmed", "cancelled"], ["preparing"],
        ]))
        events: list[dict[str, Any]] = []
        for move in path:
            if move in ("completed", "cancelled"):
                reason = {"cancelReason": "x"} if move == "cancelled" else {}
                events.append({"orderId": order, "state": move, **reason})
            else:
                events.append({"orderId": order, "status": move})
                for _ in range(draw(st.integers(0, 2))):
                    minutes += 1
                    eta = ETA + timedelta(minutes=minutes)
                    events.append({"orderId": order, "estimatedReadyAt": eta.isoformat()})
        if draw(st.booleans()):  # a mistake: sent back to confirmed, somewhere after the start
            events.insert(draw(st.integers(1, len(events))), {"orderId": order, "status": "confirmed"})
        per_order.append(events)
    merged: list[dict[str, Any]] = []
    while any(per_order):
        lane = draw(st.sampled_from([events for events in per_order if events]))
        merged.append(lane.pop(0))
    return merged


def drive(core: StreamEngine[Any], store: MemoryStore, gett: Gett, events: list[dict[str, Any]],
          moves: list[tuple[str, int]], flying: list[Job[Any]], writing: list[Batch]) -> None:
    source = iter(events[core.outcomes.admitted:])
    for move, pick in moves:
        if move == "read" and core.wants_input:
            item = next(source, None)
            core.end_input() if item is None else core.accept(item)
        elif move == "send" and len(flying) < 3 and (job := core.next_job()) is not None:
            flying.append(job)
        elif move == "answer" and flying:
            job = flying.pop(pick % len(flying))
            gett.apply(job)
            core.finish(job)
        elif move == "take":
            core.take()
        elif move == "write" and not writing and (batch := core.take_batch()) is not None:
            writing.append(batch)
        elif move == "durable" and writing:
            store.write(writing.pop())
            core.recorded()


MOVES = ("read", "send", "answer", "take", "write", "durable")


def to_the_end(
    core: StreamEngine[Any], store: MemoryStore, gett: Gett, events: list[dict[str, Any]], *, reads_first: int = 0
) -> None:
    """Run to the end; ``reads_first`` extra reads before each round build a backlog."""
    flying: list[Job[Any]] = []
    writing: list[Batch] = []
    while not core.finished:
        drive(core, store, gett, events, [("read", 0)] * reads_first + [(move, 0) for move in MOVES], flying, writing)


@settings(max_examples=300, deadline=None)
@given(
    events=lifecycle_events(),
    moves=st.lists(st.tuples(st.sampled_from(MOVES), st.integers(0, 5)), max_size=150),
    applied=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_a_run_killed_anywhere_and_resumed_ends_as_an_uninterrupted_one(
    events: list[dict[str, Any]], moves: list[tuple[str, int]], applied: list[bool]
) -> None:
    reference_store, reference = MemoryStore(), Gett()
    to_the_end(engine(reference_store), reference_store, reference, events)
    assert reference.illegal == []

    store, gett = MemoryStore(), Gett()
    first = engine(store)
    flying: list[Job[Any]] = []
    writing: list[Batch] = []
    drive(first, store, gett, events, moves, flying, writing)
    # The kill: requests in flight may or may not have been applied; the batch being written is lost.
    for job, reached in zip(flying, applied, strict=False):
        if reached:
            gett.apply(job)
    # Writes Gett applied whose outcome the store does not hold: what a resume may repeat.
    unrecorded_writes = gett.applied - sum(1 for r in store.outcomes.values() if r.kind == "sent")

    resumed = engine(store)
    repeats_before = gett.repeats
    to_the_end(resumed, store, gett, events)

    assert gett.illegal == []  # never an older status after a newer one
    assert gett.orders == reference.orders  # every order where an uninterrupted run leaves it
    assert sorted(store.outcomes, key=int) == list(range(len(events)))  # one final outcome each
    # The same kinds as the uninterrupted run, but for ETA updates superseded in one run only.
    differ = {k for k, r in store.outcomes.items() if r.kind != reference_store.outcomes[k].kind}
    assert all({store.outcomes[k].kind, reference_store.outcomes[k].kind} == {"sent", "superseded"} for k in differ)
    assert gett.repeats - repeats_before <= unrecorded_writes  # only what was not recorded is repeated


# -- stop, abort and the breaker, anywhere -----------------------------------------------------


def _error(kind: str) -> BaseException | None:
    if kind == "answer":
        return None
    if kind == "unauthorized":
        return AuthenticationError("401 unauthorized", status=401)
    if kind == "no-connection":
        return APIConnectionError("connection refused")
    return ServerError("503 down", status=503)


# Weighted: reads, sends and answers are common; a 401 ends the run, so it is rare (a stop comes apart).
STOP_MOVES = ("read", "read", "read", "send", "send", "send", "answer", "answer", "no-connection", "no-connection",
              "server-error", "take", "take", "write", "durable", "resume", "unauthorized")


@settings(max_examples=300, deadline=None)
@given(events=lifecycle_events(), moves=st.lists(st.tuples(st.sampled_from(STOP_MOVES), st.integers(0, 5)),
                                                 min_size=40, max_size=200), stop_at=st.integers(0, 400))
def test_stops_aborts_and_pauses_anywhere_leave_one_outcome_each_and_send_nothing_after(
    events: list[dict[str, Any]], moves: list[tuple[str, int]], stop_at: int
) -> None:
    store, gett = MemoryStore(), Gett()
    core = StreamEngine(OrderBook(NoSender(), lookup=store.order), buffer=6, checkpointing=True,
                        breaker=CircuitBreaker(connection_failures=2, pause=0))
    source = iter(events)
    flying: list[Job[Any]] = []
    writing: list[Batch] = []
    outcomes: list[Any] = []
    sent_after_abort = 0

    def step(move: str, pick: int) -> None:
        nonlocal sent_after_abort
        if move == "read" and core.wants_input:
            item = next(source, None)
            core.end_input() if item is None else core.accept(item)
        elif move == "send" and len(flying) < 3 and (job := core.next_job()) is not None:
            sent_after_abort += core.abort_error is not None
            flying.append(job)
        elif move in ("answer", "unauthorized", "no-connection", "server-error") and flying:
            job = flying.pop(pick % len(flying))
            if move == "answer":
                gett.apply(job)
            core.finish(job, error=_error(move))
        elif move == "take" and (outcome := core.take()) is not None:
            outcomes.append(outcome)
        elif move == "write" and not writing and (batch := core.take_batch()) is not None:
            writing.append(batch)
        elif move == "durable" and writing:
            store.write(writing.pop())
            core.recorded()
        elif move == "resume":
            core.resume()
        elif move == "stop":
            core.stop()

    for n, (move, pick) in enumerate(moves):
        step("stop" if n == stop_at else move, pick)
    while not core.finished:
        for move in ("resume", "read", "send", "answer", "take", "write", "durable"):
            step(move, 0)

    assert sent_after_abort == 0 and gett.illegal == []
    indexes = sorted(o.index for o in outcomes)
    assert indexes == list(range(len(indexes))) and len(indexes) == core.outcomes.admitted  # one outcome each
    final = {o.key: o.kind.value for o in outcomes if o.final}
    assert {k: r.kind for k, r in store.outcomes.items()} == final  # exactly the final ones are recorded
    for outcome in outcomes:
        if outcome.kind is OutcomeKind.BLOCKED:  # only behind a failure of its own order, named
            assert store.outcomes[outcome.error.failed_key].kind == "failed"
        if outcome.kind is OutcomeKind.ABORTED:
            assert core.abort_error is not None or "no answer" in str(outcome.error)
    assert core.watermark.count == next((o.index for o in sorted(outcomes, key=lambda o: o.index) if not o.final),
                                        len(indexes))
