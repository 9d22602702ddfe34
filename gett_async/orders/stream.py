"""Streaming order updates for batch updaters: events in, outcomes out.

``gett.orders.stream(events)`` returns an `OrderStream`, an async iterator of
`UpdateOutcome`s in completion order. Its guarantees:

- **Per-order FIFO.** One order's events are sent in input order, one at a time; different
  orders run concurrently, up to ``concurrency`` requests in flight.
- **Checked, never blind.** Each event is checked against the acknowledged state of its
  order (an `OrderTracker` made at ``pending`` on first sight, or seeded from
  ``snapshots``); an illegal or malformed event is a ``refused`` outcome and sends nothing.
- **Nothing lost.** Every event ends as exactly one outcome: ``sent``, ``refused``,
  ``failed`` (after retries; the order's later events are checked against its real state)
  or ``superseded`` (an ETA-only update replaced by a newer one for the same order while
  both waited: only the newest is sent, saving scarce writes). If the events iterable itself
  raises, the events it gave still get their outcomes, then the stream raises `EventSourceError`.
- **Bounded memory.** The input is pulled only while fewer than ``buffer`` events are held
  (queued, in flight, or finished but not yet consumed). Idle open orders are parked as
  plain tuples (no tracker objects for the garbage collector to sweep). Trackers of closed
  orders are dropped; their ids stay in a compact LRU of ``closed_memory`` entries so that a late event
  for them is refused. Memory grows with the number of *open* orders, not of events.
- **Pull-driven, clean stop.** Requests start only while the consumer is inside
  ``__anext__`` (it starts them, or a request's task takes the next ready event while the
  consumer waits there, not once it has been cancelled): when the consumer stops pulling,
  breaks out of its loop, closes the stream or is cancelled, no new request starts, and
  `aclose` (or leaving ``async with``) cancels and awaits what is in flight (up to
  ``concurrency`` requests, whose events end as ``failed``).
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import time
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Union

import attrs

from .._core import lifecycle, validate
from .._core.updates import WIRE_FIELDS, Update, parse_update
from ..errors import GettError, GettValidationError, IllegalTransitionError
from ..models.enums import WireEnum
from ..resources._base import Receipt
from .tracker import OrderTracker, UpdateSender

logger = logging.getLogger("gett_async")

EventLike = Union["OrderEvent", Mapping[str, Any]]
Events = Union[Iterable[EventLike], AsyncIterable[EventLike]]  # noqa: UP007

#: The wire-form keys a mapping event may carry (parsed JSON lines use these).
WIRE_KEYS = frozenset({"orderId", "status", "state", "estimatedReadyAt", "cancelReason"})


@attrs.frozen(slots=True)
class OrderEvent:
    """One wanted update of one order: a ``status`` to progress to, a ``state`` to close
    with (``cancel_reason`` for a cancel), or only a new ``estimated_ready_at``."""

    order_id: str
    status: str | None = None
    state: str | None = None
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None


class EventSourceError(GettError):
    """The events iterable raised: every event it gave before has its outcome; ``error`` is
    what it raised and ``events`` how many it gave."""

    def __init__(self, error: BaseException, events: int) -> None:
        self.error = error
        self.events = events
        super().__init__(f"the event source raised {type(error).__name__}: {error} after {events} events")


class OutcomeKind(WireEnum):
    """How an event ended."""

    SENT = "sent"
    REFUSED = "refused"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@attrs.frozen(slots=True)
class UpdateOutcome:
    """The end of one event: ``event`` is the object that was passed in, ``index`` its
    position in the input, ``latency`` the seconds its request took (0 when none was sent)."""

    event: Any
    kind: OutcomeKind
    index: int
    order_id: str | None = None
    error: BaseException | None = None
    attempts: int = 0
    latency: float = 0.0

    @property
    def ok(self) -> bool:
        """True for ``sent`` and ``superseded`` (nothing to fix)."""
        return self.kind in (OutcomeKind.SENT, OutcomeKind.SUPERSEDED)


@attrs.define(slots=True)
class StreamSummary:
    """What `send_all` returns: counts per kind, and the first ``keep`` failed and refused outcomes."""

    counts: dict[str, int] = attrs.field(factory=lambda: {kind.value: 0 for kind in OutcomeKind})
    failures: list[UpdateOutcome] = attrs.field(factory=list)
    refusals: list[UpdateOutcome] = attrs.field(factory=list)
    keep: int = 1000
    source_error: EventSourceError | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when nothing was refused or failed and the whole input was read."""
        return self.counts["failed"] == 0 and self.counts["refused"] == 0 and self.source_error is None

    def add(self, outcome: UpdateOutcome) -> None:
        self.counts[outcome.kind.value] += 1
        if outcome.kind is OutcomeKind.FAILED and len(self.failures) < self.keep:
            self.failures.append(outcome)
        elif outcome.kind is OutcomeKind.REFUSED and len(self.refusals) < self.keep:
            self.refusals.append(outcome)


@attrs.define(slots=True)
class _Item:
    event: Any
    index: int
    update: Update

    @property
    def order_id(self) -> str:
        return self.update.order_id


@attrs.define(slots=True)
class _Slot:
    tracker: OrderTracker
    queue: list[_Item] = attrs.field(factory=list)  # short (one order's events): a list is 14x smaller than a deque
    busy: bool = False
    scheduled: bool = False
    owned: bool = True  # made by the stream (a caller's own tracker is never parked)


#: An idle open order, parked as plain values: (status, eta, strict). Tuples of atoms are not
#: tracked by the garbage collector, so thousands of open orders add nothing to its sweeps.
_Parked = tuple[str, "datetime | None", bool]

#: A launched event: its order's slot, the event, and the update checked for it.
_Job = tuple[_Slot, _Item, Update]


def parse_event(event: object) -> Update:
    """The update an event asks for, validated on its own (see `parse_update`).

    Refuses (GettValidationError): an event that is neither an `OrderEvent` nor a mapping,
    unknown mapping keys, and everything `parse_update` refuses (named by wire keys for mappings).
    """
    if isinstance(event, OrderEvent):
        return parse_update(
            event.order_id, status=event.status, state=event.state,
            estimated_ready_at=event.estimated_ready_at, cancel_reason=event.cancel_reason,
        )
    if isinstance(event, Mapping):
        if not WIRE_KEYS.issuperset(event):
            unknown = set(event) - WIRE_KEYS
            raise GettValidationError("event", f"unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        return parse_update(
            event.get("orderId"), status=event.get("status"), state=event.get("state"),
            estimated_ready_at=event.get("estimatedReadyAt"), cancel_reason=event.get("cancelReason"),
            fields=WIRE_FIELDS,
        )
    raise GettValidationError("event", f"must be an OrderEvent or a mapping, got {type(event).__name__}")


def _as_int(order_id: str) -> int:
    # The id is canonical (checked by parse_event): its hex digits are the UUID's 128 bits.
    return int(order_id.replace("-", ""), 16)


class _ClosedMemory:
    """An LRU of recently closed order ids, stored as 128-bit ints to stay compact."""

    __slots__ = ("_ids", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ids: collections.OrderedDict[int, str] = collections.OrderedDict()

    def add(self, order_id: str, position: str) -> None:
        if self.limit <= 0:
            return
        key = _as_int(order_id)
        self._ids[key] = "completed" if position == "completed" else "cancelled"
        self._ids.move_to_end(key)
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def get(self, order_id: str) -> str | None:
        return self._ids.get(_as_int(order_id)) if self._ids else None

    def __len__(self) -> int:
        return len(self._ids)


class OrderStream:
    """An async iterator of `UpdateOutcome`s; see the module docstring for its guarantees.

    Use ``async for outcome in stream`` (optionally inside ``async with stream``).
    Refuses (GettValidationError at creation): ``concurrency`` < 1, ``buffer`` < ``concurrency``.
    """

    def __init__(
        self,
        orders: UpdateSender,
        events: Events,
        *,
        concurrency: int = 16,
        strict: bool = False,
        snapshots: Iterable[Mapping[str, Any] | OrderTracker] | None = None,
        buffer: int | None = None,
        closed_memory: int = 50_000,
    ) -> None:
        self.concurrency = validate.whole("concurrency", concurrency, minimum=1)
        self.buffer = buffer if buffer is not None else max(64, 4 * concurrency)
        if not isinstance(self.buffer, int) or self.buffer < concurrency:
            raise GettValidationError("buffer", f"must be at least concurrency ({concurrency}), got {self.buffer!r}")
        self.strict = strict
        self._orders = orders
        self._sync_it: Iterator[EventLike] | None = None
        self._async_it: AsyncIterator[EventLike] | None = None
        if isinstance(events, AsyncIterable):
            self._async_it = aiter(events)
        else:
            self._sync_it = iter(events)
        self._seeds: dict[str, Mapping[str, Any] | OrderTracker] = {}
        for seed in snapshots or ():
            key = seed.order_id if isinstance(seed, OrderTracker) else validate.uuid_id("orderId", seed.get("orderId"))
            self._seeds[key] = seed
        self._ref = weakref.ref(self)  # what tasks and callbacks hold, so a dropped stream can be collected
        self._slots: dict[str, _Slot] = {}  # orders with an event queued or in flight
        self._parked: dict[str, _Parked] = {}  # open orders with nothing to do
        self._closed_ids = _ClosedMemory(closed_memory)
        self._ready: collections.deque[_Slot] = collections.deque()
        self._outcomes: collections.deque[UpdateOutcome] = collections.deque()
        # Each lane's task -> [the job it is sending, or None between jobs]: a lane that ends
        # with a job still there was cancelled (or never started) before its answer came.
        self._tasks: dict[asyncio.Task[Any], list[_Job | None]] = {}
        self._pull: asyncio.Future[EventLike] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._waiting = False  # the consumer is inside __anext__, waiting for an outcome
        self._consumer: asyncio.Task[Any] | None = None  # the task that waits there
        self._lane_error: BaseException | None = None  # a bug in a lane, raised to the consumer
        self._lane_done = functools.partial(_lane_done, self._ref)
        self._held = 0
        self._index = 0
        self._exhausted = False
        self._stopped = False
        self.max_held = 0  # the most events held at once, for tests and tuning
        self.source_error: BaseException | None = None  # what the caller's async input raised, if it did
        connections = getattr(orders, "connection_limit", None)
        if connections is not None and concurrency > connections:
            logger.warning(
                "stream concurrency %d exceeds the client's max_connections %d; requests will queue for the pool",
                concurrency, connections,
            )

    # -- the async iterator --------------------------------------------------------------

    def __aiter__(self) -> OrderStream:
        return self

    async def __anext__(self) -> UpdateOutcome:
        try:
            while True:
                if self._lane_error is not None:
                    error, self._lane_error = self._lane_error, None
                    self._cancel_all()
                    raise error
                if self._stopped:
                    raise StopAsyncIteration
                self._pump()
                if self._outcomes:
                    self._held -= 1
                    return self._outcomes.popleft()
                if self._exhausted and not self._tasks and not self._ready and self._pull is None:
                    self._stopped = True
                    if self.source_error is not None:
                        # Every event the source gave has had its outcome; now say it broke off.
                        raise EventSourceError(self.source_error, self._index) from self.source_error
                    raise StopAsyncIteration
                self._wakeup = asyncio.get_running_loop().create_future()
                self._consumer = asyncio.current_task()
                self._waiting = True
                try:
                    await self._wakeup
                finally:
                    self._waiting = False
        except asyncio.CancelledError:
            self._cancel_all()
            raise

    async def __aenter__(self) -> OrderStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: start nothing more, cancel and await in-flight requests, close the input."""
        pending = self._cancel_all()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        closer = getattr(self._async_it, "aclose", None)
        if closer is not None:
            await closer()

    def __del__(self) -> None:
        # A consumer that broke out of its loop drops the stream: stop at once (no I/O here).
        if not getattr(self, "_stopped", True) and (self._tasks or self._pull is not None):
            self._cancel_all()

    def _cancel_all(self) -> list[asyncio.Future[Any]]:
        self._stopped = True
        pending: list[asyncio.Future[Any]] = [t for t in self._tasks if not t.done()]
        if self._pull is not None and not self._pull.done():
            pending.append(self._pull)
        for future in pending:
            future.cancel()
        return pending

    def snapshots(self) -> list[dict[str, Any]]:
        """Snapshots of the open orders this stream knows, to seed a later stream: the orders it
        moved (parked ones keep status, ETA and strictness, not their history) and the seeds
        it was given but never needed."""
        active = [slot.tracker.snapshot() for slot in self._slots.values() if not slot.tracker.is_closed]
        parked = [
            OrderTracker(self._orders, order_id, status=status, estimated_ready_at=eta, strict=strict).snapshot()
            for order_id, (status, eta, strict) in self._parked.items()
        ]
        # Seeds whose orders never came up are handed back as they were: a service that stores
        # this list in place of the one it passed in must not lose them.
        unseen = [seed.snapshot() if isinstance(seed, OrderTracker) else dict(seed) for seed in self._seeds.values()]
        return active + parked + unseen

    # -- the engine ----------------------------------------------------------------------

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def _pump(self) -> None:
        """Pull input while there is room, then launch ready orders up to ``concurrency``."""
        while not self._exhausted and self._held < self.buffer:
            if self._sync_it is not None:
                try:
                    event = next(self._sync_it)
                except StopIteration:
                    self._exhausted = True
                    break
                except Exception as exc:  # the caller's input failed: finish what it gave, then raise
                    self._source_failed(exc)
                    break
                self._accept(event)
            else:
                if self._pull is None:
                    assert self._async_it is not None
                    self._pull = asyncio.ensure_future(anext(self._async_it))
                    self._pull.add_done_callback(functools.partial(_pulled, self._ref))
                break
        while self._ready and len(self._tasks) < self.concurrency and not self._stopped:
            job = self._next_job()
            if job is not None:
                self._launch(job)

    def _on_pulled(self, future: asyncio.Future[EventLike]) -> None:
        self._pull = None
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, StopAsyncIteration):
            self._exhausted = True
        elif exc is not None:
            self._source_failed(exc)
        else:
            self._accept(future.result())
        self._wake()

    def _source_failed(self, exc: BaseException) -> None:
        self._exhausted = True
        self.source_error = exc
        logger.error("the event source raised %r after %d events; the stream finishes those, then raises", exc,
                     self._index)

    def _accept(self, event: EventLike) -> None:
        index = self._index
        self._index += 1
        self._held += 1
        if self._held > self.max_held:
            self.max_held = self._held
        try:
            update = parse_event(event)
        except GettValidationError as exc:
            raw = event.get("orderId") if isinstance(event, Mapping) else getattr(event, "order_id", None)
            self._emit(UpdateOutcome(event, OutcomeKind.REFUSED, index, raw if isinstance(raw, str) else None, exc))
            return
        order_id, target = update.order_id, update.target
        item = _Item(event, index, update)
        slots = self._slots
        slot = slots.get(order_id)
        if slot is None:
            parked = self._parked.pop(order_id, None) if self._parked else None
            if parked is not None:
                status, eta, strict = parked
                slot = _Slot(OrderTracker(self._orders, order_id, status=status, estimated_ready_at=eta, strict=strict))
            else:
                closed = self._closed_ids.get(order_id)
                if closed is not None:
                    error = IllegalTransitionError(closed, target or closed, (), f"the order is already {closed}")
                    self._emit(UpdateOutcome(event, OutcomeKind.REFUSED, index, order_id, error))
                    return
                try:
                    slot = self._slot_for(order_id)
                except GettValidationError as exc:
                    self._emit(UpdateOutcome(event, OutcomeKind.REFUSED, index, order_id, exc))
                    return
            slots[order_id] = slot
        queue = slot.queue
        if target is None and queue and queue[-1].update.target is None:
            # Two ETA-only updates waiting in a row: only the newer one is worth a write.
            older = queue.pop()
            self._emit(UpdateOutcome(older.event, OutcomeKind.SUPERSEDED, older.index, order_id))
        queue.append(item)
        if not slot.busy and not slot.scheduled:
            slot.scheduled = True
            self._ready.append(slot)

    def _slot_for(self, order_id: str) -> _Slot:
        """A new order's slot: a tracker at ``pending``, or from its seed."""
        seed = self._seeds.pop(order_id, None) if self._seeds else None
        if seed is None:
            return _Slot(OrderTracker(self._orders, order_id, strict=self.strict))
        if isinstance(seed, OrderTracker):  # the caller's own object: keep moving that one
            seed.strict = self.strict or seed.strict
            return _Slot(seed, owned=False)
        tracker = OrderTracker.restore(self._orders, seed)
        tracker.strict = self.strict or tracker.strict
        return _Slot(tracker)

    def _next_job(self) -> _Job | None:
        """The next ready event with its request built; events refused on the way get their outcomes."""
        while self._ready:
            slot = self._ready.popleft()
            slot.scheduled = False
            item = slot.queue.pop(0)
            try:
                update = slot.tracker.check(item.update)
            except Exception as exc:  # refused, or (a bug) failed: an outcome either way, never lost
                kind = OutcomeKind.REFUSED if isinstance(exc, GettValidationError) else OutcomeKind.FAILED
                self._emit(UpdateOutcome(item.event, kind, item.index, item.order_id, exc))
                self._settle(slot)
                continue
            slot.busy = True
            return slot, item, update
        return None

    def _launch(self, job: _Job) -> None:
        # The lane holds the stream only weakly, so a consumer that drops the stream (e.g.
        # breaks out of ``async for``) lets ``__del__`` cancel what is in flight.
        holder: list[_Job | None] = [job]
        task = asyncio.get_running_loop().create_task(_lane(self._ref, self._orders.send_update, holder))
        self._tasks[task] = holder
        task.add_done_callback(self._lane_done)

    def _finish(
        self, slot: _Slot, item: _Item, update: Update, attempts: int, failure: BaseException | None, latency: float
    ) -> _Job | None:
        """Record one answered event; return the lane's next job, if it may take one.

        A lane goes on only while the consumer waits inside ``__anext__`` (so requests still
        start only while someone pulls). Going on at once, instead of ending the task and
        letting ``__anext__`` start another, also keeps allocation in step with release:
        a wave of finished tasks followed by a wave of new ones makes the garbage collector
        run every few events.
        """
        slot.busy = False
        if failure is None:
            slot.tracker.acknowledge(update)
            kind = OutcomeKind.SENT
        else:
            kind = OutcomeKind.FAILED
        self._emit(UpdateOutcome(item.event, kind, item.index, item.order_id, failure, attempts, latency))
        self._settle(slot)
        if self._waiting and not self._stopped and not self._consumer_cancelled():
            return self._next_job()
        return None

    def _consumer_cancelled(self) -> bool:
        """The consumer waits in ``__anext__`` but has been cancelled (it has not seen it yet)."""
        if self._wakeup is not None and self._wakeup.cancelled():
            return True
        cancelling = getattr(self._consumer, "cancelling", None)  # Python 3.11+
        return cancelling is not None and cancelling() > 0

    def _on_lane_done(self, task: asyncio.Task[Any]) -> None:
        holder = self._tasks.pop(task, None)
        job = holder[0] if holder is not None else None
        if job is not None:  # cancelled (or never started) before the answer came
            slot, item, _ = job
            slot.busy = False
            error = GettError("the update was cancelled before it was answered (the stream was stopped)")
            self._emit(UpdateOutcome(item.event, OutcomeKind.FAILED, item.index, item.order_id, error))
            if not self._stopped:
                self._settle(slot)  # cancelled from outside: the order's later events still go
        if not task.cancelled() and task.exception() is not None:
            self._lane_error = task.exception()  # a bug: the consumer gets it from __anext__
        self._wake()

    def _settle(self, slot: _Slot) -> None:
        """After an event of ``slot`` ended: queue its next one, or release a closed order."""
        if slot.queue:
            if not slot.scheduled:
                slot.scheduled = True
                self._ready.append(slot)
        elif not slot.busy:
            tracker = slot.tracker
            order_id, position = tracker.order_id, tracker.position
            if position in lifecycle.CLOSED_STATES:
                del self._slots[order_id]
                self._closed_ids.add(order_id, position)
            elif slot.owned:
                del self._slots[order_id]
                self._parked[order_id] = (tracker.status, tracker.estimated_ready_at, tracker.strict)

    def _emit(self, outcome: UpdateOutcome) -> None:
        self._outcomes.append(outcome)
        self._wake()


async def _lane(
    ref: weakref.ref[OrderStream], send: Callable[[Update], Awaitable[Receipt]], holder: list[_Job | None]
) -> None:
    """Send the job in ``holder``, hand its result to the stream, and go on with the next job
    the stream gives (kept in ``holder`` while it is sent). A failure is an outcome, never
    raised; the stream is held only between sends."""
    job = holder[0]
    assert job is not None
    slot, item, update = job
    clock = time.perf_counter
    while True:
        started = clock()
        failure: BaseException | None = None
        try:
            attempts = (await send(update)).attempts
        except Exception as exc:  # never let one event kill the stream (a cancel passes through)
            attempts, failure = getattr(exc, "attempts", 1), exc
        latency = clock() - started
        stream = ref()
        if stream is None:
            return
        holder[0] = None  # answered: from here on the stream records it
        following = stream._finish(slot, item, update, attempts, failure, latency)
        del stream
        if following is None:
            return
        holder[0] = following
        slot, item, update = following


def _lane_done(ref: weakref.ref[OrderStream], task: asyncio.Task[Any]) -> None:
    stream = ref()
    if stream is not None:
        stream._on_lane_done(task)


def _pulled(ref: weakref.ref[OrderStream], future: asyncio.Future[EventLike]) -> None:
    stream = ref()
    if stream is not None:
        stream._on_pulled(future)


def stream_updates(orders: UpdateSender, events: Events, **options: Any) -> OrderStream:
    """``gett.orders.stream``: see `OrderStream`."""
    return OrderStream(orders, events, **options)


async def send_all(orders: UpdateSender, events: Events, *, keep: int = 1000, **options: Any) -> StreamSummary:
    """Stream every event; return counts per kind, the first ``keep`` failures and refusals,
    and ``source_error`` if the events iterable raised (then ``ok`` is False)."""
    summary = StreamSummary(keep=keep)
    async with OrderStream(orders, events, **options) as stream:
        try:
            async for outcome in stream:
                summary.add(outcome)
        except EventSourceError as exc:
            summary.source_error = exc
    return summary
