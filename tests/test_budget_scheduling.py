"""Budget-aware stream scheduling without an event loop: while writes wait, closing updates go
first, then progress, then ETA-only updates; an order's waiting statuses collapse into the
latest legal one; strict keeps every status. Hypothesis checks the promises: no illegal
move is sent, no order's events go out of order, every event has one outcome, and every
order ends where plain FIFO leaves it."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import API_KEY
from helpers_stream import oid
from hypothesis import given, settings
from hypothesis import strategies as st
from test_batches_engine import MOVES, MemoryStore, drive, lifecycle_events, to_the_end
from test_batches_engine import Gett as CheckedGett

from gett_async import (
    ApiResponse,
    GettClient,
    GettValidationError,
    HeaderRateLimitGate,
    IllegalTransitionError,
    ServerError,
    lifecycle,
)
from gett_async._console import duration
from gett_async.checkpoints import FileCheckpoint
from gett_async.orders.stream import (
    Batch,
    Job,
    OrderBook,
    OrderStream,
    OutcomeKind,
    Scheduler,
    StreamEngine,
    UpdateOutcome,
)
from gett_async.resources import Receipt
from gett_async.testing import MockTransport

SENT, SUPERSEDED, REFUSED = OutcomeKind.SENT, OutcomeKind.SUPERSEDED, OutcomeKind.REFUSED
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)
ORDERS = [oid(n) for n in range(1, 7)]


class NoSender:
    async def send_update(self, update: Any, **options: Any) -> Receipt:  # never called: no I/O here
        raise AssertionError("the engine sends nothing itself")


def make(*, strict: bool = False, concurrency: int = 1, waits: bool = True, buffer: int = 10_000) -> StreamEngine[Any]:
    return StreamEngine(
        OrderBook(NoSender(), strict=strict), buffer=buffer, concurrency=concurrency, gate_waits=lambda: waits,
    )


def status(order: str, value: str, eta: datetime | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"orderId": order, "status": value}
    if eta is not None:
        event["estimatedReadyAt"] = eta.isoformat()
    return event


def close(order: str, state: str) -> dict[str, Any]:
    return {"orderId": order, "state": state, **({"cancelReason": "out of stock"} if state == "cancelled" else {})}


def eta_only(order: str, minutes: int) -> dict[str, Any]:
    return {"orderId": order, "estimatedReadyAt": (ETA + timedelta(minutes=minutes)).isoformat()}


def taken(engine: StreamEngine[Any]) -> list[UpdateOutcome[Any]]:
    out = []
    while (outcome := engine.take()) is not None:
        out.append(outcome)
    return out


# -- the scheduler ------------------------------------------------------------------------


def test_a_ranked_pop_takes_the_lowest_rank_first_and_an_unranked_one_keeps_readiness_order() -> None:
    queues: Scheduler[str, tuple[str, int]] = Scheduler(rank=lambda item: item[1], ranks=3)
    for key, rank in (("a", 2), ("b", 1), ("c", 0), ("d", 1)):
        queues.push(key, (key, rank))
    assert queues.ready == 4
    assert queues.pop(ranked=True) == ("c", ("c", 0))
    assert queues.pop(ranked=True) == ("b", ("b", 1))
    assert queues.pop() == ("a", ("a", 2))  # unranked: the longest ready
    assert queues.pop(ranked=True) == ("d", ("d", 1))
    assert queues.pop() is None


def test_a_ranked_pop_only_takes_a_keys_first_item() -> None:
    queues: Scheduler[str, tuple[str, int]] = Scheduler(rank=lambda item: item[1], ranks=3)
    queues.push("a", ("first", 2))
    queues.push("a", ("closing", 0))
    queues.push("b", ("progress", 1))
    assert queues.pop(ranked=True) == ("b", ("progress", 1))  # a's closing item waits behind its first
    assert queues.pop(ranked=True) == ("a", ("first", 2))


def test_following_items_are_taken_only_behind_an_item_out() -> None:
    queues: Scheduler[str, int] = Scheduler()
    for item in (1, 2, 3, 4):
        queues.push("a", item)
    with pytest.raises(ValueError, match="no item out"):
        queues.take_following("a", 1)
    assert queues.pop() == ("a", 1)
    assert list(queues.following("a")) == [2, 3, 4]
    assert queues.take_following("a", 2) == [2, 3]
    assert queues.done("a") is False
    assert queues.pop() == ("a", 4)


# -- the engine ---------------------------------------------------------------------------


def test_waiting_statuses_collapse_into_the_latest_legal_one_naming_it() -> None:
    engine = make()
    a, b = ORDERS[:2]
    for event in (status(a, "confirmed"), status(a, "preparing"), status(a, "ready"), status(b, "confirmed"),
                  status(b, "preparing")):
        engine.accept(event)
    job = engine.next_job()
    assert job is not None and job.order_id == a and job.update.target == "ready" and job.index == 2
    superseded = taken(engine)
    assert [(o.index, o.kind, o.superseded_by) for o in superseded] == [(0, SUPERSEDED, 2), (1, SUPERSEDED, 2)]


def test_a_run_stops_at_an_illegal_status_which_is_refused_in_its_turn() -> None:
    engine = make()
    a, b = ORDERS[:2]
    for event in (status(a, "preparing"), status(a, "confirmed"), status(a, "ready"), status(b, "confirmed"),
                  status(b, "preparing")):
        engine.accept(event)
    job = engine.next_job()
    assert job is not None and job.index == 0  # confirmed after preparing is backwards: no run
    engine.finish(job)
    while (job := engine.next_job()) is not None:
        engine.finish(job)
    kinds = {o.index: o.kind for o in taken(engine)}
    assert [kinds[i] for i in (0, 1, 2)] == [SENT, REFUSED, SENT]


def test_closing_updates_go_first_then_progress_then_eta_only() -> None:
    engine = make()
    a, b, c = ORDERS[:3]
    for event in (status(a, "confirmed"), status(b, "confirmed"), status(c, "confirmed")):
        engine.accept(event)
    for _ in range(3):
        job = engine.next_job()
        assert job is not None
        engine.finish(job)
    taken(engine)
    for event in (eta_only(a, 5), status(b, "preparing"), close(c, "cancelled")):
        engine.accept(event)
    order = []
    while (job := engine.next_job()) is not None:
        order.append(job.order_id)
        engine.finish(job)
    assert order[:2] == [c, b]  # then a (with nothing else ready the stream is no longer congested)
    assert order == [c, b, a]


def test_strict_and_an_open_gate_keep_every_status_in_input_order() -> None:
    for engine in (make(strict=True), make(waits=False), make(concurrency=10)):
        a, b = ORDERS[:2]
        for event in (status(a, "confirmed"), status(b, "confirmed"), status(a, "preparing"), close(b, "cancelled")):
            engine.accept(event)
        sent = []
        while (job := engine.next_job()) is not None:
            sent.append(job.index)
            engine.finish(job)
        assert sent == [0, 1, 2, 3]
        assert engine.outcomes.counts[SUPERSEDED.value] == 0


def test_a_collapsed_run_leaves_the_eta_sending_each_event_leaves() -> None:
    engine = make()
    a, b = ORDERS[:2]
    later = ETA + timedelta(minutes=9)
    for event in (status(a, "confirmed", ETA), eta_only(a, 9), status(a, "ready"), close(a, "completed"),
                  status(b, "confirmed"), status(b, "preparing")):
        engine.accept(event)
    job = engine.next_job()
    # ready sets the ETA to its own (none), as sending all three would; the close is not
    # chosen: an ETA came before it, and a close cannot say it
    assert job is not None and job.update.target == "ready" and job.update.estimated_ready_at is None
    assert later != ETA


def test_an_order_without_an_eta_collapses_into_its_close() -> None:
    engine = make()
    a, b = ORDERS[:2]
    for event in (status(a, "confirmed"), status(a, "ready"), close(a, "cancelled"), status(b, "confirmed"),
                  status(b, "preparing")):
        engine.accept(event)
    job = engine.next_job()
    assert job is not None and job.update.target == "cancelled" and job.index == 2


def test_pending_writes_and_their_eta_at_a_rate() -> None:
    engine = make()
    for order in ORDERS[:3]:
        engine.accept(status(order, "confirmed"))
    assert engine.pending_writes == 3
    job = engine.next_job()
    assert job is not None and engine.pending_writes == 3  # one in flight, two waiting
    assert engine.estimated_drain_seconds(60) == 3.0
    for rate in (0, -1, float("inf"), True, "60"):
        with pytest.raises(GettValidationError, match="writes_per_minute"):
            engine.estimated_drain_seconds(rate)  # type: ignore[arg-type]


# -- the properties -----------------------------------------------------------------------


class Gett:
    """Where each order is at Gett, and any write it would refuse as illegal."""

    def __init__(self) -> None:
        self.positions: dict[str, str] = {}
        self.etas: dict[str, datetime | None] = {}
        self.illegal: list[tuple[str, str, str]] = []

    def apply(self, job: Job[Any]) -> None:
        position = self.positions.get(job.order_id, "pending")
        target = job.update.target or position
        eta = self.etas.get(job.order_id)
        changed = job.update.estimated_ready_at is not None and job.update.estimated_ready_at != eta
        try:
            lifecycle.check(position, target, eta_changed=changed)
        except IllegalTransitionError:
            self.illegal.append((job.order_id, position, target))
            return
        self.positions[job.order_id] = target
        if not lifecycle.is_closed(target):  # a status or an ETA-only update sets the ETA (none clears it), as Gett
            self.etas[job.order_id] = job.update.estimated_ready_at


@st.composite
def plans(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Events of a few orders, legal or not (statuses, closes, ETA-only), interleaved."""
    events = []
    for n in range(draw(st.integers(1, 40))):
        order = draw(st.sampled_from(ORDERS[: draw(st.integers(1, len(ORDERS)))]))
        kind = draw(st.sampled_from(["status", "status", "status", "close", "eta"]))
        if kind == "status":
            with_eta = draw(st.booleans())
            events.append(status(order, draw(st.sampled_from(lifecycle.OPEN_STATUSES[1:])),
                                 ETA + timedelta(minutes=n) if with_eta else None))
        elif kind == "close":
            events.append(close(order, draw(st.sampled_from(lifecycle.CLOSED_STATES))))
        else:
            events.append(eta_only(order, n))
    return events


def run(engine: StreamEngine[Any], events: list[dict[str, Any]], steps: list[int]) -> tuple[Gett, list[Job[Any]]]:
    """Feed ``events`` while sending up to ``concurrency`` at once; ``steps`` picks, at each
    turn, how many events arrive before the next answer (so queues build up or not)."""
    gett, sent, flying = Gett(), [], []  # type: ignore[var-annotated]
    source = iter(events)
    turn = 0
    while True:
        arriving = steps[turn % len(steps)] if steps else 1
        for _ in range(arriving if flying or arriving else 1):  # nothing flying: something must arrive
            event = next(source, None)
            if event is None:
                engine.end_input()
                break
            engine.accept(event)
        turn += 1
        while len(flying) < engine.concurrency and (job := engine.next_job()) is not None:
            flying.append(job)
        if not flying:
            if engine.input_ended:
                break
            continue
        job = flying.pop(steps[turn % len(steps)] % len(flying) if steps else 0)
        gett.apply(job)
        sent.append(job)
        engine.finish(job)
    return gett, sent


@settings(max_examples=300, deadline=None)
@given(plans(), st.lists(st.integers(0, 12), min_size=1, max_size=8), st.integers(1, 3))
def test_collapsing_never_sends_an_illegal_move_never_reorders_and_ends_where_fifo_ends(
    events: list[dict[str, Any]], steps: list[int], concurrency: int
) -> None:
    fifo_gett, _ = run(make(waits=False, concurrency=concurrency), events, steps)
    engine = make(concurrency=concurrency)
    gett, sent = run(engine, events, steps)

    assert gett.illegal == []  # every write the budget-aware stream sent was a legal move
    assert gett.positions == fifo_gett.positions  # each order ends where FIFO leaves it
    assert {o: e for o, e in gett.etas.items() if e} == {o: e for o, e in fifo_gett.etas.items() if e}  # same ETA
    for order in ORDERS:  # one order's writes go out in input order
        indexes = [job.index for job in sent if job.order_id == order]
        assert indexes == sorted(indexes)
    outcomes = taken(engine)
    assert sorted(o.index for o in outcomes) == list(range(len(events)))  # one outcome each
    by_index = {o.index: o for o in outcomes}
    for outcome in outcomes:
        if outcome.kind is SUPERSEDED:  # by a later event of its order that was sent
            assert outcome.superseded_by is not None
            replacing = by_index[int(outcome.superseded_by)]
            assert replacing.order_id == outcome.order_id and replacing.index > outcome.index


@settings(max_examples=150, deadline=None)
@given(plans(), st.lists(st.integers(0, 12), min_size=1, max_size=8))
def test_strict_collapses_nothing(events: list[dict[str, Any]], steps: list[int]) -> None:
    fifo = make(strict=True, waits=False)
    run(fifo, events, steps)
    engine = make(strict=True)
    run(engine, events, steps)
    fifo_kinds = sorted((o.index, o.kind) for o in taken(fifo))
    kinds = sorted((o.index, o.kind) for o in taken(engine))
    assert kinds == fifo_kinds


# -- through the async shell ----------------------------------------------------------------


class BudgetSender:
    """Accepts every write, in a later loop turn; its gate says writes wait while ``waits``."""

    def __init__(self, waits: bool) -> None:
        self.waits = waits
        self.sent: list[tuple[str, str | None]] = []

    def writes_wait(self) -> bool:
        return self.waits

    async def send_update(self, update: Any, **options: Any) -> Receipt:
        await asyncio.sleep(0)  # an answer is never synchronous
        self.sent.append((update.order_id, update.target))
        return Receipt(204)


def burst(orders: int) -> list[dict[str, Any]]:
    """Each order's whole lifecycle, the orders interleaved: one burst."""
    steps = [*(("status", s) for s in lifecycle.OPEN_STATUSES[1:]), ("state", "completed")]
    return [{"orderId": oid(n), kind: value} for kind, value in steps for n in range(1, orders + 1)]


async def test_a_waiting_stream_spends_fewer_writes_and_records_what_it_superseded(tmp_path: Path) -> None:
    events = burst(20)
    sender = BudgetSender(waits=True)
    with FileCheckpoint(tmp_path / "state.jsonl") as store:
        async with OrderStream(sender, events, concurrency=2, buffer=len(events), checkpoint=store) as stream:
            outcomes = [outcome async for outcome in stream]
        assert sorted(o.index for o in outcomes) == list(range(len(events)))
        kinds = Counter(o.kind for o in outcomes)
        assert kinds[SUPERSEDED] > 0 and kinds[SENT] == len(sender.sent) < len(events)
        assert set(kinds) == {SENT, SUPERSEDED}
        for n in range(1, 21):  # each order's writes in lifecycle order, ending completed
            moves = [target for order, target in sender.sent if order == oid(n)]
            assert moves[-1] == "completed"
            assert [lifecycle.POSITIONS.index(m) for m in moves] == sorted(lifecycle.POSITIONS.index(m) for m in moves)
        for outcome in outcomes:  # a superseded outcome is final and recorded like any other
            record = store.outcome(outcome.key)
            assert record is not None and record.kind == outcome.kind.value
        assert stream.watermark.count == len(events)

    resumed = BudgetSender(waits=True)
    with FileCheckpoint(tmp_path / "state.jsonl") as store:
        async with OrderStream(resumed, events, concurrency=2, buffer=len(events), checkpoint=store) as stream:
            assert [outcome async for outcome in stream] == []
        assert stream.skipped == len(events) and resumed.sent == []


async def test_strict_or_an_open_gate_sends_every_status() -> None:
    events = burst(20)
    for sender, strict in ((BudgetSender(waits=True), True), (BudgetSender(waits=False), False)):
        async with OrderStream(sender, events, concurrency=2, buffer=len(events), strict=strict) as stream:
            outcomes = [outcome async for outcome in stream]
            assert stream.budget_aware is False
        assert {o.kind for o in outcomes} == {SENT} and len(sender.sent) == len(events)


async def test_the_stream_says_how_long_its_queued_writes_take() -> None:
    sender = BudgetSender(waits=False)
    stream = OrderStream(sender, burst(10), concurrency=1, buffer=50)
    assert stream.pending_writes == 0 and stream.estimated_drain_seconds() == 0.0
    async with stream:
        first = await anext(stream)
        assert first.kind is SENT
        pending = stream.pending_writes
        assert 0 < pending <= 49
        assert stream.estimated_drain_seconds(writes_per_minute=30) == pending * 2.0
        assert stream.estimated_drain_seconds() == pytest.approx(pending * 0.6)  # Gett's 100 writes a minute


def test_the_replay_progress_says_queued_writes_in_human_units() -> None:
    assert [duration(s) for s in (0, 45, 89.4, 720, 5400, 12600)] == ["0 s", "45 s", "89 s", "12 min", "1.5 h", "3.5 h"]


# -- with a checkpoint: killed anywhere, resumed -------------------------------------------------


def congested(store: MemoryStore, *, fifo: bool = False) -> StreamEngine[Any]:
    """A checkpointed engine that is congested as soon as two orders are ready (or, ``fifo``, never)."""
    return StreamEngine(OrderBook(NoSender(), lookup=store.order), buffer=8, prior=store.outcome, checkpointing=True,
                        concurrency=1, gate_waits=lambda: not fifo)


@settings(max_examples=300, deadline=None)
@given(
    events=lifecycle_events(),
    moves=st.lists(st.tuples(st.sampled_from(MOVES), st.integers(0, 5)), max_size=150),
    applied=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_a_budget_aware_run_killed_anywhere_and_resumed_ends_where_fifo_ends(
    events: list[dict[str, Any]], moves: list[tuple[str, int]], applied: list[bool]
) -> None:
    reference_store, reference = MemoryStore(), CheckedGett()
    to_the_end(congested(reference_store, fifo=True), reference_store, reference, events, reads_first=8)

    store, gett = MemoryStore(), CheckedGett()
    flying: list[Job[Any]] = []
    writing: list[Batch] = []
    drive(congested(store), store, gett, events, moves, flying, writing)
    for job, reached in zip(flying, applied, strict=False):  # the kill: in flight, applied or not
        if reached:
            gett.apply(job)
    unrecorded_writes = gett.applied - sum(1 for r in store.outcomes.values() if r.kind == "sent")
    repeats_before = gett.repeats
    to_the_end(congested(store), store, gett, events, reads_first=8)

    assert gett.illegal == []
    assert gett.orders == reference.orders  # position and ETA, as FIFO leaves them
    assert sorted(store.outcomes, key=int) == list(range(len(events)))  # one final outcome each, superseded too
    differ = {k for k, r in store.outcomes.items() if r.kind != reference_store.outcomes[k].kind}
    assert all({store.outcomes[k].kind, reference_store.outcomes[k].kind} == {"sent", "superseded"} for k in differ)
    assert gett.repeats - repeats_before <= unrecorded_writes


def test_when_the_event_sent_in_their_place_fails_the_superseded_stay_and_later_ones_are_blocked() -> None:
    engine = make()
    a, b = ORDERS[:2]
    for event in (status(a, "confirmed"), status(a, "ready"), status(b, "confirmed"), status(b, "preparing"),
                  status(a, "inTransit")):
        engine.accept(event)
    job = engine.next_job()
    assert job is not None and job.index == 4  # confirmed, ready, inTransit: inTransit
    engine.finish(job, error=ServerError("503 down", status=503))
    while (other := engine.next_job()) is not None:
        engine.finish(other)
    kinds = {o.index: o.kind for o in taken(engine)}
    assert [kinds[i] for i in (0, 1, 4)] == [SUPERSEDED, SUPERSEDED, OutcomeKind.FAILED]
    assert engine.watermark.count == 5


def test_a_stop_after_a_collapse_aborts_only_what_was_not_done() -> None:
    engine = make()
    a, b = ORDERS[:2]
    for event in (status(a, "confirmed"), status(a, "ready"), status(b, "confirmed"), status(b, "preparing"),
                  eta_only(a, 3)):
        engine.accept(event)
    job = engine.next_job()
    assert job is not None and job.index == 1
    engine.stop()
    engine.finish(job)
    kinds = {o.index: o.kind for o in taken(engine)}
    assert kinds == {0: SUPERSEDED, 1: SENT, 2: OutcomeKind.ABORTED, 3: OutcomeKind.ABORTED, 4: OutcomeKind.ABORTED}


async def test_the_client_says_when_writes_wait_at_its_gate() -> None:
    now = [1000.0]
    gate = HeaderRateLimitGate(writes_per_minute=1, clock=lambda: now[0])
    transport = MockTransport(lambda request: ApiResponse(204, {}, b""))  # never called: nothing is sent
    async with GettClient(API_KEY, transport=transport, gate=gate) as gett:
        assert gett.orders.writes_wait() is False
        await gate.acquire("write")
        assert gett.orders.writes_wait() is True
        now[0] += 61
        assert gett.orders.writes_wait() is False


class StateGate:
    """A gate that shows only a ``state`` (as `RedisRateLimitGate` does), set by the test."""

    def __init__(self) -> None:
        self.remaining, self.paused_until = 5, None

    async def acquire(self, kind: str, *, priority: Any = "interactive") -> None:
        """Never waits: nothing is sent here."""

    def settle(self, kind: str, headers: Any, retry_after: float | None) -> None:
        """Learns nothing."""

    def state(self, kind: str) -> Any:
        return SimpleNamespace(remaining=self.remaining, paused_until=self.paused_until)


async def test_a_gate_with_only_a_state_says_writes_wait_when_none_remain_or_it_is_paused() -> None:
    gate = StateGate()
    transport = MockTransport(lambda request: ApiResponse(204, {}, b""))
    async with GettClient(API_KEY, transport=transport, gate=gate) as gett:
        assert gett.orders.writes_wait() is False
        gate.remaining = 0
        assert gett.orders.writes_wait() is True
        gate.remaining, gate.paused_until = 5, time.time() + 3600
        assert gett.orders.writes_wait() is True
        gate.paused_until = time.time() - 3600
        assert gett.orders.writes_wait() is False
