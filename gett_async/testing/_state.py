"""The emulator's in-memory world: stores, orders and onboardings, and the rules that move them.

Every method takes the current time from the caller, so the emulator's injectable clock
drives onboarding progress and auto-resume without any background task.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from .._core import lifecycle
from .._core.serde import format_datetime
from ..errors import GettValidationError, IllegalTransitionError
from ._problems import ApiProblem, conflict, not_found
from ._records import (
    CatalogNotification,
    EmulatedOnboarding,
    EmulatedOrder,
    EmulatedStore,
    EmulatorStats,
    OrderUpdate,
)

_PIPELINE = ("pending_catalog", "catalog_ingesting", "ready_to_activate")
_FAILING_PIPELINE = ("pending_catalog", "catalog_ingesting", "catalog_failed")

#: Store fields carried on EmulatedStore itself; other details go to ``extra``.
_STORE_FIELDS = {
    "name": "name",
    "address": "address",
    "phone": "phone",
    "timezone": "timezone",
    "logoUrl": "logo_url",
    "description": "description",
}


@attrs.frozen(slots=True)
class OrderUpdateRequest:
    """A validated Update Order Status body."""

    order_id: str
    status: str | None
    state: str | None
    estimated_ready_at: datetime | None
    cancel_reason: str | None


def new_id() -> str:
    """A fresh lowercase uuid4 string."""
    return str(uuid.uuid4())


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}


class World:
    """Stores, orders and onboardings, and the transitions between their states."""

    def __init__(
        self,
        stats: EmulatorStats,
        *,
        auto_create_orders: bool = False,
        onboarding_step_seconds: float | None = None,
    ) -> None:
        self.stats = stats
        self.auto_create_orders = auto_create_orders
        self.onboarding_step_seconds = onboarding_step_seconds
        self.orders: dict[str, EmulatedOrder] = {}
        self.stores: dict[str, EmulatedStore] = {}
        self.onboardings: dict[str, EmulatedOnboarding] = {}
        self.catalog_notifications: list[CatalogNotification] = []

    # -- orders ---------------------------------------------------------------------------

    def create_order(self, order_id: str, position: str, now: float, estimated_ready_at: datetime | None) -> str:
        """Place an order as Gett would (no history: creation is not a partner update)."""
        if position not in lifecycle.POSITIONS:
            raise ValueError(f"unknown order position {position!r}; expected one of {lifecycle.POSITIONS}")
        status = position if position in lifecycle.OPEN_STATUSES else "pending"
        self.orders[order_id] = EmulatedOrder(
            order_id=order_id,
            position=position,
            created_at=now,
            status=status,
            estimated_ready_at=estimated_ready_at,
        )
        return order_id

    def cancel_unplaced(self, order_id: str, reason: str) -> None:
        """Cancel, as Gett would, an order the partner never accepted (not a partner update: no history)."""
        order = self.orders[order_id]
        self.orders[order_id] = attrs.evolve(order, position="cancelled", cancel_reason=reason)

    def update_order(self, update: OrderUpdateRequest, now: float) -> None:
        """Apply one order update, or recognise an exact repeat, or refuse with 404/409."""
        order = self.orders.get(update.order_id)
        if order is None:
            if not self.auto_create_orders:
                raise not_found(f"No order {update.order_id} exists.")
            self.create_order(update.order_id, "pending", now, None)
            order = self.orders[update.order_id]
        target = lifecycle.target_of(update.status, update.state) or order.position
        if target == order.position and (
            target in lifecycle.CLOSED_STATES or update.estimated_ready_at == order.estimated_ready_at
        ):
            # A retry of an update that was applied but whose answer was lost: succeed again
            # without moving, so the client's retry is harmless.
            self.stats.idempotent_repeats += 1
            return
        try:
            lifecycle.check(
                order.position,
                target,
                strict=False,
                eta_changed=(
                    update.estimated_ready_at is not None and update.estimated_ready_at != order.estimated_ready_at
                ),
            )
        except IllegalTransitionError as exc:
            self.stats.illegal_transitions += 1
            raise ApiProblem(
                409,
                "ORDER_TRANSITION_NOT_ALLOWED",
                "conflict",
                exc.reason[:1].upper() + exc.reason[1:] + ".",
                extra={"currentPosition": order.position, "allowedNext": list(exc.allowed)},
            ) from None
        except GettValidationError as exc:  # the route checks make this unreachable
            raise ApiProblem(422, "VALIDATION_FAILED", "validation", str(exc)) from None
        closed = target in lifecycle.CLOSED_STATES
        entry = OrderUpdate(
            position=target,
            estimated_ready_at=update.estimated_ready_at,
            cancel_reason=update.cancel_reason,
            time=now,
        )
        self.orders[order.order_id] = attrs.evolve(
            order,
            position=target,
            status=order.status if closed else target,
            # Kept exactly as last sent, so that a verbatim retry matches as a repeat.
            estimated_ready_at=order.estimated_ready_at if closed else update.estimated_ready_at,
            cancel_reason=update.cancel_reason,
            history=(*order.history, entry),
        )
        self.stats.applied_updates += 1

    # -- stores ---------------------------------------------------------------------------

    def add_store(self, store: EmulatedStore) -> str:
        """Insert or replace a store."""
        self.stores[store.store_id] = store
        return store.store_id

    def store(self, store_id: str, now: float) -> EmulatedStore:
        """The store, auto-resumed if its ``resumeAt`` has passed; 404 if unknown."""
        store = self.stores.get(store_id)
        if store is None:
            raise not_found(f"No store {store_id} exists.")
        if store.status == "paused" and store.resume_at is not None and store.resume_at <= _utc(now):
            store = attrs.evolve(store, status="online", reason=None, paused_at=None, resume_at=None)
            self.stores[store_id] = store
        return store

    def all_stores(self, now: float) -> list[EmulatedStore]:
        """Every store, in insertion order, each brought up to date."""
        return [self.store(store_id, now) for store_id in list(self.stores)]

    def update_store(self, store_id: str, changes: Mapping[str, Any], now: float) -> EmulatedStore:
        """Merge the given fields (PUT semantics are undocumented; merging loses nothing)."""
        store = self.store(store_id, now)
        store = attrs.evolve(store, **{_STORE_FIELDS[key]: value for key, value in changes.items()})
        self.stores[store_id] = store
        return store

    def set_store_status(
        self, store_id: str, status: str, reason: str | None, resume_at: datetime | None, now: float
    ) -> EmulatedStore:
        """Pause (keeping the first ``pausedAt`` of a running pause) or resume a store."""
        store = self.store(store_id, now)
        if status == "online":
            store = attrs.evolve(store, status="online", reason=None, paused_at=None, resume_at=None)
        else:
            paused_at = store.paused_at if store.status == "paused" else _utc(now)
            store = attrs.evolve(store, status="paused", reason=reason, paused_at=paused_at, resume_at=resume_at)
        self.stores[store_id] = store
        return store

    # -- onboarding -----------------------------------------------------------------------

    def register(self, fields: Mapping[str, Any], now: float) -> EmulatedOnboarding:
        """Start an onboarding at ``pending_catalog``."""
        known = ("partnerStoreId", "name", "catalogCallbackUrl", "webhookUrl")
        onboarding = EmulatedOnboarding(
            onboarding_id=new_id(),
            partner_store_id=fields["partnerStoreId"],
            name=fields["name"],
            catalog_callback_url=fields["catalogCallbackUrl"],
            webhook_url=fields["webhookUrl"],
            created_at=now,
            details={key: value for key, value in fields.items() if key not in known},
        )
        self.onboardings[onboarding.onboarding_id] = onboarding
        return onboarding

    def onboarding(self, onboarding_id: str, now: float) -> EmulatedOnboarding:
        """The onboarding with its pipeline position brought up to ``now``; 404 if unknown."""
        onboarding = self.onboardings.get(onboarding_id)
        if onboarding is None:
            raise not_found(f"No onboarding {onboarding_id} exists.")
        if onboarding.status == "active":
            return onboarding
        steps = onboarding.manual_steps
        if self.onboarding_step_seconds:
            steps += max(0, int((now - onboarding.created_at) // self.onboarding_step_seconds))
        failing = "fail" in onboarding.catalog_callback_url.lower()
        pipeline = _FAILING_PIPELINE if failing else _PIPELINE
        status = pipeline[min(steps, len(pipeline) - 1)]
        if status != onboarding.status:
            error = None
            if status == "catalog_failed":
                error = (
                    f"Catalog validation failed: the CatalogSet at {onboarding.catalog_callback_url} "
                    "has dangling references (emulated)."
                )
            onboarding = attrs.evolve(onboarding, status=status, error=error)
            self.onboardings[onboarding_id] = onboarding
        return onboarding

    def advance_onboarding(self, onboarding_id: str | None, steps: int, now: float) -> None:
        """Move one (or every) onboarding ``steps`` stages along its pipeline."""
        ids = [onboarding_id] if onboarding_id is not None else list(self.onboardings)
        for each in ids:
            onboarding = self.onboarding(each, now)
            if onboarding.status != "active":
                self.onboardings[each] = attrs.evolve(onboarding, manual_steps=onboarding.manual_steps + steps)
                self.onboarding(each, now)

    def activate(self, onboarding_id: str, now: float) -> EmulatedOnboarding:
        """Create the store of a ``ready_to_activate`` onboarding; 409 from any other status."""
        onboarding = self.onboarding(onboarding_id, now)
        if onboarding.status != "ready_to_activate":
            raise conflict(
                f"Only an onboarding in ready_to_activate can be activated; this one is {onboarding.status}.",
                currentStatus=onboarding.status,
            )
        details = dict(onboarding.details)
        own = {_STORE_FIELDS[key]: details.pop(key) for key in list(details) if key in _STORE_FIELDS}
        own["name"] = onboarding.name
        store_id = self.add_store(EmulatedStore(store_id=new_id(), extra=details, **own))
        onboarding = attrs.evolve(onboarding, status="active", store_id=store_id)
        self.onboardings[onboarding_id] = onboarding
        return onboarding

    def cancel(self, onboarding_id: str, now: float) -> None:
        """Forget an onboarding that has not gone live; 409 once it is active."""
        onboarding = self.onboarding(onboarding_id, now)
        if onboarding.status == "active":
            raise conflict("An active store's onboarding cannot be cancelled.", currentStatus=onboarding.status)
        del self.onboardings[onboarding_id]


# -- wire shapes ----------------------------------------------------------------------------


def store_json(store: EmulatedStore) -> dict[str, Any]:
    """A Store as Gett sends it (camelCase, unset members omitted)."""
    body = _drop_none(
        {
            "storeId": store.store_id,
            "name": store.name,
            "address": dict(store.address) if store.address is not None else None,
            "phone": store.phone,
            "timezone": store.timezone,
            "logoUrl": store.logo_url,
            "description": store.description,
            "status": store.status,
        }
    )
    return {**store.extra, **body}


def store_status_json(store: EmulatedStore) -> dict[str, Any]:
    """A StoreStatus: ``reason``/``pausedAt``/``resumeAt`` only while paused."""
    return _drop_none(
        {
            "status": store.status,
            "reason": store.reason,
            "pausedAt": format_datetime(store.paused_at) if store.paused_at else None,
            "resumeAt": format_datetime(store.resume_at) if store.resume_at else None,
        }
    )


def onboarding_json(onboarding: EmulatedOnboarding) -> dict[str, Any]:
    """The onboarding object of Register Store / Get Onboarding Status / Activate Store."""
    return _drop_none(
        {
            "onboardingId": onboarding.onboarding_id,
            "partnerStoreId": onboarding.partner_store_id,
            "status": onboarding.status,
            "storeId": onboarding.store_id,
            "error": onboarding.error,
            "createdAt": format_datetime(_utc(onboarding.created_at)),
        }
    )
