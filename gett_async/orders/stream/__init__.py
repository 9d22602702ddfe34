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
  plain values, not trackers. Trackers of closed orders are dropped; their ids stay in an LRU
  of ``closed_memory`` entries so that a late event for them is refused. Memory grows with
  the number of *open* orders, not of events.
- **Pull-driven, clean stop.** Requests start only while the consumer is inside
  ``__anext__`` (it starts them, or a request's task takes the next ready event while the
  consumer waits there, not once it has been cancelled): when the consumer stops pulling,
  breaks out of its loop, closes the stream or is cancelled, no new request starts, and
  `aclose` (or leaving ``async with``) cancels and awaits what is in flight (up to
  ``concurrency`` requests, whose events end as ``failed``). A stream dropped without
  `aclose` lets its requests in flight finish, and starts nothing more.

The parts, each with one job: `events` (what comes in), `book` (each order's tracker, parked
and closed orders), `scheduler` (per-order FIFO, one in flight per order, coalescing),
`outcomes` (one outcome per event, held-event bookkeeping), `engine` (the four together,
no I/O) and `shell` (`OrderStream`: the input, the lanes, the iterator and cancel protocol).
"""

from .book import OrderBook, Parked, Seed
from .engine import Job, StreamEngine
from .events import EventLike, Events, EventSourceError, OrderEvent, parse_event
from .outcomes import OutcomeKind, StreamSummary, UpdateOutcome
from .scheduler import Scheduler
from .shell import OrderStream, summarize

__all__ = [
    "EventLike",
    "EventSourceError",
    "Events",
    "Job",
    "OrderBook",
    "OrderEvent",
    "OrderStream",
    "OutcomeKind",
    "Parked",
    "Scheduler",
    "Seed",
    "StreamEngine",
    "StreamSummary",
    "UpdateOutcome",
    "parse_event",
    "summarize",
]
