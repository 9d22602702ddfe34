"""The stream with no I/O: events in, requests to send out, answers in, outcomes out.

`StreamEngine` ties the parts together: `parse_event` reads an event, the `OrderBook` holds
each order's tracker, the `Scheduler` keeps each order's events in input order with one in
flight, and `Outcomes` holds what the consumer has not taken yet. Every event admitted ends
as exactly one outcome. The async shell (`OrderStream`) only moves data between this and the
network; tests drive it directly, without an event loop.
"""

from __future__ import annotations

from typing import Generic

import attrs

from ..._core.updates import Update
from ...errors import GettValidationError
from .book import OrderBook
from .events import E, parse_event, raw_order_id
from .outcomes import OutcomeKind, Outcomes, UpdateOutcome
from .scheduler import Scheduler

SENT, REFUSED, FAILED, SUPERSEDED = OutcomeKind.SENT, OutcomeKind.REFUSED, OutcomeKind.FAILED, OutcomeKind.SUPERSEDED


@attrs.frozen(slots=True)
class Job(Generic[E]):
    """One admitted event: the caller's object, its index in the input, and the update it asks
    for (as `next_job` returns it: checked against its order, an ETA-only update restating
    the current status)."""

    event: E
    index: int
    update: Update

    @property
    def order_id(self) -> str:
        return self.update.order_id


def _eta_only(job: Job[E]) -> bool:
    # Two ETA-only updates waiting in a row: only the newer is worth a write.
    return job.update.target is None


class StreamEngine(Generic[E]):
    """Admit events with `accept` while `wants_input`; send what `next_job` gives and report
    each answer with `finish` (or `abandon` a job that got none); hand `take` to the consumer.

    ``buffer`` bounds the events held (queued, in flight, or ended and not yet taken).
    """

    __slots__ = ("_queues", "book", "buffer", "in_flight", "input_ended", "outcomes", "source_error")

    def __init__(self, book: OrderBook, *, buffer: int) -> None:
        self.book = book
        self.buffer = buffer
        self.outcomes: Outcomes[E] = Outcomes()
        self._queues: Scheduler[str, Job[E]] = Scheduler(_eta_only)
        self.in_flight = 0
        self.input_ended = False
        self.source_error: BaseException | None = None  #: what the input raised, if it did

    @property
    def wants_input(self) -> bool:
        """True while the input may be read: it has not ended and fewer than ``buffer`` events are held."""
        return not self.input_ended and self.outcomes.held < self.buffer

    @property
    def finished(self) -> bool:
        """True once the input ended and every admitted event's outcome was taken."""
        return self.input_ended and self.outcomes.held == 0

    def end_input(self, error: BaseException | None = None) -> None:
        """The input is exhausted, or raised ``error`` (the events it gave still end normally)."""
        self.input_ended = True
        self.source_error = error

    def accept(self, event: E) -> None:
        """Admit the next input event: refused at once if malformed (or its order's seed is),
        else queued behind its order's earlier events (superseding a waiting ETA-only one)."""
        index = self.outcomes.admit()
        try:
            update = parse_event(event)
            self.book.tracker(update.order_id)
        except GettValidationError as exc:
            self.outcomes.add(UpdateOutcome(event, REFUSED, index, raw_order_id(event), exc))
            return
        replaced = self._queues.push(update.order_id, Job(event, index, update))
        if replaced is not None:
            self.outcomes.add(UpdateOutcome(replaced.event, SUPERSEDED, replaced.index, replaced.order_id))

    def next_job(self) -> Job[E] | None:
        """The next event to send, checked by its order's tracker (its order now has one in
        flight), or None. Events refused on the way become outcomes, and so does an
        unexpected error while checking (``failed``): never lost, never raised."""
        while (popped := self._queues.pop()) is not None:
            order_id, job = popped
            try:
                update = self.book.tracker(order_id).check(job.update)
            except Exception as exc:
                self._end(job, REFUSED if isinstance(exc, GettValidationError) else FAILED, exc)
                continue
            self.in_flight += 1
            return job if update is job.update else attrs.evolve(job, update=update)
        return None

    def finish(
        self, job: Job[E], *, error: BaseException | None = None, attempts: int = 1, latency: float = 0.0
    ) -> None:
        """Record the answer to ``job``: ``sent`` (its tracker acknowledges it) when ``error``
        is None, else ``failed`` (the order's later events are checked against its real state)."""
        self.in_flight -= 1
        if error is None:
            self.book.tracker(job.order_id).acknowledge(job.update)
        self._end(job, SENT if error is None else FAILED, error, attempts, latency)

    def abandon(self, job: Job[E], error: BaseException) -> None:
        """``job`` got no answer (its request was cancelled): ``failed`` with ``error``; the
        order is left where Gett last acknowledged it and its later events go on."""
        self.in_flight -= 1
        self._end(job, FAILED, error)

    def take(self) -> UpdateOutcome[E] | None:
        """The oldest outcome the consumer has not taken, or None."""
        return self.outcomes.take()

    def _end(
        self, job: Job[E], kind: OutcomeKind, error: BaseException | None, attempts: int = 0, latency: float = 0.0
    ) -> None:
        self.outcomes.add(UpdateOutcome(job.event, kind, job.index, job.order_id, error, attempts, latency))
        if self._queues.done(job.order_id):
            self.book.release(job.order_id)

    @property
    def ready(self) -> bool:
        """True when `next_job` may have an event to send."""
        return bool(self._queues)

    @property
    def queued(self) -> int:
        """Events admitted and waiting for their turn (not in flight, not ended)."""
        return self.outcomes.held - len(self.outcomes) - self.in_flight
