"""What a stream asks of a checkpoint store, and what it hands it (no I/O here).

A store keeps, by event key, each event's final outcome, and, by order id, what a resumed
run needs of each order the stream moved (its position, ETA, strictness, and the key of
its failed event if one failed; a closed order's record says so). The stream reads it
synchronously (`outcome`, `order`: local reads of a file or a database) and writes it one
`Batch` at a time, from a worker thread, never two at once. `gett_async.checkpoints` has a
JSON-lines file and a sqlite implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

from .events import EventKey


@attrs.frozen(slots=True)
class OutcomeRecord:
    """One final outcome as a store keeps it: the event's key, the kind (``sent``,
    ``refused``, ``failed``, ``superseded`` or ``blocked``; ``aborted`` is never recorded),
    its order id, the error's text, and the attempts its request took."""

    key: EventKey
    kind: str
    order_id: str | None = None
    error: str | None = None
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict that `from_json` reads back."""
        record: dict[str, Any] = {"key": self.key, "kind": self.kind, "orderId": self.order_id}
        if self.error is not None:
            record["error"] = self.error
        if self.attempts:
            record["attempts"] = self.attempts
        return record

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OutcomeRecord:
        """Read `to_json` output back. Raises KeyError/TypeError on a malformed record."""
        return cls(data["key"], str(data["kind"]), data.get("orderId"), data.get("error"), int(data.get("attempts", 0)))


@attrs.frozen(slots=True)
class Batch:
    """What a store writes at once, atomically: outcomes, and the records of the orders they
    moved as they stand after them (so no outcome is ever durable without its order's state)."""

    outcomes: Sequence[OutcomeRecord]
    orders: Mapping[str, Mapping[str, Any]]


class Checkpoint(Protocol):
    """A checkpoint store, as `gett.orders.stream(events, checkpoint=...)` uses it."""

    def outcome(self, key: EventKey) -> OutcomeRecord | None:
        """The final outcome recorded for ``key``, or None."""

    def order(self, order_id: str) -> Mapping[str, Any] | None:
        """The record of ``order_id`` (see `OrderBook.record`), or None."""

    def write(self, batch: Batch) -> None:
        """Record ``batch`` atomically; durable when this returns (called in a worker thread,
        one call at a time)."""
