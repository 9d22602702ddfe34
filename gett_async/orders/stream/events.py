"""What goes into a stream: the events a caller passes, and how one is read (no I/O)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, Union

import attrs

from ..._core.updates import WIRE_FIELDS, Update, parse_update
from ...errors import GettError, GettValidationError


@attrs.frozen(slots=True)
class OrderEvent:
    """One wanted update of one order: a ``status`` to progress to, a ``state`` to close
    with (``cancel_reason`` for a cancel), or only a new ``estimated_ready_at``.

    ``key`` names the event for its outcome and for a checkpoint (an event id, a line number,
    a queue offset): unique within an input. Without one, the event's position in the input
    is its key, which names the same event again only if the input is replayed identically.
    """

    order_id: str
    status: str | None = None
    state: str | None = None
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None
    key: str | int | None = None


#: What a stream accepts as one event: an `OrderEvent`, or a mapping with the wire keys.
EventLike = Union[OrderEvent, Mapping[str, Any]]  # noqa: UP007 (a runtime alias; Python 3.10 has no `type`)

# The caller's event type: outcomes carry the very object that was passed in, typed as such.
# The default (PEP 696, known to the type checker only: typing.TypeVar takes it from 3.13 on)
# keeps a bare ``UpdateOutcome`` or ``OrderStream`` annotation valid under mypy --strict.
if TYPE_CHECKING:
    from typing_extensions import TypeVar as _TypeVar

    E = _TypeVar("E", bound=EventLike, default=EventLike)
    E_co = _TypeVar("E_co", bound=EventLike, covariant=True, default=EventLike)
else:
    E = TypeVar("E", bound=EventLike)
    E_co = TypeVar("E_co", bound=EventLike, covariant=True)

#: The input of a stream: a plain or an async iterable of events.
Events = Union[Iterable[E], AsyncIterable[E]]  # noqa: UP007

#: The wire-form keys a mapping event may carry (parsed JSON lines use these).
WIRE_KEYS = frozenset({"orderId", "status", "state", "estimatedReadyAt", "cancelReason"})


class EventSourceError(GettError):
    """The events iterable raised: every event it gave before has its outcome; ``error`` is
    what it raised and ``events`` how many it gave."""

    def __init__(self, error: BaseException, events: int) -> None:
        self.error = error
        self.events = events
        super().__init__(f"the event source raised {type(error).__name__}: {error} after {events} events")


#: What names an event: its own key, or (None) its position in the input.
EventKey = Union[str, int]  # noqa: UP007


def event_key(event: object, key_field: str | None = None) -> EventKey | None:
    """The key an event carries, or None: for a mapping with ``key_field``, the value under
    that field; otherwise the event's ``key`` attribute (an `OrderEvent`'s ``key``).

    Refuses (GettValidationError) a key that is neither a string nor a whole number, and a
    mapping without ``key_field`` (the caller said every event carries it).
    """
    if key_field is not None and isinstance(event, Mapping):
        if key_field not in event:
            raise GettValidationError(key_field, "is missing: the stream's key_field names each event")
        key = event[key_field]
    else:
        key = getattr(event, "key", None)
        if key is None:
            return None
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise GettValidationError(key_field or "key", f"must be a string or a whole number, got {type(key).__name__}")
    return key


def parse_event(event: object, *, key_field: str | None = None, ignore_unknown_keys: bool = False) -> Update:
    """The update an event asks for, validated on its own (see `parse_update`).

    A mapping may carry ``key_field`` besides the wire keys, and any other key with
    ``ignore_unknown_keys``. Refuses (GettValidationError): an event that is neither an
    `OrderEvent` nor a mapping, other mapping keys (unless ignored), and everything
    `parse_update` refuses (named by wire keys for mappings).
    """
    if isinstance(event, OrderEvent):
        return parse_update(
            event.order_id, status=event.status, state=event.state,
            estimated_ready_at=event.estimated_ready_at, cancel_reason=event.cancel_reason,
        )
    if isinstance(event, Mapping):
        if not ignore_unknown_keys and not WIRE_KEYS.issuperset(event):
            unknown = set(event) - WIRE_KEYS - {key_field}
            if unknown:
                raise GettValidationError(
                    "event",
                    f"unknown field(s) {', '.join(sorted(map(str, unknown)))} (ignore_unknown_keys=True accepts them)",
                )
        return parse_update(
            event.get("orderId"), status=event.get("status"), state=event.get("state"),
            estimated_ready_at=event.get("estimatedReadyAt"), cancel_reason=event.get("cancelReason"),
            fields=WIRE_FIELDS,
        )
    raise GettValidationError("event", f"must be an OrderEvent or a mapping, got {type(event).__name__}")


def raw_order_id(event: object) -> str | None:
    """The order id a (possibly malformed) event names, as given, if it is a string."""
    raw = event.get("orderId") if isinstance(event, Mapping) else getattr(event, "order_id", None)
    return raw if isinstance(raw, str) else None
