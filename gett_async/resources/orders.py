"""Order Updates: push an order's progress or close it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .. import _serde, _validate, lifecycle
from .._paths import ApiPaths
from .._session import ApiRequest
from ..errors import GettValidationError
from ..models import OrderStatusUpdate
from ._base import Receipt, Resource, Timeout

if TYPE_CHECKING:
    from ..stream import OrderEvent, OrderStream, StreamSummary
    from ..tracker import OrderTracker


def status_update_request(
    paths: ApiPaths,
    order_id: str | uuid.UUID,
    *,
    status: object = None,
    state: object = None,
    estimated_ready_at: datetime | None = None,
    cancel_reason: str | None = None,
) -> ApiRequest:
    """Build Update Order Status, refusing everything Gett documents as not to be sent.

    Refuses: an order id that is not a UUID; unknown status/state values; ``pending``;
    ``state="open"``; a status together with a closing state; an empty update; a cancel
    without a non-blank reason; a ``cancel_reason`` without a cancel; an ETA on a close;
    a naive datetime; oversized text.
    """
    oid = _validate.uuid_id("order_id", order_id)
    target = lifecycle.target_of(status, state)
    if estimated_ready_at is not None:
        _validate.aware("estimated_ready_at", estimated_ready_at)
        if lifecycle.is_closed(target or ""):
            raise GettValidationError("estimated_ready_at", "goes with a progress status, not with closing an order")
    if target == "cancelled":
        if cancel_reason is None:
            raise GettValidationError("cancel_reason", "a cancel needs a non-blank reason")
        _validate.text("cancel_reason", cancel_reason)
    elif cancel_reason is not None:
        raise GettValidationError("cancel_reason", "is only sent with state='cancelled'")
    if target is None:
        if estimated_ready_at is None:
            raise GettValidationError("status", "empty update: give a status, a state or an estimated_ready_at")
        body = _serde.encode(OrderStatusUpdate(estimated_ready_at=estimated_ready_at))
    elif estimated_ready_at is None and cancel_reason is None:
        body = plain_body(target)
    else:
        body = _serde.encode(
            lifecycle.build_update(target, estimated_ready_at=estimated_ready_at, cancel_reason=cancel_reason)
        )
    path = paths.order_status
    return ApiRequest("POST", path.replace("{order_id}", oid), path, body, reads_body=False)


@functools.lru_cache(maxsize=16)
def plain_body(target: str) -> bytes:
    """The body of a move to ``target`` alone (no ETA, no reason): the same bytes every time."""
    return _serde.encode(lifecycle.build_update(target))


class Orders(Resource):
    """``gett.orders``: order updates, trackers and streams."""

    __slots__ = ()

    async def update_status(
        self,
        order_id: str | uuid.UUID,
        *,
        status: object = None,
        state: object = None,
        estimated_ready_at: datetime | None = None,
        cancel_reason: str | None = None,
        timeout: Timeout = None,
    ) -> Receipt:
        """Send one order update (``status`` for progress, ``state`` to close).

        Enums or their wire strings are accepted. This checks the update on its own, not
        against the order's history: use `track` or `stream` for that. Refuses, before any
        I/O: see `status_update_request`.
        """
        request = status_update_request(
            self._paths, order_id, status=status, state=state,
            estimated_ready_at=estimated_ready_at, cancel_reason=cancel_reason,
        )
        return Receipt.of(await self._send(request, timeout))

    async def complete(self, order_id: str | uuid.UUID, *, timeout: Timeout = None) -> Receipt:
        """Close an order as completed. Refuses a non-UUID order id."""
        return await self.update_status(order_id, state="completed", timeout=timeout)

    async def cancel(self, order_id: str | uuid.UUID, *, reason: str, timeout: Timeout = None) -> Receipt:
        """Cancel an order. Refuses a blank or oversized reason and a non-UUID order id."""
        return await self.update_status(order_id, state="cancelled", cancel_reason=reason, timeout=timeout)

    def track(
        self, order_id: str | uuid.UUID, *, status: str = "pending", state: str = "open", strict: bool = False
    ) -> OrderTracker:
        """An `OrderTracker` for one order, starting from its acknowledged status/state.

        Refuses (GettValidationError) a non-UUID order id and unknown status or state values.
        """
        from ..tracker import OrderTracker

        return OrderTracker(self, order_id, status=status, state=state, strict=strict)

    def stream(
        self,
        events: Iterable[OrderEvent | Mapping[str, Any]] | AsyncIterable[OrderEvent | Mapping[str, Any]],
        **options: Any,
    ) -> OrderStream:
        """Stream events in, outcomes out: an `OrderStream` (see `gett_async.stream`).

        Refuses (GettValidationError) ``concurrency`` < 1 and ``buffer`` < ``concurrency``; bad
        events are not raised but come out as ``refused`` outcomes.
        """
        from ..stream import stream_updates

        return stream_updates(self, events, **options)

    async def send_all(
        self,
        events: Iterable[OrderEvent | Mapping[str, Any]] | AsyncIterable[OrderEvent | Mapping[str, Any]],
        **options: Any,
    ) -> StreamSummary:
        """Stream every event and return the summary (counts per kind, the failures)."""
        from ..stream import send_all

        return await send_all(self, events, **options)
