"""``gett.orders``: the Update Order Status endpoint plus the order domain on top of it."""

from __future__ import annotations

import uuid
from typing import Any

from .._core.paths import ApiPaths
from .._http.sender import Sender
from ..models import OrderState, OrderStatus
from ..models.enums import AnyStateValue, OpenStatusValue
from ..resources.orders import OrderUpdates
from .stream import Events, OrderStream, StreamSummary, send_all, stream_updates
from .tracker import OrderTracker


class Orders(OrderUpdates):
    """``gett.orders``: single updates (`update_status`, `complete`, `cancel`), trackers, streams."""

    __slots__ = ("connection_limit",)

    def __init__(self, sender: Sender, paths: ApiPaths, connection_limit: int | None) -> None:
        super().__init__(sender, paths)
        #: The client's connection pool size (None for a custom transport): streams warn above it.
        self.connection_limit = connection_limit

    def track(
        self,
        order_id: str | uuid.UUID,
        *,
        status: OrderStatus | OpenStatusValue = "pending",
        state: OrderState | AnyStateValue = "open",
        strict: bool = False,
    ) -> OrderTracker:
        """An `OrderTracker` for one order, starting from its acknowledged status/state.

        Refuses (GettValidationError) a non-UUID order id and unknown status or state values.
        """
        return OrderTracker(self, order_id, status=status, state=state, strict=strict)

    def stream(self, events: Events, **options: Any) -> OrderStream:
        """Stream events in, outcomes out: an `OrderStream` (see `gett_async.orders.stream`).

        Refuses (GettValidationError) ``concurrency`` < 1 and ``buffer`` < ``concurrency``; bad
        events are not raised but come out as ``refused`` outcomes.
        """
        return stream_updates(self, events, **options)

    async def send_all(self, events: Events, **options: Any) -> StreamSummary:
        """Stream every event and return the summary (counts per kind, the failures)."""
        return await send_all(self, events, **options)


