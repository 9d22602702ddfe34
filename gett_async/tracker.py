"""`OrderTracker`: one order's acknowledged lifecycle, turned into validated POSTs.

The tracker holds what Gett has acknowledged, never what was merely asked: a move is
checked against the lifecycle table first (an illegal one raises and sends nothing), and
the state advances only after a 2xx. Calls on one tracker run one at a time, in call
order, so a later call is always checked against the real outcome of the earlier ones.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import attrs

from . import _serde, _validate, lifecycle
from ._session import ApiRequest
from .errors import GettValidationError
from .resources._base import Receipt, Timeout
from .resources.orders import plain_body, status_update_request

if TYPE_CHECKING:
    from .client import GettClient
    from .resources.orders import Orders

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

    __slots__ = ("_eta", "_history", "_lock", "_order_id", "_orders", "_path", "_position", "_status", "strict")

    def __init__(
        self,
        orders: Orders,
        order_id: str | uuid.UUID,
        *,
        status: str = "pending",
        state: str = "open",
        strict: bool = False,
        estimated_ready_at: datetime | None = None,
        history: Iterable[HistoryEntry] = (),
    ) -> None:
        self._orders = orders
        self._order_id = _validate.uuid_id("order_id", order_id)
        status_value = _position_value("status", status, lifecycle.OPEN_STATUSES)
        state_value = _position_value("state", state, ("open", *lifecycle.CLOSED_STATES))
        self._status = status_value
        self._position = status_value if state_value == "open" else state_value
        self._eta = None if estimated_ready_at is None else _validate.aware("estimated_ready_at", estimated_ready_at)
        self.strict = strict
        # (position, unix time, eta, reason): HistoryEntry objects are built only when read. A
        # list, not a deque(maxlen): an empty deque costs 760 bytes, and a stream holds a
        # tracker for every order it has events queued for.
        self._history: list[tuple[str, float, datetime | None, str | None]] = [
            (e.position, e.at.timestamp(), e.estimated_ready_at, e.cancel_reason)
            for e in tuple(history)[-HISTORY_LIMIT:]
        ]
        self._path: str | None = None
        self._lock: asyncio.Lock | None = None  # made on first use: streams never need it

    @classmethod
    def resume(
        cls, orders: Orders, order_id: str, status: str, estimated_ready_at: datetime | None, strict: bool
    ) -> OrderTracker:
        """An open tracker from values this package validated before (no checks, no history)."""
        tracker = cls.__new__(cls)
        tracker._orders = orders
        tracker._order_id = order_id
        tracker._status = tracker._position = status
        tracker._eta = estimated_ready_at
        tracker.strict = strict
        tracker._history = []
        tracker._path = None
        tracker._lock = None
        return tracker

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
        return tuple(
            HistoryEntry(position, datetime.fromtimestamp(at, timezone.utc), eta, reason)
            for position, at, eta, reason in self._history
        )

    def allowed_next(self) -> tuple[str, ...]:
        """Positions one update can reach from here (respecting ``strict``)."""
        return lifecycle.allowed_next(self._position, strict=self.strict)

    def can(self, target: str, *, estimated_ready_at: datetime | None = None, cancel_reason: str | None = None) -> bool:
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
        self, status: str, *, estimated_ready_at: datetime | None = None, timeout: Timeout = None
    ) -> Receipt:
        """Move to a later progress status (or restate the current one with a new ETA).

        Refuses (IllegalTransitionError, nothing sent): a backward move, ``pending``, a skip when
        strict, anything after a close, the current status without a new ETA; a naive ETA
        (GettValidationError).
        """
        return await self._move(str(status), estimated_ready_at, None, timeout)

    async def complete(self, *, timeout: Timeout = None) -> Receipt:
        """Close as completed. Refuses (nothing sent) unless the order is ``ready`` or ``inTransit``."""
        return await self._move("completed", None, None, timeout)

    async def cancel(self, reason: str, *, timeout: Timeout = None) -> Receipt:
        """Close as cancelled, from any open status. Refuses a blank or oversized reason and a closed order."""
        return await self._move("cancelled", None, reason, timeout)

    async def update_eta(self, when: datetime, *, timeout: Timeout = None) -> Receipt:
        """Send a new estimated ready time for the current status.

        Refuses while ``pending`` or closed, the same ETA again, and a naive datetime.
        """
        return await self._move(None, when, None, timeout)

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

    async def _move(self, target: str | None, eta: datetime | None, reason: str | None, timeout: Timeout) -> Receipt:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # one call at a time, in call order, against the real state
            request = self.prepare(target, estimated_ready_at=eta, cancel_reason=reason)
            receipt = Receipt.of(await self._orders._send(request, timeout))
            self.acknowledge(target, eta, reason)
            return receipt

    # -- the two halves of a move, also used by the stream ---------------------------------

    def prepare(
        self, target: str | None, *, estimated_ready_at: datetime | None = None, cancel_reason: str | None = None
    ) -> ApiRequest:
        """Check a move against the acknowledged state and build its request (no I/O).

        ``target`` None means an ETA change at the current status. Raises
        IllegalTransitionError / GettValidationError for anything that must not be sent.
        """
        if target is None:
            if estimated_ready_at is None:
                raise GettValidationError("estimated_ready_at", "an ETA update needs a time")
            target = self._position
        eta_changed = estimated_ready_at is not None and estimated_ready_at != self._eta
        lifecycle.check(
            self._position, target, strict=self.strict, eta_changed=eta_changed, cancel_reason=cancel_reason
        )
        if estimated_ready_at is None and cancel_reason is None:
            # The id was validated when the tracker was made: reuse its path and the cached body.
            if self._path is None:
                self._path = self._orders._paths.order_status.replace("{order_id}", self._order_id)
            return ApiRequest(
                "POST", self._path, self._orders._paths.order_status, plain_body(target), reads_body=False
            )
        if lifecycle.is_closed(target):
            return status_update_request(self._orders._paths, self._order_id, state=target, cancel_reason=cancel_reason)
        return status_update_request(
            self._orders._paths, self._order_id, status=target, estimated_ready_at=estimated_ready_at
        )

    def acknowledge(self, target: str | None, estimated_ready_at: datetime | None, cancel_reason: str | None) -> None:
        """Record a move Gett answered 2xx for (call only after `prepare` and a success)."""
        target = self._position if target is None else target
        if not lifecycle.is_closed(target):
            self._status = target
            if estimated_ready_at is not None:
                self._eta = estimated_ready_at
        self._position = target
        history = self._history
        history.append((target, time.time(), estimated_ready_at, cancel_reason))
        if len(history) > HISTORY_LIMIT:
            del history[0]

    # -- persistence ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """A plain JSON-able dict that `restore` turns back into an equal tracker."""
        return {
            "orderId": self._order_id,
            "status": self._status,
            "state": self.state,
            "strict": self.strict,
            "estimatedReadyAt": _exact(self._eta),
            "history": [_history_item(entry) for entry in self.history],
        }

    @classmethod
    def restore(cls, client: GettClient | Orders, snapshot: Mapping[str, Any]) -> OrderTracker:
        """Rebuild a tracker from `snapshot` output. Refuses a malformed snapshot."""
        orders: Orders = client.orders if hasattr(client, "orders") else client
        if not isinstance(snapshot, Mapping) or "orderId" not in snapshot:
            raise GettValidationError("snapshot", "must be a mapping made by OrderTracker.snapshot()")
        try:
            eta = snapshot.get("estimatedReadyAt")
            history = tuple(_serde.converter.structure(e, HistoryEntry) for e in snapshot.get("history") or ())
            return cls(
                orders,
                snapshot["orderId"],
                status=snapshot.get("status", "pending"),
                state=snapshot.get("state", "open"),
                strict=_flag(snapshot.get("strict", False)),
                estimated_ready_at=None if eta is None else _serde.parse_datetime(eta),
                history=history,
            )
        except GettValidationError:
            raise
        except Exception as exc:
            raise GettValidationError("snapshot", f"cannot be restored: {exc}") from None


def _exact(value: datetime | None) -> str | None:
    # Full precision: the wire format keeps milliseconds only, and a restored tracker must be
    # equal (a truncated ETA would later count as "changed" and cost a needless write).
    return None if value is None else value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _history_item(entry: HistoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"position": entry.position, "at": _exact(entry.at)}
    if entry.estimated_ready_at is not None:
        item["estimatedReadyAt"] = _exact(entry.estimated_ready_at)
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
