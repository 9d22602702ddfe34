"""The stream with no I/O: events in, requests to send out, answers in, outcomes out.

`StreamEngine` ties the parts together: `parse_event` reads an event, the `OrderBook` holds
each order's tracker, the `Scheduler` keeps each order's events in input order with one in
flight, and `Outcomes` holds what the consumer has not taken yet. Every event admitted ends
as exactly one outcome. The engine also decides what is *blocked* (behind an order's failed
event), what is *aborted* (a stop, a 401/403, the connection: the circuit breaker), what a
checkpoint must record and when an order may go on, and the commit watermark. The async
shell (`OrderStream`) only moves data between this, the network and the checkpoint; tests
drive it directly, without an event loop.

With a checkpoint, an order's next event is not sent until the outcome of its previous
request, and the order's state after it, are durable (`take_batch` / `recorded`): so a run
killed at any instant leaves at most the one unrecorded request per order, which a resumed
run repeats exactly (never an older status after a newer one).

**Budget-aware scheduling** (not when the book is strict). While the stream is *congested*
(more orders have an event ready than there are lanes to send them, while the gate says
writes wait: ``gate_waits``), `next_job` takes the orders whose first waiting event closes
them first, then status progress, then ETA-only updates, and an order's waiting events
collapse into the latest one that is a legal move from where the order is (`lifecycle.check`
decides, skips included; see `_collapse`): the ones before it end ``superseded``, naming
it. Only an order's first waiting event is ever taken, so its order is never inverted; and
the order ends where sending each of them would have taken it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic

import attrs

from ..._core import lifecycle
from ..._core.updates import Update
from ...errors import APIConnectionError, APIError, GettValidationError
from .book import OrderBook
from .checkpoint import Batch, OutcomeRecord
from .events import E, EventKey, event_key, parse_event, raw_order_id
from .outcomes import (
    OrderBlockedError,
    OutcomeKind,
    Outcomes,
    StreamAbortedError,
    UpdateOutcome,
    Watermark,
)
from .scheduler import Scheduler

SENT, REFUSED, FAILED, SUPERSEDED = OutcomeKind.SENT, OutcomeKind.REFUSED, OutcomeKind.FAILED, OutcomeKind.SUPERSEDED
BLOCKED, ABORTED = OutcomeKind.BLOCKED, OutcomeKind.ABORTED

#: Recorded kinds a run with ``retry_failed`` sends again.
RETRIED_KINDS = frozenset({FAILED.value, BLOCKED.value})

#: What the shell gives the engine to ask a checkpoint: the outcome recorded for a key, or None.
PriorLookup = Callable[[EventKey], "OutcomeRecord | None"]


def _positive(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise GettValidationError(attribute.name, f"must be a whole number of at least 1, got {value!r}")


def _seconds(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise GettValidationError(attribute.name, f"must be finite seconds >= 0, got {value!r}")


@attrs.frozen(slots=True)
class CircuitBreaker:
    """When a stream stops sending because of the connection.

    A connection failure or timeout (after the client's own retries) puts its event back at
    the head of its order and pauses the whole stream: ``pause`` seconds, doubled at each
    failure with no success in between, at most ``max_pause``. After ``connection_failures``
    such pauses in a row the stream aborts: every event not done ends ``aborted``. An event
    that alone fails that many times while others go through ends ``failed``. (A 401 or 403
    aborts at once, whatever this says.) Refuses (GettValidationError) ``connection_failures``
    < 1 and negative or infinite pauses.
    """

    connection_failures: int = attrs.field(default=3, validator=_positive)
    pause: float = attrs.field(default=1.0, validator=_seconds)
    max_pause: float = attrs.field(default=30.0, validator=_seconds)

    def pause_after(self, rounds: int) -> float:
        """The pause after the ``rounds``-th failure in a row (1, 2, ...)."""
        return min(self.max_pause, self.pause * 2.0 ** (rounds - 1))


def rejects_key(error: BaseException) -> bool:
    """True for a 401 or 403: no request with this key will go through."""
    return isinstance(error, APIError) and error.status in (401, 403)


@attrs.frozen(slots=True)
class Job(Generic[E]):
    """One admitted event: the caller's object, its index in the input, the update it asks
    for (as `next_job` returns it: checked against its order, an ETA-only update restating
    the current status), its key, and how often the connection failed it."""

    event: E
    index: int
    update: Update
    key: EventKey
    tries: int = 0

    @property
    def order_id(self) -> str:
        return self.update.order_id


def _eta_only(job: Job[E]) -> bool:
    # Two ETA-only updates waiting in a row: only the newer is worth a write.
    return job.update.target is None


#: How `next_job` ranks an order by its first waiting event while congested: closing updates
#: first (they end the order's writes for good), then progress, then ETA-only updates.
CLOSING, PROGRESS, ETA_ONLY = 0, 1, 2


def _rank(job: Job[E]) -> int:
    target = job.update.target
    if target is None:
        return ETA_ONLY
    return CLOSING if lifecycle.is_closed(target) else PROGRESS


def _text(error: BaseException | None) -> str | None:
    return None if error is None else " ".join(str(error).split()) or type(error).__name__


class StreamEngine(Generic[E]):
    """Admit events with `accept` while `wants_input`; send what `next_job` gives and report
    each answer with `finish` (or `abandon` a job that got none); hand `take` to the consumer.
    With ``checkpointing``, write what `take_batch` gives and report it with `recorded`.

    ``buffer`` bounds the events held (queued, in flight, or ended and not yet taken).
    ``key_field`` and ``ignore_unknown_keys`` say how mapping events are read (see
    `parse_event`); ``prior`` says what a checkpoint recorded for a key (an event with a
    final outcome there is skipped; with ``retry_failed``, failed and blocked ones are not,
    nor a blocked one whose order's failure is no longer recorded). ``concurrency`` is how
    many requests the caller sends at once and ``gate_waits`` whether a write would wait at
    the gate now: more orders ready than that while writes wait is *congested* (budget-aware
    scheduling, unless the book is strict).
    """

    __slots__ = (
        "_congested", "_final_above", "_gated", "_held_back", "_ignore_unknown", "_key_field", "_mark", "_mark_key",
        "_orders_moved", "_prior", "_queues", "_unrecorded", "_writing", "abort_error", "book", "breaker", "buffer",
        "checkpointing", "concurrency", "gate_waits", "in_flight", "input_ended", "outcomes", "pause_rounds", "paused",
        "retry_failed", "skipped", "source_error",
    )

    def __init__(
        self,
        book: OrderBook,
        *,
        buffer: int,
        key_field: str | None = None,
        ignore_unknown_keys: bool = False,
        breaker: CircuitBreaker | None = None,
        prior: PriorLookup | None = None,
        checkpointing: bool = False,
        retry_failed: bool = False,
        concurrency: int = 16,
        gate_waits: Callable[[], bool] = lambda: True,
    ) -> None:
        self.book = book
        self.concurrency = concurrency
        self.gate_waits = gate_waits
        self._congested = False
        self.buffer = buffer
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self.checkpointing = checkpointing
        self.retry_failed = retry_failed
        self._key_field = key_field
        self._ignore_unknown = ignore_unknown_keys
        self._prior = prior
        self.outcomes: Outcomes[E] = Outcomes()
        self._queues: Scheduler[str, Job[E]] = Scheduler(_eta_only, rank=_rank, ranks=3)
        self.in_flight = 0
        self.input_ended = False
        self.source_error: BaseException | None = None  #: what the input raised, if it did
        self.abort_error: StreamAbortedError | None = None  #: why the stream stopped early, if it did
        self.paused = False  #: True while the circuit breaker holds requests back
        self.pause_rounds = 0  #: connection failures in a row (pauses), reset by a success
        self.skipped = 0  #: events whose final outcome the checkpoint already held
        self._held_back: set[str] = set()  # orders with an event that got no answer in this run
        # The checkpoint's side: final outcomes not yet written, the orders they moved, the
        # orders waiting for them to be durable, and those of the batch being written.
        self._unrecorded: list[UpdateOutcome[E]] = []
        self._orders_moved: dict[str, None] = {}
        self._gated: list[str] = []
        self._writing: tuple[list[UpdateOutcome[E]], list[str]] | None = None
        # The watermark: the leading events with final outcomes, and finals above the gap.
        self._mark = 0
        self._mark_key: EventKey | None = None
        self._final_above: dict[int, EventKey] = {}

    # -- what the shell asks -------------------------------------------------------------

    @property
    def wants_input(self) -> bool:
        """True while the input may be read: it has not ended and fewer than ``buffer`` events are held."""
        return not self.input_ended and self.outcomes.held < self.buffer

    @property
    def finished(self) -> bool:
        """True once the input ended, every admitted event's outcome was taken and every
        final outcome is recorded."""
        return self.input_ended and self.outcomes.held == 0 and not self._unrecorded and self._writing is None

    @property
    def stopped(self) -> bool:
        """True after `stop` (not after an abort by the circuit breaker)."""
        return self.abort_error is not None and self.abort_error.cause is None

    @property
    def watermark(self) -> Watermark:
        """How many leading input events have final outcomes (recorded, with a checkpoint),
        and the key of the last of them."""
        return Watermark(self._mark, self._mark_key)

    @property
    def has_unrecorded(self) -> bool:
        """True while some final outcome waits to be written to the checkpoint."""
        return bool(self._unrecorded)

    @property
    def ready(self) -> bool:
        """True when `next_job` may have an event to send."""
        return bool(self._queues) and not self.paused and self.abort_error is None

    @property
    def queued(self) -> int:
        """Events admitted and waiting for their turn (not in flight, not ended)."""
        return self.outcomes.held - len(self.outcomes) - self.in_flight

    @property
    def congested(self) -> bool:
        """True from when ``gate_waits`` (a write would wait for the budget) while more orders
        have an event ready than ``concurrency`` requests carry at once, until that backlog is
        gone. Both start it: a backlog alone may be a slow network, which collapsing would not
        speed up, and a wait with no backlog leaves nothing to choose between. The backlog
        alone keeps it: a gate that just let a request through says "no wait" for an instant
        while the budget still paces every write."""
        return self._congested

    def _look(self) -> bool:
        """Update and return `congested`, before each pop (the backlog it sees includes the order popped)."""
        if self._queues.ready <= self.concurrency:
            self._congested = False
        elif not self._congested:
            self._congested = self.gate_waits()
        return self._congested

    @property
    def budget_aware(self) -> bool:
        """True while `next_job` ranks and collapses: congested, and the book not strict."""
        return not self.book.strict and self._congested

    @property
    def pending_writes(self) -> int:
        """Writes this stream may still spend on the events it holds: those waiting and in
        flight (an upper bound: some will be refused or superseded instead)."""
        return self.queued + self.in_flight

    def estimated_drain_seconds(self, writes_per_minute: float) -> float:
        """Seconds `pending_writes` take at ``writes_per_minute``. Refuses
        (GettValidationError) a rate that is not a finite number above 0."""
        if isinstance(writes_per_minute, bool) or not isinstance(writes_per_minute, (int, float)) or not (
            0 < writes_per_minute < float("inf")
        ):
            raise GettValidationError(
                "writes_per_minute", f"must be a finite number above 0, got {writes_per_minute!r}"
            )
        return self.pending_writes * 60.0 / writes_per_minute

    # -- the input -----------------------------------------------------------------------

    def end_input(self, error: BaseException | None = None) -> None:
        """The input is exhausted, or raised ``error`` (the events it gave still end normally)."""
        self.input_ended = True
        if error is not None:
            self.source_error = error

    def accept(self, event: E) -> None:
        """Take the next input event: skipped if the checkpoint holds its final outcome,
        refused at once if malformed (or its order's seed or record is), aborted if the
        stream has stopped, else queued behind its order's earlier events (superseding a
        waiting ETA-only one)."""
        index = self.outcomes.admitted
        try:
            own_key = event_key(event, self._key_field)
        except GettValidationError as exc:
            self.outcomes.admit()
            self._emit(UpdateOutcome(event, REFUSED, index, raw_order_id(event), exc, key=index))
            return
        key = index if own_key is None else own_key
        if self._prior is not None and self._done_before(key):
            self.outcomes.skip()
            self.skipped += 1
            self._final(index, key)
            return
        self.outcomes.admit()
        if self.abort_error is not None:
            self._emit(UpdateOutcome(event, ABORTED, index, raw_order_id(event), self.abort_error, key=key))
            return
        try:
            update = parse_event(event, key_field=self._key_field, ignore_unknown_keys=self._ignore_unknown)
            self.book.tracker(update.order_id)
        except GettValidationError as exc:
            self._emit(UpdateOutcome(event, REFUSED, index, raw_order_id(event), exc, key=key))
            return
        replaced = self._queues.push(update.order_id, Job(event, index, update, key))
        if replaced is not None:
            self._supersede(replaced, key)

    def _done_before(self, key: EventKey) -> bool:
        """True when the checkpoint holds a final outcome for ``key`` that stands: not one
        ``retry_failed`` sends again, and not ``blocked`` behind a failure since retried."""
        assert self._prior is not None
        record = self._prior(key)
        if record is None:
            return False
        if self.retry_failed and record.kind in RETRIED_KINDS:
            return False
        if record.kind == BLOCKED.value and record.order_id is not None:
            # An interrupted retry may have sent the failed event since: then this one goes too.
            return self.book.failed_event(record.order_id) is not None
        return True

    # -- the requests --------------------------------------------------------------------

    def next_job(self) -> Job[E] | None:
        """The next event to send, checked by its order's tracker (its order now has one in
        flight), or None (also while paused or stopped). Events that end on the way become
        outcomes: refused (illegal), blocked (behind a failed event), aborted (behind one
        that got no answer), failed (an unexpected error while checking): never raised."""
        if self.paused or self.abort_error is not None:
            return None
        while True:
            aware = self._look() and not self.book.strict
            popped = self._queues.pop(ranked=aware)
            if popped is None:
                break
            order_id, job = popped
            failed = self.book.failed.get(order_id)
            if failed is not None:
                self._end(job, BLOCKED, OrderBlockedError(order_id, failed))
                continue
            if order_id in self._held_back:
                why = StreamAbortedError("not sent: an earlier event of its order got no answer in this run")
                self._end(job, ABORTED, why)
                continue
            if aware:
                job = self._collapse(job)
            try:
                update = self.book.tracker(order_id).check(job.update)
            except Exception as exc:
                if not isinstance(exc, GettValidationError):  # a bug: stop its order as after a failure
                    self.book.failed[order_id] = job.key
                self._end(job, REFUSED if isinstance(exc, GettValidationError) else FAILED, exc, moved=True)
                continue
            self.in_flight += 1
            return job if update is job.update else attrs.evolve(job, update=update)
        return None

    def _collapse(self, job: Job[E]) -> Job[E]:
        """The latest of the events waiting from ``job`` on (its order's first, now out) that
        is a legal move from where the order is now, when each event up to it is legal in
        turn from where the one before would leave the order; the ones before it end
        ``superseded``. ``job`` itself when there is none. What is legal is `lifecycle.check`'s
        rule, from the tracker's position, ETA and strictness (a strict tracker allows no
        skip). An open status sets the order's ETA to its own (none clears it, as the emulator
        models Gett), so the ETA-only updates before it change nothing it leaves; a close
        keeps the ETA there is, so one is chosen only while the order has none and no event
        up to it carries one: either way the order ends with the ETA sending every event
        leaves."""
        tracker = self.book.tracker(job.order_id)
        start, start_eta, strict = tracker.position, tracker.estimated_ready_at, tracker.strict
        position, eta = start, start_eta  # as the tracker would see them in turn (what it checks against)
        chosen, eta_given = 0, start_eta is not None
        for i, candidate in enumerate((job, *self._queues.following(job.order_id))):
            target, new_eta = candidate.update.target, candidate.update.estimated_ready_at
            to = position if target is None else target
            try:
                lifecycle.check(position, to, strict=strict, eta_changed=new_eta is not None and new_eta != eta)
            except GettValidationError:  # illegal from there: FIFO would refuse it in its turn
                break
            position, eta = to, eta if new_eta is None else new_eta
            eta_given = eta_given or new_eta is not None
            if target is None or i == 0:
                continue  # an ETA-only update is passed over, never chosen
            closing = lifecycle.is_closed(target)
            if closing and eta_given:
                break
            try:
                lifecycle.check(start, target, strict=strict, eta_changed=eta != start_eta)
            except GettValidationError:  # not one move from where the order is: not in its place
                continue
            chosen = i
            if closing:
                break
        if chosen == 0:
            return job
        passed = [job, *self._queues.take_following(job.order_id, chosen)]
        picked = passed.pop()
        for earlier in passed:
            self._supersede(earlier, picked.key)
        return picked

    def _supersede(self, job: Job[E], by: EventKey) -> None:
        self._emit(UpdateOutcome(job.event, SUPERSEDED, job.index, job.order_id, key=job.key, superseded_by=by))

    def finish(
        self, job: Job[E], *, error: BaseException | None = None, attempts: int = 1, latency: float = 0.0
    ) -> None:
        """Record the answer to ``job``: ``sent`` (its tracker acknowledges it) when ``error``
        is None. A 401/403 aborts the stream. A connection failure or timeout puts the job
        back and pauses the stream (the circuit breaker; `resume` ends the pause), or aborts
        it. Any other error is ``failed``, and the order's later events end ``blocked``."""
        self.in_flight -= 1
        if error is None:
            self.pause_rounds = 0  # the connection works
            self.book.tracker(job.order_id).acknowledge(job.update)
            self._end(job, SENT, None, attempts, latency, moved=True)
            return
        if rejects_key(error):
            self.abort(error, "the key was rejected")
            self._end(job, ABORTED, self.abort_error, attempts, latency)
            return
        if isinstance(error, APIConnectionError):
            if self.abort_error is not None:
                self._end(job, ABORTED, self.abort_error, attempts, latency)
                return
            if not self.paused:
                self.pause_rounds += 1
                if self.pause_rounds >= self.breaker.connection_failures:
                    self.abort(error, f"{self.pause_rounds} connection failures in a row")
                    self._end(job, ABORTED, self.abort_error, attempts, latency)
                    return
                self.paused = True
            if job.tries + 1 < self.breaker.connection_failures:
                self._queues.retry(job.order_id, attrs.evolve(job, tries=job.tries + 1))
                return
        self.book.failed[job.order_id] = job.key
        self._end(job, FAILED, error, attempts, latency, moved=True)

    def abandon(self, job: Job[E], error: BaseException) -> None:
        """``job`` got no answer (its request was cancelled): ``aborted`` (not final: a resumed
        run sends it again). It may have been applied, so the order's later events are not
        sent in this run either (they end ``aborted``)."""
        self.in_flight -= 1
        self._held_back.add(job.order_id)
        self._end(job, ABORTED, StreamAbortedError(f"not answered: {_text(error)}", error))

    @property
    def pause_seconds(self) -> float:
        """How long the current pause lasts."""
        return self.breaker.pause_after(max(1, self.pause_rounds))

    def resume(self) -> None:
        """The pause is over: requests may start again."""
        self.paused = False

    def stop(self) -> None:
        """Stop taking input and starting requests; every event not in flight ends ``aborted``
        (in-flight ones end with their answers). Idempotent."""
        self.abort(None, "the stream was stopped")

    def abort(self, cause: BaseException | None, why: str) -> None:
        """Stop as `stop` does, for ``cause`` (None: asked by the caller). The first reason stays."""
        if self.abort_error is not None:
            return
        message = f"not sent: {why}" + ("" if cause is None else f" ({_text(cause)})")
        self.abort_error = StreamAbortedError(message, cause)
        self.input_ended = True
        self.paused = False
        items, idle = self._queues.drain()
        for _order_id, job in sorted(items, key=lambda item: item[1].index):
            self._emit(UpdateOutcome(job.event, ABORTED, job.index, job.order_id, self.abort_error, key=job.key))
        for order_id in idle:
            self.book.release(order_id)

    def take(self) -> UpdateOutcome[E] | None:
        """The oldest outcome the consumer has not taken, or None."""
        return self.outcomes.take()

    # -- the checkpoint ------------------------------------------------------------------

    def take_batch(self) -> Batch | None:
        """The final outcomes not yet recorded and the records of the orders they moved, to
        write at once; None when there is nothing, or a batch is being written."""
        if self._writing is not None or not self._unrecorded:
            return None
        outcomes, self._unrecorded = self._unrecorded, []
        moved, self._orders_moved = self._orders_moved, {}
        self._writing = (outcomes, self._gated)
        self._gated = []
        records = [OutcomeRecord(o.key, o.kind.value, o.order_id, _text(o.error), o.attempts) for o in outcomes]
        return Batch(records, {order_id: self.book.record(order_id) for order_id in moved})

    def recorded(self) -> None:
        """The batch from `take_batch` is durable: its outcomes are final, its orders go on."""
        assert self._writing is not None, "recorded() without take_batch()"
        outcomes, gated = self._writing
        self._writing = None
        for outcome in outcomes:
            self._final(outcome.index, outcome.key)
        for order_id in gated:
            self._release(order_id)

    # -- bookkeeping ---------------------------------------------------------------------

    def _end(
        self,
        job: Job[E],
        kind: OutcomeKind,
        error: BaseException | None,
        attempts: int = 0,
        latency: float = 0.0,
        *,
        moved: bool = False,
    ) -> None:
        """``job`` ends as ``kind``. ``moved``: it changed what a checkpoint keeps of its order
        (a request answered, a failure), so with a checkpoint the order waits until recorded."""
        self._emit(UpdateOutcome(job.event, kind, job.index, job.order_id, error, attempts, latency, job.key))
        if moved and self.checkpointing:
            self._orders_moved[job.order_id] = None
            self._gated.append(job.order_id)
        else:
            self._release(job.order_id)

    def _release(self, order_id: str) -> None:
        if self._queues.done(order_id):
            self.book.release(order_id)

    def _emit(self, outcome: UpdateOutcome[E]) -> None:
        self.outcomes.add(outcome)
        if not outcome.final:
            return
        if self.checkpointing:
            self._unrecorded.append(outcome)
        else:
            self._final(outcome.index, outcome.key)

    def _final(self, index: int, key: EventKey) -> None:
        if index != self._mark:
            self._final_above[index] = key
            return
        self._mark, self._mark_key = index + 1, key
        while self._mark in self._final_above:
            self._mark_key = self._final_above.pop(self._mark)
            self._mark += 1
