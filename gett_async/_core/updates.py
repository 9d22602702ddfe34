"""The one order-update validator: every way of asking for an update goes through `parse_update`.

``update_status``, ``complete``, ``cancel``, the tracker and the stream all call it, so each
rule about a single update (the id format, known values, ``pending`` never sent, a reason for
every cancel and only for a cancel, no ETA on a close, an update that asks for something) is
written once, with one message. Whether the update is legal *from where the order is* is the
lifecycle table's question (`lifecycle.check`), asked by the tracker and the stream.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from json.encoder import encode_basestring
from typing import NamedTuple

import attrs

from ..errors import GettValidationError
from ..models import OrderStatus
from . import lifecycle, serde, validate
from .paths import ApiPaths
from .wire import ApiRequest


class Fields(NamedTuple):
    """How refusals name the parts of an update (Python keywords or wire keys), and whether
    times may come as RFC 3339 text (parsed JSON has no datetimes)."""

    order_id: str
    estimated_ready_at: str
    cancel_reason: str
    nothing: str  # what a refusal of an update that asks for nothing names
    text_times: bool


PYTHON_FIELDS = Fields("order_id", "estimated_ready_at", "cancel_reason", "status", text_times=False)
WIRE_FIELDS = Fields("orderId", "estimatedReadyAt", "cancelReason", "event", text_times=True)


@attrs.frozen(slots=True)
class Update:
    """One validated order update. ``target`` is the position asked for (an open status,
    ``completed`` or ``cancelled``), or None for an update of the ETA alone."""

    order_id: str
    target: str | None
    estimated_ready_at: datetime | None = None
    cancel_reason: str | None = None


def parse_update(
    order_id: object,
    *,
    status: object = None,
    state: object = None,
    estimated_ready_at: object = None,
    cancel_reason: object = None,
    fields: Fields = PYTHON_FIELDS,
) -> Update:
    """Validate one update on its own and return it.

    ``estimated_ready_at`` is a timezone-aware datetime (or, with wire fields, an RFC 3339
    string with an offset).
    Refuses (GettValidationError naming the field): an order id that is not a UUID; unknown
    status/state values; ``pending``; ``state="open"``; a status together with a closing
    state; a naive or unreadable ETA; an ETA on a close; a cancel without a non-blank reason;
    a reason without a cancel; oversized text; an update that asks for nothing.
    """
    oid = validate.uuid_id(fields.order_id, order_id)
    target = lifecycle.target_of(status, state)
    eta = None if estimated_ready_at is None else _eta(fields, estimated_ready_at)
    if eta is not None and target is not None and lifecycle.is_closed(target):
        raise GettValidationError(fields.estimated_ready_at, "goes with a progress status, not with closing an order")
    reason = None
    if target == "cancelled":
        if cancel_reason is None:
            raise GettValidationError(fields.cancel_reason, "a cancel needs a non-blank reason")
        reason = validate.text(fields.cancel_reason, cancel_reason)
    elif cancel_reason is not None:
        raise GettValidationError(fields.cancel_reason, "is only sent with state='cancelled'")
    if target is None and eta is None:
        raise GettValidationError(fields.nothing, "asks for nothing: give a status, a state or an estimated ready time")
    return Update(oid, target, eta, reason)


def update_body(update: Update) -> bytes:
    """The JSON body of ``update``: ``status`` for progress, ``state`` to close.

    Built directly as bytes, the same text the cattrs converter makes of the
    `OrderStatusUpdate` model (``serde.encode(lifecycle.build_update(...))``: members in the
    model's order, unset ones omitted, the ETA as ``serde.format_datetime`` writes it, strings
    escaped as ``json`` does with ``ensure_ascii=False``); tests/test_fast_body.py checks the
    two agree for every kind of update. The converter's way costs most of an update's CPU
    (docs/PERFORMANCE.md).
    """
    target = update.target
    if target == "cancelled":
        reason = encode_basestring(update.cancel_reason or "")
        return ('{"state":"cancelled","cancelReason":' + reason + "}").encode()
    if target == "completed":
        return b'{"state":"completed"}'
    head = b"{" if target is None else _STATUS_HEAD[target]
    eta = update.estimated_ready_at
    if eta is None:
        return head + b"}"
    return head + (b'"estimatedReadyAt":"' if target is None else b',"estimatedReadyAt":"') + _utc_text(eta) + b'"}'


#: ``{"status":"<value>"`` for each status an update may send (``pending`` never is).
_STATUS_HEAD = {s.value: b'{"status":"' + s.value.encode() + b'"' for s in OrderStatus if s is not OrderStatus.PENDING}


def _utc_text(value: datetime) -> bytes:
    # serde.format_datetime's text (UTC, "Z", milliseconds only when there are any, cut not
    # rounded) without isoformat's slicing; the property test holds the two equal.
    utc = value.astimezone(timezone.utc)
    millis = utc.microsecond // 1000
    if millis:
        return b"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (
            utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, millis)
    return b"%04d-%02d-%02dT%02d:%02d:%02dZ" % (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)


def update_request(paths: ApiPaths, update: Update) -> ApiRequest:
    """Update Order Status for ``update`` (its answer carries no data, so it is not read)."""
    template = paths.order_status
    path = template.replace("{order_id}", update.order_id)
    return ApiRequest("POST", path, body=update_body(update), template=template, reads_body=False)


#: RFC 3339 with a mandatory offset, ASCII digits only (a local time is ambiguous).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _eta(fields: Fields, value: object) -> datetime:
    field = fields.estimated_ready_at
    if isinstance(value, str) and fields.text_times:
        if _RFC3339.fullmatch(value) is None:
            raise GettValidationError(
                field, f"must be an RFC 3339 time with an offset (2026-01-15T13:30:00Z), got {value[:40]!r}"
            )
        try:
            return serde.parse_datetime(value)
        except ValueError:
            raise GettValidationError(field, f"is not a valid date-time: {value[:40]!r}") from None
    return validate.aware(field, value)
