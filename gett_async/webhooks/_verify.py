"""Verify an inbound Gett webhook: pure (no I/O, no asyncio), one function, one rule.

The scheme is Gett's shared webhook guide [READ for distribution partners; INFERRED for
commerce]: ``Signature`` is the hex HMAC-SHA256 of the raw body keyed with the webhook
secret (the timestamp is not part of it), ``Timestamp`` is Unix seconds and must be within
300 s of now, ``API-Version`` names the protocol version.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from .._core import validate as _validate
from ..errors import GettValidationError, WebhookVerificationError
from ..models.enums import WireEnum

if TYPE_CHECKING:
    from ..client import GettClient
    from ..orders import Orders, OrderTracker

SIGNATURE_HEADER = "Signature"
TIMESTAMP_HEADER = "Timestamp"
API_VERSION_HEADER = "API-Version"
#: The protocol version Gett's guide names [READ]; sent by the emulator, not enforced.
API_VERSION = "2026-01-30"
#: Gett's replay window in seconds [READ].
DEFAULT_TOLERANCE = 300.0

# Bytes patterns: a str header holding non-ASCII characters is refused before any comparison,
# so hmac.compare_digest only ever sees ASCII bytes (on a non-ASCII str it raises TypeError).
_HEX_SHA256 = re.compile(rb"[0-9a-fA-F]{64}")
_UNIX_SECONDS = re.compile(rb"[0-9]{1,12}(?:\.[0-9]{1,9})?")

#: Headers as a mapping (aiohttp's, Starlette's, a dict) or as raw (name, value) pairs (ASGI).
Headers: TypeAlias = "Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]"


class WebhookKind(WireEnum):
    """Which webhook Gett sent: its name as in Gett's portal [READ]."""

    VALIDATE = "validateOrder"
    PLACE = "placeOrder"


@attrs.frozen(slots=True)
class PayloadShape:
    """Where the payload keeps the order id: the [INFERRED] field names, in one place.

    Gett does not document the payload of ``validateOrder`` / ``placeOrder`` [UNKNOWN]. The
    first path that holds a UUID string wins; pass your own ``PayloadShape`` to ``verify`` or
    ``WebhookReceiver`` once Gett's real shape is known.
    """

    order_id_at: tuple[tuple[str, ...], ...] = (("orderId",), ("order", "orderId"), ("order", "id"))

    def order_id(self, payload: Any) -> str | None:
        """The canonical order id found at ``order_id_at``, or None."""
        for path in self.order_id_at:
            value = payload
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            if isinstance(value, str):
                try:
                    return _validate.uuid_id("orderId", value)
                except GettValidationError:
                    continue
        return None

    def describe(self) -> str:
        """The paths looked at, e.g. ``orderId, order.orderId, order.id``."""
        return ", ".join(".".join(path) for path in self.order_id_at)


class WebhookSecrets:
    """One or more webhook secrets, newest first (several while one is being rotated).

    Its repr never shows them. Refuses no secret at all, an empty one and non-text values.
    """

    __slots__ = ("_keys",)

    def __init__(self, *secrets: str | bytes) -> None:
        keys = []
        for secret in secrets:
            if isinstance(secret, str):
                secret = secret.encode("utf-8")
            if not isinstance(secret, bytes):
                raise GettValidationError("secrets", f"each secret must be str or bytes, got {type(secret).__name__}")
            if not secret:
                raise GettValidationError("secrets", "a webhook secret must not be empty")
            keys.append(secret)
        if not keys:
            raise GettValidationError("secrets", "give at least one webhook secret")
        self._keys = tuple(keys)

    @classmethod
    def of(cls, secrets: WebhookSecrets | str | bytes | Sequence[str | bytes]) -> WebhookSecrets:
        """``secrets`` itself, or its values wrapped."""
        if isinstance(secrets, WebhookSecrets):
            return secrets
        if isinstance(secrets, (str, bytes)):
            return cls(secrets)
        return cls(*secrets)

    def __repr__(self) -> str:
        return f"WebhookSecrets(<{len(self._keys)} redacted>)"

    __str__ = __repr__

    def __len__(self) -> int:
        return len(self._keys)

    def sign(self, body: bytes) -> str:
        """The hex signature of ``body`` with the newest secret (what Gett would send)."""
        return hmac.new(self._keys[0], body, hashlib.sha256).hexdigest()

    def matches(self, body: bytes, signature: bytes) -> bool:
        """Whether ``signature`` (lowercase ASCII hex) is ``body``'s under any secret, in constant time."""
        matched = False
        for key in self._keys:  # every secret is tried, so the time does not tell which one matched
            expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode("ascii")
            matched |= hmac.compare_digest(expected, signature)
        return matched


@attrs.frozen(slots=True)
class WebhookRequest:
    """A verified webhook: the parsed JSON ``payload`` kept whole, and what was read from it.

    ``order_id`` is where the [INFERRED] `PayloadShape` found one (else None). The payload
    and raw body hold customer data, so they are left out of the repr.
    """

    kind: WebhookKind | None
    timestamp: datetime
    api_version: str | None
    order_id: str | None
    payload: Any = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)

    def track(self, gett: GettClient | Orders, *, strict: bool = False) -> OrderTracker:
        """An `OrderTracker` for this order at ``pending``, as Gett creates it.

        Refuses (GettValidationError) a payload in which no UUID order id was found.
        """
        if self.order_id is None:
            raise GettValidationError("order_id", "the webhook payload holds no UUID order id where one was looked for")
        orders: Orders = gett.orders if hasattr(gett, "orders") else gett
        return orders.track(self.order_id, strict=strict)


def signature_headers(
    body: bytes, secrets: WebhookSecrets | str | bytes | Sequence[str | bytes], *, timestamp: float
) -> dict[str, str]:
    """The headers Gett sends with ``body``: ``Signature``, ``Timestamp``, ``API-Version``."""
    return {
        SIGNATURE_HEADER: WebhookSecrets.of(secrets).sign(bytes(body)),
        TIMESTAMP_HEADER: str(int(timestamp)),
        API_VERSION_HEADER: API_VERSION,
    }


def verify(
    body: bytes,
    headers: Headers,
    secrets: WebhookSecrets | str | bytes | Sequence[str | bytes],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
    kind: WebhookKind | str | None = None,
    shape: PayloadShape | None = None,
) -> WebhookRequest:
    """Check a webhook's signature and timestamp against its raw body; parse its JSON.

    Raises WebhookVerificationError (``check`` = ``signature``, ``timestamp`` or ``payload``)
    for a missing, repeated or malformed ``Signature`` or ``Timestamp`` header, a signature
    that matches none of ``secrets``, a timestamp more than ``tolerance`` seconds old or
    ahead of ``now``, and a body that is not JSON. Refuses a ``str`` body (TypeError: pass
    the bytes as received; a re-serialised body does not match) and bad options
    (GettValidationError). No I/O.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"verify needs the raw body as bytes, as received, not {type(body).__name__}")
    body = bytes(body)
    # Rebinding the name keeps the caller's raw secrets out of this frame's locals, which a
    # crash reporter capturing locals would print.
    secrets = WebhookSecrets.of(secrets)
    tolerance = _validate.seconds("tolerance", tolerance)
    kind = None if kind is None else _validate.enum_member("kind", WebhookKind, kind)
    values = _wanted_headers(headers)
    signature = _ascii(_one(values, SIGNATURE_HEADER, "signature"), SIGNATURE_HEADER, "signature")
    if not _HEX_SHA256.fullmatch(signature):
        raise WebhookVerificationError(
            "signature", "the Signature header is not an HMAC-SHA256 in hex (64 hex digits)"
        )
    stamp = _ascii(_one(values, TIMESTAMP_HEADER, "timestamp"), TIMESTAMP_HEADER, "timestamp")
    if not _UNIX_SECONDS.fullmatch(stamp):
        raise WebhookVerificationError("timestamp", "the Timestamp header is not Unix seconds")
    if not secrets.matches(body, signature.lower()):
        raise WebhookVerificationError(
            "signature",
            "the signature does not match the body under any configured secret "
            "(a wrong secret, or a body changed or re-serialised after Gett signed it)",
        )
    signed_at = float(stamp)
    current = time.time() if now is None else now
    if current - signed_at > tolerance:
        raise WebhookVerificationError(
            "timestamp", f"the Timestamp is {current - signed_at:.0f} s old; at most {tolerance:g} s is accepted"
        )
    if signed_at - current > tolerance:
        raise WebhookVerificationError(
            "timestamp",
            f"the Timestamp is {signed_at - current:.0f} s in the future; at most {tolerance:g} s is accepted "
            "(check the server's clock)",
        )
    try:
        payload = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError included
        raise WebhookVerificationError("payload", f"the body is not JSON: {exc}") from None
    versions = values.get(API_VERSION_HEADER.lower())
    return WebhookRequest(
        kind=kind,
        timestamp=datetime.fromtimestamp(signed_at, timezone.utc),
        api_version=versions[0].strip() if versions else None,
        order_id=(shape or _DEFAULT_SHAPE).order_id(payload),
        payload=payload,
        body=body,
    )


_DEFAULT_SHAPE = PayloadShape()
_WANTED = {name.lower() for name in (SIGNATURE_HEADER, TIMESTAMP_HEADER, API_VERSION_HEADER)}


def _wanted_headers(headers: Headers) -> dict[str, list[str]]:
    # Every occurrence is kept (a multidict's items() yields repeats), so a repeated header is
    # refused instead of one copy being picked silently.
    items: Iterable[tuple[Any, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, list[str]] = {}
    for name, value in items:
        key = (name.decode("latin-1") if isinstance(name, bytes) else str(name)).lower()
        if key in _WANTED:
            found.setdefault(key, []).append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return found


def _one(values: dict[str, list[str]], header: str, check: str) -> str:
    found = values.get(header.lower())
    if not found:
        raise WebhookVerificationError(check, f"the {header} header is missing")
    if len(found) > 1:
        raise WebhookVerificationError(check, f"the {header} header is repeated")
    return found[0]


def _ascii(value: str, header: str, check: str) -> bytes:
    try:
        return value.strip().encode("ascii")
    except UnicodeEncodeError:
        raise WebhookVerificationError(check, f"the {header} header is not ASCII") from None


