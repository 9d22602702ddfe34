"""Order Updates: push an order's progress or close it (one update at a time, on its own).

Checking an update against the order's history is the domain's job (`gett_async.orders`:
the tracker and the stream), which sends through `OrderUpdates.send_update`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from .._core.updates import Update, parse_update, update_request
from .._core.wire import NOT_GIVEN
from .._http.gate import INTERACTIVE, Priority
from ..models import OrderState, OrderStatus, OrderStatusUpdate
from ..models.enums import StateValue, StatusValue
from ._base import ExtraBody, ExtraHeaders, Receipt, Resource, Retries, Timeout


class OrderUpdates(Resource):
    """The Update Order Status endpoint."""

    __slots__ = ()

    async def update_status(
        self,
        order_id: str | uuid.UUID,
        *,
        status: OrderStatus | StatusValue | None = None,
        state: OrderState | StateValue | None = None,
        estimated_ready_at: datetime | None = None,
        cancel_reason: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Receipt:
        """Send one update: ``status`` for progress, ``state`` to close, or only a new ETA.

        This checks the update on its own, not against the order's history (use ``track``
        or ``stream`` for that). Refuses, before any I/O: a non-UUID order id; unknown
        status/state values; ``pending``; ``state="open"``; a status with a closing state;
        a naive ETA or one on a close; a cancel without a reason; a reason without a cancel;
        oversized text; an update that asks for nothing; extras that `Resource._send` refuses.
        """
        update = parse_update(
            order_id, status=status, state=state, estimated_ready_at=estimated_ready_at, cancel_reason=cancel_reason
        )
        return await self.send_update(
            update, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers, extra_body=extra_body
        )

    async def complete(
        self,
        order_id: str | uuid.UUID,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Receipt:
        """Close an order as completed. Refuses a non-UUID order id and bad extras."""
        return await self.update_status(
            order_id, state="completed", timeout=timeout, max_retries=max_retries, extra_headers=extra_headers,
            extra_body=extra_body,
        )

    async def cancel(
        self,
        order_id: str | uuid.UUID,
        *,
        reason: str,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Receipt:
        """Cancel an order. Refuses a blank or oversized reason, a non-UUID order id and bad extras."""
        return await self.update_status(
            order_id, state="cancelled", cancel_reason=reason, timeout=timeout, max_retries=max_retries,
            extra_headers=extra_headers, extra_body=extra_body,
        )

    async def send_update(
        self,
        update: Update,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        priority: Priority = INTERACTIVE,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Receipt:
        """Send an update that `parse_update` (and, for trackers, the lifecycle) accepted;
        streams send theirs with ``priority="batch"``. Traced as ``orders.update_status``,
        the one Gett operation every order update is. Refuses extras `Resource._send` refuses."""
        sent = await self._send(
            "orders.update_status", update_request(self._paths, update), timeout, max_retries, extra_headers,
            extra_body, model=OrderStatusUpdate, priority=priority,
        )
        return Receipt.of(sent)
