"""The order book of a stream: what it knows of each order, with no I/O.

An order with events under way has an `OrderTracker` (the tracker's ``check`` and
``acknowledge`` decide and record every move). An open order with nothing under way is
*parked* as plain values, and a closed one is remembered by id only, in a bounded LRU, so
that memory grows with the number of open orders, not of events.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from ..._core import lifecycle, validate
from ..tracker import OrderTracker, UpdateSender, exact_time
from .events import EventKey

#: What a stream may be seeded with: `OrderTracker.snapshot` dicts or trackers.
Seed = Mapping[str, Any] | OrderTracker

#: Where a stream finds what an earlier run recorded of an order: an order record (see
#: `OrderBook.record`) by order id, or None.
OrderLookup = Callable[[str], Mapping[str, Any] | None]

#: The member of an order record naming the event of the order that failed.
FAILED_KEY = "failedEvent"


@attrs.frozen(slots=True)
class Parked:
    """An open order with nothing under way: all a tracker needs to pick it up again."""

    status: str
    estimated_ready_at: datetime | None
    strict: bool


class ClosedOrders:
    """The ids of the last ``limit`` closed orders and how each closed (an LRU)."""

    __slots__ = ("_ids", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._ids: collections.OrderedDict[str, str] = collections.OrderedDict()

    def add(self, order_id: str, state: str) -> None:
        """Remember ``order_id`` as the most recently closed, forgetting the oldest beyond ``limit``."""
        if self.limit <= 0:
            return
        self._ids[order_id] = state
        self._ids.move_to_end(order_id)
        if len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def get(self, order_id: str) -> str | None:
        """``completed`` or ``cancelled`` for a remembered order, else None."""
        return self._ids.get(order_id)

    def __len__(self) -> int:
        return len(self._ids)


class OrderBook:
    """Trackers of the orders with events under way, parked idle open orders, remembered
    closed ones, and the seeds not used yet.

    ``seeds`` are `OrderTracker.snapshot` dicts or trackers; a caller's tracker is moved
    itself (and never parked). ``strict`` makes every tracker strict. ``closed_memory`` bounds
    the closed orders remembered. ``lookup`` gives what an earlier run recorded of an order
    the book has not seen (it wins over a seed: it is newer); with ``retry_failed`` a
    recorded failure no longer blocks its order. Refuses (GettValidationError) a seed
    without a UUID order id.
    """

    __slots__ = (
        "_active", "_borrowed", "_lookup", "_parked", "_seeds", "_sender", "closed", "failed", "retry_failed", "strict",
    )

    def __init__(
        self,
        sender: UpdateSender,
        *,
        strict: bool = False,
        seeds: Iterable[Seed] = (),
        closed_memory: int = 50_000,
        lookup: OrderLookup | None = None,
        retry_failed: bool = False,
    ) -> None:
        self._sender = sender
        self.strict = strict
        self._lookup = lookup
        self.retry_failed = retry_failed
        #: Orders whose event failed, and that event's key: their later events are blocked.
        self.failed: dict[str, EventKey] = {}
        self._seeds: dict[str, Seed] = {}
        for seed in seeds:
            key = seed.order_id if isinstance(seed, OrderTracker) else validate.uuid_id("orderId", seed.get("orderId"))
            self._seeds[key] = seed
        self._active: dict[str, OrderTracker] = {}
        self._borrowed: set[str] = set()  # orders whose tracker is the caller's own object
        self._parked: dict[str, Parked] = {}
        self.closed = ClosedOrders(closed_memory)

    def tracker(self, order_id: str) -> OrderTracker:
        """The tracker of ``order_id`` (a canonical id), made on first sight: from where the
        order was parked, at its closed state if it is remembered as closed, from its seed, or
        at ``pending``. Refuses (GettValidationError) a malformed seed (which is then dropped)."""
        tracker = self._active.get(order_id)
        if tracker is None:
            tracker = self._active[order_id] = self._make(order_id)
        return tracker

    def _make(self, order_id: str) -> OrderTracker:
        parked = self._parked.pop(order_id, None)
        if parked is not None:
            return OrderTracker(
                self._sender, order_id, status=parked.status, estimated_ready_at=parked.estimated_ready_at,
                strict=parked.strict,
            )
        closed = self.closed.get(order_id)
        if closed is not None:  # its tracker then refuses every event (the lifecycle's rule, not ours)
            return OrderTracker(self._sender, order_id, state=closed, strict=self.strict)
        stored = self._lookup(order_id) if self._lookup is not None else None
        if stored is not None:
            self._seeds.pop(order_id, None)  # older than what the checkpoint holds
            failed = stored.get(FAILED_KEY)
            if failed is not None and not self.retry_failed:
                self.failed[order_id] = failed
            tracker = OrderTracker.restore(self._sender, stored)
            tracker.strict = self.strict or tracker.strict
            return tracker
        seed = self._seeds.pop(order_id, None)
        if seed is None:
            return OrderTracker(self._sender, order_id, strict=self.strict)
        if isinstance(seed, OrderTracker):
            self._borrowed.add(order_id)
            tracker = seed
        else:
            tracker = OrderTracker.restore(self._sender, seed)
        tracker.strict = self.strict or tracker.strict
        return tracker

    def failed_event(self, order_id: str) -> EventKey | None:
        """The key of ``order_id``'s failed event, as this run knows it or (for an order it has
        not seen) as the checkpoint records it; None when it has none (or ``retry_failed``)."""
        if order_id in self.failed:
            return self.failed[order_id]
        if order_id in self._active or order_id in self._parked or self.closed.get(order_id) is not None:
            return None
        stored = self._lookup(order_id) if self._lookup is not None else None
        failed = None if stored is None or self.retry_failed else stored.get(FAILED_KEY)
        return failed if isinstance(failed, (str, int)) else None

    def release(self, order_id: str) -> None:
        """``order_id`` has nothing under way: forget its tracker, keeping an open order's
        position (parked) or a closed order's id. A caller's own open tracker stays."""
        tracker = self._active[order_id]
        if tracker.is_closed:
            del self._active[order_id]
            self._borrowed.discard(order_id)
            self.closed.add(order_id, tracker.position)
        elif order_id not in self._borrowed:
            del self._active[order_id]
            self._parked[order_id] = Parked(tracker.status, tracker.estimated_ready_at, tracker.strict)

    def position(self, order_id: str) -> str | None:
        """Where the book knows ``order_id`` to be (its position), or None if it does not know it."""
        tracker = self._active.get(order_id)
        if tracker is not None:
            return tracker.position
        parked = self._parked.get(order_id)
        return parked.status if parked is not None else self.closed.get(order_id)

    def record(self, order_id: str) -> dict[str, Any]:
        """What a checkpoint keeps of an order the book knows: its position, ETA and
        strictness (no history: only where it is matters to a resumed run), and the key of
        its failed event, if one failed."""
        tracker = self._active.get(order_id)
        if tracker is not None:
            status, position, eta, strict = tracker.status, tracker.position, tracker.estimated_ready_at, tracker.strict
        elif (parked := self._parked.get(order_id)) is not None:
            status, position, eta, strict = parked.status, parked.status, parked.estimated_ready_at, parked.strict
        else:
            closed = self.closed.get(order_id)
            if closed is None:
                raise KeyError(order_id)
            status, position, eta, strict = "pending", closed, None, self.strict  # a closed order's status is moot
        record: dict[str, Any] = {
            "orderId": order_id,
            "status": status,
            "state": position if lifecycle.is_closed(position) else "open",
            "strict": strict,
            "estimatedReadyAt": exact_time(eta),
        }
        failed = self.failed.get(order_id)
        if failed is not None:
            record[FAILED_KEY] = failed
        return record

    @property
    def active(self) -> int:
        """Orders that hold a tracker."""
        return len(self._active)

    @property
    def parked(self) -> int:
        """Idle open orders kept as plain values."""
        return len(self._parked)

    def snapshots(self) -> list[dict[str, Any]]:
        """Snapshots of the open orders the book knows (parked ones keep status, ETA and
        strictness, not their history) and the seeds it never needed, as they were given."""
        active = [tracker.snapshot() for tracker in self._active.values() if not tracker.is_closed]
        parked = [
            OrderTracker(
                self._sender, order_id, status=p.status, estimated_ready_at=p.estimated_ready_at, strict=p.strict
            ).snapshot()
            for order_id, p in self._parked.items()
        ]
        # Handed back untouched: a service that stores this list in place of the one it passed
        # in must not lose the orders that never came up.
        unseen = [seed.snapshot() if isinstance(seed, OrderTracker) else dict(seed) for seed in self._seeds.values()]
        return active + parked + unseen

