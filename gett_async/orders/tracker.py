"""`OrderTracker`: one order's acknowledged lifecycle, turned into validated POSTs.

The tracker holds what Gett has acknowledged, never what was merely asked: a move is
checked against the lifecycle table first (an illegal one raises and sends nothing), and
the state advances only after a 2xx. Calls on one tracker run one at a time, in call
order, so a later call is always checked against the real outcome of the earlier ones.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any, Protocol

import attrs

from .._core import lifecycle, serde, validate
from .._core.updates import Update, parse_update
from .._core.wire import NOT_GIVEN
from .._http.gate import INTERACTIVE, Priority
from ..errors import GettValidationError
from ..models import OrderStatus
from ..models.enums import StatusValue
from ..resources._base import Receipt, Retries, Timeout


class UpdateSender(Protocol):
    """What a tracker (and a stream) needs to send: ``gett.orders`` is one."""

    async def send_update(
        self,
        update: Update,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        priority: Priority = INTERACTIVE,
    ) -> Receipt:
        """Send an update the lifecycle accepted; raise GettError if Gett did not take it."""


class HasOrders(Protocol):
    """A client: something with an ``orders`` sender."""

    @property
    def orders(self) -> UpdateSender: ...

#: How many acknowledged updates a tracker remembers (ETA changes can repeat without end).
HISTORY_LIMIT = 64


@attrs.frozen(slots=True)
class HistoryEntry:
    """An update Gett acknowledged: the position reached, its ETA or reason, and when."""

    position: str
    at: datetime
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None


class OrderTracker:
    """One order's lifecycle. Create it with ``gett.orders.track(order_id)``.

    Refuses (IllegalTransitionError, before any I/O) every move the lifecycle table
    forbids; see `gett_async.lifecycle`.
    """

    __slots__ = ("_eta", "_history", "_lock", "_order_id", "_position", "_sender", "_status", "strict")

    def __init__(
        self,
        sender: UpdateSender,
        order_id: str | uuid.UUID,
        *,
        status: str = "pending",
        state: str = "open",
        strict: bool = False,
        estimated_ready_at: datetime | None = None,
        history: Iterable[HistoryEntry] = (),
    ) -> None:
        self._sender = sender
        self._order_id = validate.uuid_id("order_id", order_id)
        status_value = _position_value("status", status, lifecycle.OPEN_STATUSES)
        state_value = _position_value("state", state, ("open", *lifecycle.CLOSED_STATES))
        self._status = status_value
        self._position = status_value if state_value == "open" else state_value
        self._eta = None if estimated_ready_at is None else validate.aware("estimated_ready_at", estimated_ready_at)
        self.strict = strict
        self._history: collections.deque[HistoryEntry] = collections.deque(history, maxlen=HISTORY_LIMIT)
        self._lock = asyncio.Lock()

    # -- what Gett has acknowledged ------------------------------------------------------

    @property
    def order_id(self) -> str:
        return self._order_id

    @property
    def status(self) -> str:
        """The last acknowledged progress status (kept after the order closes)."""
        return self._status

    @property
    def state(self) -> str:
        """``open``, ``completed`` or ``cancelled``."""
        return self._position if lifecycle.is_closed(self._position) else "open"

    @property
    def position(self) -> str:
        """The status while open, the state once closed."""
        return self._position

    @property
    def is_closed(self) -> bool:
        return lifecycle.is_closed(self._position)

    @property
    def estimated_ready_at(self) -> datetime | None:
        return self._eta

    @property
    def history(self) -> tuple[HistoryEntry, ...]:
        """Acknowledged updates, oldest first (the last `HISTORY_LIMIT`)."""
        return tuple(self._history)

    def allowed_next(self) -> tuple[str, ...]:
        """Positions one update can reach from here (respecting ``strict``)."""
        return lifecycle.allowed_next(self._position, strict=self.strict)

    def can(
        self, target: str, *, estimated_ready_at: datetime | None = None, cancel_reason: str | None = None
    ) -> bool:
        """True when `advance`/`complete`/`cancel` to ``target`` would be sent."""
        try:
            self.prepare(target, estimated_ready_at=estimated_ready_at, cancel_reason=cancel_reason)
        except GettValidationError:
            return False
        return True

    def __repr__(self) -> str:
        return f"OrderTracker(order_id={self._order_id!r}, position={self._position!r}, strict={self.strict})"

    # -- moves ---------------------------------------------------------------------------

    async def advance(
        self,
        status: OrderStatus | StatusValue,
        *,
        estimated_ready_at: datetime | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
    ) -> Receipt:
        """Move to a later progress status (or restate the current one with a new ETA).

        Refuses (IllegalTransitionError, nothing sent): a backward move, ``pending``, a skip when
        strict, anything after a close, the current status without a new ETA; a naive ETA
        (GettValidationError).
        """
        return await self._move(str(status), estimated_ready_at, None, timeout, max_retries)

    async def complete(self, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN) -> Receipt:
        """Close as completed. Refuses (nothing sent) unless the order is ``ready`` or ``inTransit``."""
        return await self._move("completed", None, None, timeout, max_retries)

    async def cancel(self, reason: str, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN) -> Receipt:
        """Close as cancelled, from any open status. Refuses a blank or oversized reason and a closed order."""
        return await self._move("cancelled", None, reason, timeout, max_retries)

    async def update_eta(
        self, when: datetime, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN
    ) -> Receipt:
        """Send a new estimated ready time for the current status.

        Refuses while ``pending`` or closed, the same ETA again, and a naive datetime.
        """
        return await self._move(None, when, None, timeout, max_retries)

    async def confirm(self, *, estimated_ready_at: datetime | None = None) -> Receipt:
        """``advance("confirmed")``; refuses what `advance` refuses."""
        return await self.advance("confirmed", estimated_ready_at=estimated_ready_at)

    async def start_preparing(self, *, estimated_ready_at: datetime | None = None) -> Receipt:
        """``advance("preparing")``; refuses what `advance` refuses."""
        return await self.advance("preparing", estimated_ready_at=estimated_ready_at)

    async def mark_ready(self) -> Receipt:
        """``advance("ready")``; refuses what `advance` refuses."""
        return await self.advance("ready")

    async def dispatch(self, *, estimated_ready_at: datetime | None = None) -> Receipt:
        """``advance("inTransit")``; refuses what `advance` refuses."""
        return await self.advance("inTransit", estimated_ready_at=estimated_ready_at)

    async def _move(
        self, target: str | None, eta: datetime | None, reason: str | None, timeout: Timeout, max_retries: Retries
    ) -> Receipt:
        async with self._lock:  # one call at a time, in call order, against the real state
            update = self.prepare(target, estimated_ready_at=eta, cancel_reason=reason)
            receipt = await self._sender.send_update(update, timeout=timeout, max_retries=max_retries)
            self.acknowledge(update)
            return receipt

    # -- the two halves of a move, also used by the stream ---------------------------------

    def prepare(
        self, target: str | None, *, estimated_ready_at: object = None, cancel_reason: object = None
    ) -> Update:
        """Check a move against the acknowledged state and return the update to send (no I/O).

        ``target`` is a position (a status, ``completed`` or ``cancelled``), or None for an ETA
        change at the current status. Raises IllegalTransitionError / GettValidationError for
        anything that must not be sent (see `parse_update` and `lifecycle.check`).
        """
        eta_changed = estimated_ready_at is not None and estimated_ready_at != self._eta
        lifecycle.check(self._position, target or self._position, strict=self.strict, eta_changed=eta_changed)
        closing = target is not None and lifecycle.is_closed(target)
        update = parse_update(
            self._order_id,
            status=None if closing else target or self._position,
            state=target if closing else None,
            estimated_ready_at=estimated_ready_at,
            cancel_reason=cancel_reason,
        )
        return update

    def check(self, update: Update) -> Update:
        """``update`` (already valid on its own) checked against the acknowledged state; an
        ETA-only update becomes a restatement of the current status. Raises IllegalTransitionError."""
        target = self._position if update.target is None else update.target
        eta_changed = update.estimated_ready_at is not None and update.estimated_ready_at != self._eta
        lifecycle.check(self._position, target, strict=self.strict, eta_changed=eta_changed)
        return update if update.target is not None else attrs.evolve(update, target=target)

    def acknowledge(self, update: Update) -> None:
        """Record an update Gett answered 2xx for (call only after `prepare`/`check` and a success)."""
        target = self._position if update.target is None else update.target
        if not lifecycle.is_closed(target):
            self._status = target
            if update.estimated_ready_at is not None:
                self._eta = update.estimated_ready_at
        self._position = target
        self._history.append(
            HistoryEntry(target, datetime.now(timezone.utc), update.estimated_ready_at, update.cancel_reason)
        )

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A plain JSON-able dict that `restore` turns back into an equal tracker."""
        return {
            "orderId": self._order_id,
            "status": self._status,
            "state": self.state,
            "strict": self.strict,
            "estimatedReadyAt": exact_time(self._eta),
            "history": [_history_item(entry) for entry in self.history],
        }

    @classmethod
    def restore(cls, client: HasOrders | UpdateSender, snapshot: Mapping[str, Any]) -> OrderTracker:
        """Rebuild a tracker from `snapshot` output (``client`` is a GettClient or its
        ``orders``). Refuses a malformed snapshot."""
        sender: UpdateSender = client.orders if hasattr(client, "orders") else client
        if not isinstance(snapshot, Mapping) or "orderId" not in snapshot:
            raise GettValidationError("snapshot", "must be a mapping made by OrderTracker.snapshot()")
        try:
            eta = snapshot.get("estimatedReadyAt")
            history = tuple(serde.converter.structure(e, HistoryEntry) for e in snapshot.get("history") or ())
            return cls(
                sender,
                snapshot["orderId"],
                status=snapshot.get("status", "pending"),
                state=snapshot.get("state", "open"),
                strict=_flag(snapshot.get("strict", False)),
                estimated_ready_at=None if eta is None else serde.parse_datetime(eta),
                history=history,
            )
        except GettValidationError:
            raise
        except Exception as exc:
            raise GettValidationError("snapshot", f"cannot be restored: {exc}") from None


def exact_time(value: datetime | None) -> str | None:
    # Full precision: the wire format keeps milliseconds only, and a restored tracker must be
    # equal (a truncated ETA would later count as "changed" and cost a needless write).
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"position": entry.position, "at": exact_time(entry.at)}
    if entry.estimated_ready_at is not None:
        item["estimatedReadyAt"] = exact_time(entry.estimated_ready_at)
    if entry.cancel_reason is not None:
        item["cancelReason"] = entry.cancel_reason
    return item


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise GettValidationError("snapshot", f"strict must be true or false, got {value!r}")
    return value


def _position_value(field: str, value: object, allowed: tuple[str, ...]) -> str:
    text = getattr(value, "value", value)
    if text not in allowed:
        raise GettValidationError(field, f"unknown value {text!r}; expected one of: {', '.join(allowed)}")
    return str(text)
