"""Enums of the Commerce API. Their values are the exact wire strings."""

from __future__ import annotations

from enum import Enum


class OrderStatus(str, Enum):
    """Progress within an open order. ``PENDING`` is set by Gett and never sent."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    PREPARING = "preparing"
    READY = "ready"
    IN_TRANSIT = "inTransit"

    def __str__(self) -> str:
        return self.value


class OrderState(str, Enum):
    """High-level order lifecycle: open, or closed as completed / cancelled."""

    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class StoreStatusValue(str, Enum):
    """Whether a store accepts orders (there is no ``closed`` in this API)."""

    ONLINE = "online"
    PAUSED = "paused"

    def __str__(self) -> str:
        return self.value


class PauseReason(str, Enum):
    """Why a store is paused."""

    OPERATIONAL_ISSUES = "operational_issues"
    STAFF_SHORTAGE = "staff_shortage"
    TOO_BUSY = "too_busy"
    MAINTENANCE = "maintenance"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


class OnboardingStatus(str, Enum):
    """Position of an Order Booster onboarding in its pipeline."""

    PENDING_CATALOG = "pending_catalog"
    CATALOG_INGESTING = "catalog_ingesting"
    CATALOG_FAILED = "catalog_failed"
    READY_TO_ACTIVATE = "ready_to_activate"
    ACTIVE = "active"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """True for ``active`` and ``catalog_failed``: polling further changes nothing."""
        return self in (OnboardingStatus.ACTIVE, OnboardingStatus.CATALOG_FAILED)
