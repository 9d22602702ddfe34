"""Enums of the Commerce API. Their values are the exact wire strings."""

from __future__ import annotations

from enum import Enum
from typing import Literal


class WireEnum(str, Enum):
    """A str enum whose ``str()`` is its wire value (``f"{OrderStatus.READY}"`` is ``ready``)."""

    def __str__(self) -> str:
        return str(self.value)


class OrderStatus(WireEnum):
    """Progress within an open order. ``PENDING`` is set by Gett and never sent."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    PREPARING = "preparing"
    READY = "ready"
    IN_TRANSIT = "inTransit"


class OrderState(WireEnum):
    """High-level order lifecycle: open, or closed as completed / cancelled."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class StoreStatusValue(WireEnum):
    """Whether a store accepts orders (there is no ``closed`` in this API)."""

    ONLINE = "online"
    PAUSED = "paused"


class PauseReason(WireEnum):
    """Why a store is paused."""

    OPERATIONAL_ISSUES = "operational_issues"
    STAFF_SHORTAGE = "staff_shortage"
    TOO_BUSY = "too_busy"
    MAINTENANCE = "maintenance"
    OTHER = "other"


class OnboardingStatus(WireEnum):
    """Position of an Order Booster onboarding in its pipeline."""

    PENDING_CATALOG = "pending_catalog"
    CATALOG_INGESTING = "catalog_ingesting"
    CATALOG_FAILED = "catalog_failed"
    READY_TO_ACTIVATE = "ready_to_activate"
    ACTIVE = "active"

    @property
    def is_terminal(self) -> bool:
        """True for ``active`` and ``catalog_failed``: polling further changes nothing."""
        return self in (OnboardingStatus.ACTIVE, OnboardingStatus.CATALOG_FAILED)


#: The progress statuses a partner may send, as plain strings (``pending`` is Gett's alone).
StatusValue = Literal["confirmed", "preparing", "ready", "inTransit"]
#: The closing states a partner may send, as plain strings.
StateValue = Literal["completed", "cancelled"]
#: Every open status, ``pending`` included (where a tracker may start), as plain strings.
OpenStatusValue = Literal["pending", "confirmed", "preparing", "ready", "inTransit"]
#: Every state, ``open`` included, as plain strings.
AnyStateValue = Literal["open", "completed", "cancelled"]
#: Every position of an order: its status while open, its state once closed.
PositionValue = Literal["pending", "confirmed", "preparing", "ready", "inTransit", "completed", "cancelled"]
