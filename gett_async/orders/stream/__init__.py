"""Streaming order updates for batch updaters: events in, outcomes out.

``gett.orders.stream(events)`` returns an `OrderStream`, an async iterator of
`UpdateOutcome`s in completion order. Its guarantees:

- **Per-order FIFO.** One order's events are sent in input order, one at a time; different
  orders run concurrently, up to ``concurrency`` requests in flight.
- **Checked, never blind.** Each event is checked against the acknowledged state of its
  order (an `OrderTracker` made at ``pending`` on first sight, or seeded from
  ``snapshots``); an illegal or malformed event is a ``refused`` outcome and sends nothing.
- **Nothing lost.** Every event ends as exactly one outcome: ``sent``, ``refused`` (illegal
  or malformed, only), ``failed`` (after retries), ``blocked`` (an earlier event of its
  order failed: not sent, the error names that event), ``superseded`` (a later event of its
  order that waited with it was sent in its place, ``superseded_by``: an ETA-only update by a
  newer one, or, while writes wait, a status by a later one) or ``aborted`` (the stream
  stopped first: not final). If the events
  iterable itself raises, the events it gave still get their outcomes, then the stream
  raises `EventSourceError`.
- **Budget-aware (unless strict).** While the client's gate says writes wait and more
  orders are ready than ``concurrency``, closing updates go first, then progress, then
  ETA-only updates, and an order's waiting events collapse into the latest one that is a
  legal move from where it is (`lifecycle.check` decides): never out of its order, and the
  order ends where sending each event would leave it. ``pending_writes`` and
  ``estimated_drain_seconds`` say what is queued and how long it takes.
- **Circuit breaker.** A 401 or 403 stops the stream at once: no further request, every
  event not done ends ``aborted`` with the cause (`abort_error`). Connection failures and
  timeouts pause the stream with backoff and, ``breaker.connection_failures`` in a row,
  abort it the same way.
- **Checkpoints, resume, watermark.** With ``checkpoint=`` each final outcome is recorded
  by the event's key together with its order's new state, and an order's next event is sent
  only once that is durable. A stream started on the same store skips what is done and
  continues every order where it was; an event whose outcome was never recorded is sent
  again (at least once). `OrderStream.watermark` says how many leading events are final.
- **Bounded memory.** The input is pulled only while fewer than ``buffer`` events are held
  (queued, in flight, or finished but not yet consumed). Idle open orders are parked as
  plain values, not trackers. Trackers of closed orders are dropped; their ids stay in an LRU
  of ``closed_memory`` entries so that a late event for them is refused. Memory grows with
  the number of *open* orders, not of events.
- **Pull-driven, clean stop.** Requests start only while the consumer is inside
  ``__anext__`` (it starts them, or a request's task takes the next ready event while the
  consumer waits there, not once it has been cancelled): when the consumer stops pulling,
  breaks out of its loop, closes the stream or is cancelled, no new request starts, and
  `aclose` (or leaving ``async with``) cancels and awaits what is in flight (up to
  ``concurrency`` requests, whose events end as ``aborted``). `OrderStream.stop` drains
  instead: no more input or new requests, in-flight ones finish. A stream dropped without
  `aclose` lets its requests in flight finish, and starts nothing more.

The parts, each with one job: `events` (what comes in), `book` (each order's tracker, parked
and closed orders), `scheduler` (per-order FIFO, one in flight per order, coalescing, ranked pops),
`outcomes` (one outcome per event, held-event bookkeeping), `checkpoint` (what a store is
asked), `engine` (the four together, no I/O) and `shell` (`OrderStream`: the input, the
lanes, the checkpoint writes, the iterator and cancel protocol).
"""

from .book import OrderBook, Parked, Seed
from .checkpoint import Batch, Checkpoint, OutcomeRecord
from .engine import CircuitBreaker, Job, StreamEngine
from .events import EventKey, EventLike, Events, EventSourceError, OrderEvent, event_key, parse_event
from .outcomes import OrderBlockedError, OutcomeKind, StreamAbortedError, StreamSummary, UpdateOutcome, Watermark
from .scheduler import Scheduler
from .shell import OrderStream, summarize

__all__ = [
    "Batch",
    "Checkpoint",
    "CircuitBreaker",
    "EventKey",
    "EventLike",
    "EventSourceError",
    "Events",
    "Job",
    "OrderBlockedError",
    "OrderBook",
    "OrderEvent",
    "OrderStream",
    "OutcomeKind",
    "OutcomeRecord",
    "Parked",
    "Scheduler",
    "Seed",
    "StreamAbortedError",
    "StreamEngine",
    "StreamSummary",
    "UpdateOutcome",
    "Watermark",
    "event_key",
    "parse_event",
    "summarize",
]
