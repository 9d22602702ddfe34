"""What comes out of a stream: one outcome per event, and the bookkeeping of held events (no I/O)."""

from __future__ import annotations

import collections
from typing import Generic

import attrs

from ...errors import GettError
from ...models.enums import WireEnum
from .events import E, E_co, EventKey, EventSourceError


class OutcomeKind(WireEnum):
    """How an event ended.

    ``sent``: Gett took it. ``refused``: illegal from where its order is, or malformed; never
    sent. ``failed``: sent, and Gett did not take it (after retries). ``superseded``: not
    sent, because a later event of its order that waited with it was sent in its place (an
    ETA-only update by a newer one; while the stream is congested and not strict, a status
    by a later status the order may skip to); ``superseded_by`` names that event. ``blocked``: an earlier event
    of its order failed, so it was not sent (the error names that event). ``aborted``: the
    stream stopped before it was done (a stop, a 401/403, the connection; the error says
    which): it is not final, and a run resumed from a checkpoint sends it again.
    """

    SENT = "sent"
    REFUSED = "refused"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    BLOCKED = "blocked"
    ABORTED = "aborted"


class OrderBlockedError(GettError):
    """An event was not sent because an earlier event of its order failed (``failed_key``)."""

    def __init__(self, order_id: str, failed_key: EventKey) -> None:
        self.order_id = order_id
        self.failed_key = failed_key
        super().__init__(
            f"not sent: event {failed_key!r} of order {order_id} failed before it "
            "(resume with retry_failed to send it again, then this one)"
        )


class StreamAbortedError(GettError):
    """A stream stopped before an event was done: ``cause`` is the 401/403 or connection
    failure that tripped the circuit breaker, or None for a stop asked by the caller."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        self.cause = cause
        super().__init__(message)


@attrs.frozen(slots=True)
class UpdateOutcome(Generic[E_co]):
    """The end of one event: ``event`` is the object that was passed in, ``index`` its
    position in the input, ``key`` its key (the event's own, else ``index``), ``latency``
    the seconds its request took (0 when none was sent), ``superseded_by`` the key of the
    event sent in its place (``superseded`` only)."""

    event: E_co
    kind: OutcomeKind
    index: int
    order_id: str | None = None
    error: BaseException | None = None
    attempts: int = 0
    latency: float = 0.0
    key: EventKey = attrs.field(default=None)
    superseded_by: EventKey | None = None

    def __attrs_post_init__(self) -> None:
        if self.key is None:  # no key of its own: its position names it
            object.__setattr__(self, "key", self.index)

    @property
    def ok(self) -> bool:
        """True for ``sent`` and ``superseded`` (nothing to fix)."""
        return self.kind in (OutcomeKind.SENT, OutcomeKind.SUPERSEDED)

    @property
    def final(self) -> bool:
        """False only for ``aborted``: a resumed run sends it again."""
        return self.kind is not OutcomeKind.ABORTED


@attrs.frozen(slots=True)
class Watermark:
    """How many leading input events have final outcomes (recorded in the checkpoint when
    the stream has one), and the key of the last of them (None while ``count`` is 0).
    A queue consumer may commit its offsets up to that event."""

    count: int = 0
    key: EventKey | None = None


def _zero_counts() -> dict[str, int]:
    return {kind.value: 0 for kind in OutcomeKind}


@attrs.define(slots=True)
class StreamSummary(Generic[E]):
    """What `send_all` returns: counts per kind, the first ``keep`` refused outcomes and the
    first ``keep`` others that are not ok (failed, blocked, aborted)."""

    counts: dict[str, int] = attrs.field(factory=_zero_counts)
    failures: list[UpdateOutcome[E]] = attrs.field(factory=list)
    refusals: list[UpdateOutcome[E]] = attrs.field(factory=list)
    keep: int = 1000
    source_error: EventSourceError | None = None
    #: Why the stream stopped early (a stop, 401/403, the connection), if it did.
    abort_error: StreamAbortedError | None = None
    #: Events passed over because the checkpoint already held their final outcome.
    skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when every event was sent or superseded (or skipped as done before) and the
        whole input was read."""
        return (
            all(self.counts[kind.value] == 0 for kind in OutcomeKind if kind not in _OK_KINDS)
            and self.source_error is None
            and self.abort_error is None
        )

    def add(self, outcome: UpdateOutcome[E]) -> None:
        self.counts[outcome.kind.value] += 1
        if outcome.kind in _FAILURE_KINDS and len(self.failures) < self.keep:
            self.failures.append(outcome)
        elif outcome.kind is OutcomeKind.REFUSED and len(self.refusals) < self.keep:
            self.refusals.append(outcome)


_OK_KINDS = frozenset({OutcomeKind.SENT, OutcomeKind.SUPERSEDED})
#: What `StreamSummary.failures` keeps: every kind that is neither ok nor a refusal.
_FAILURE_KINDS = frozenset({OutcomeKind.FAILED, OutcomeKind.BLOCKED, OutcomeKind.ABORTED})


class Outcomes(Generic[E]):
    """The events a stream holds and the outcomes that wait for its consumer.

    An event is *held* from the moment it is admitted until its outcome is taken: queued, in
    flight, or ended but not yet consumed. Bounding ``held`` bounds the stream's memory.
    """

    __slots__ = ("_ended", "admitted", "counts", "held", "max_held")

    def __init__(self) -> None:
        self._ended: collections.deque[UpdateOutcome[E]] = collections.deque()
        self.admitted = 0  #: events taken from the input so far (the next event's index)
        self.held = 0
        self.max_held = 0
        self.counts = _zero_counts()  #: outcomes made so far per kind, taken or not

    def admit(self) -> int:
        """Hold one more event and return its index in the input."""
        index = self.admitted
        self.admitted += 1
        self.held += 1
        self.max_held = max(self.max_held, self.held)
        return index

    def skip(self) -> None:
        """Count one input event that needs no outcome (the checkpoint holds its final one)."""
        self.admitted += 1

    def add(self, outcome: UpdateOutcome[E]) -> None:
        """Record the one outcome of an admitted event, for the consumer to `take`."""
        self._ended.append(outcome)
        self.counts[outcome.kind.value] += 1

    def take(self) -> UpdateOutcome[E] | None:
        """The oldest outcome not yet taken (its event is no longer held), or None."""
        if not self._ended:
            return None
        self.held -= 1
        return self._ended.popleft()

    def __len__(self) -> int:
        return len(self._ended)
