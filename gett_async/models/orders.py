"""Order update models."""

from __future__ import annotations

from datetime import datetime

import attrs

from .enums import OrderState, OrderStatus


@attrs.frozen(slots=True)
class OrderStatusUpdate:
    """Body of ``POST /v1/commerce/orders/{orderId}/status``; unset fields are omitted."""

    status: OrderStatus | None = None
    state: OrderState | None = None
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None
