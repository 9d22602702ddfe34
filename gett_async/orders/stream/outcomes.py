"""What comes out of a stream: one outcome per event, and the bookkeeping of held events (no I/O)."""

from __future__ import annotations

import collections
from typing import Generic

import attrs

from ...models.enums import WireEnum
from .events import E, E_co, EventSourceError


class OutcomeKind(WireEnum):
    """How an event ended."""

    SENT = "sent"
    REFUSED = "refused"
    FAILED = "failed"
    SUPERSEDED = "superseded"


@attrs.frozen(slots=True)
class UpdateOutcome(Generic[E_co]):
    """The end of one event: ``event`` is the object that was passed in, ``index`` its
    position in the input, ``latency`` the seconds its request took (0 when none was sent)."""

    event: E_co
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


def _zero_counts() -> dict[str, int]:
    return {kind.value: 0 for kind in OutcomeKind}


@attrs.define(slots=True)
class StreamSummary(Generic[E]):
    """What `send_all` returns: counts per kind, and the first ``keep`` failed and refused outcomes."""

    counts: dict[str, int] = attrs.field(factory=_zero_counts)
    failures: list[UpdateOutcome[E]] = attrs.field(factory=list)
    refusals: list[UpdateOutcome[E]] = attrs.field(factory=list)
    keep: int = 1000
    source_error: EventSourceError | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """True when nothing was refused or failed and the whole input was read."""
        return self.counts["failed"] == 0 and self.counts["refused"] == 0 and self.source_error is None

    def add(self, outcome: UpdateOutcome[E]) -> None:
        self.counts[outcome.kind.value] += 1
        if outcome.kind is OutcomeKind.FAILED and len(self.failures) < self.keep:
            self.failures.append(outcome)
        elif outcome.kind is OutcomeKind.REFUSED and len(self.refusals) < self.keep:
            self.refusals.append(outcome)


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
