"""What the emulator holds and records: frozen snapshots, plus the mutable counters."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from .._core.lifecycle import CLOSED_STATES

#: Requests answered by closing the connection carry this instead of a status code.
DROPPED: Literal["dropped"] = "dropped"


@attrs.frozen(slots=True)
class RequestRecord:
    """One request the emulator received, and how it answered."""

    method: str
    path: str
    #: The ApiPaths field the route belongs to (e.g. ``order_status``), or ``unknown``.
    operation: str
    query: Mapping[str, str]
    #: The parsed JSON body; None when there was none or it was not JSON.
    body: Any
    status: int | Literal["dropped"]
    #: When it arrived, by the emulator's clock.
    time: float
    #: The injected fault, if any (``error_500`` ... ``drop_after``; latency is not listed).
    fault: str | None = None


@attrs.frozen(slots=True)
class OrderUpdate:
    """One applied order update (an idempotent repeat is not one)."""

    position: str
    estimated_ready_at: datetime | None
    cancel_reason: str | None
    time: float


@attrs.frozen(slots=True)
class EmulatedOrder:
    """An order as the emulator knows it. ``position`` is the status while open, else the state."""

    order_id: str
    position: str
    created_at: float
    #: The last open status, kept after the order closes.
    status: str
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None
    history: tuple[OrderUpdate, ...] = ()

    @property
    def state(self) -> str:
        """``open``, ``completed`` or ``cancelled``."""
        return self.position if self.position in CLOSED_STATES else "open"


@attrs.frozen(slots=True)
class EmulatedStore:
    """A store; ``extra`` holds further camelCase members (e.g. ``deliveryAllowed``)."""

    store_id: str
    name: str | None = None
    address: Mapping[str, Any] | None = None
    phone: str | None = None
    timezone: str | None = None
    logo_url: str | None = None
    description: str | None = None
    status: str = "online"
    reason: str | None = None
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class EmulatedOnboarding:
    """An Order Booster onboarding; ``status`` is as of the last time the emulator looked."""

    onboarding_id: str
    partner_store_id: str
    name: str
    catalog_callback_url: str
    webhook_url: str
    created_at: float
    status: str = "pending_catalog"
    store_id: str | None = None
    error: str | None = None
    #: Steps taken by ``advance_onboarding`` (wall-clock steps are added on top).
    manual_steps: int = 0
    #: Further camelCase store details sent at registration (phone, address, ...).
    details: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(slots=True)
class CatalogNotification:
    """One accepted Notify Catalog Update."""

    store_id: str
    callback_url: str
    time: float


@attrs.define(slots=True)
class EmulatorStats:
    """Counters since start (or the last ``reset_records``)."""

    requests: int = 0
    #: Injected faults by kind: error_500, error_502, error_503, error_429, drop_before,
    #: drop_after, latency.
    faults: dict[str, int] = attrs.field(factory=dict)
    #: Order updates applied (each is one history entry).
    applied_updates: int = 0
    #: Order updates refused with 409 ORDER_TRANSITION_NOT_ALLOWED.
    illegal_transitions: int = 0
    #: Exact repeats of an order's current position, answered 204 and not applied again.
    idempotent_repeats: int = 0
    #: 429s sent because a real budget ran out (injected 429s are counted in ``faults``).
    rate_limited: int = 0
    unauthenticated: int = 0
    validation_failures: int = 0

    def reset(self) -> None:
        """Zero every counter (the object stays the same, so references to it stay valid)."""
        for field in attrs.fields(EmulatorStats):
            if field.name != "faults":
                setattr(self, field.name, 0)
        self.faults.clear()

    @property
    def faults_injected(self) -> int:
        """All injected faults except latency."""
        return sum(n for kind, n in self.faults.items() if kind != "latency")
