"""Pure input checks shared by every request builder: each refuses with GettValidationError.

Limits that Gett does not document (text lengths) are our own guards, kept in `LIMITS`.
"""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..errors import GettValidationError

E = TypeVar("E", bound=Enum)

#: Our own length guards (Gett documents none): long enough for any real value, short
#: enough that a runaway string is caught before it costs a write from the rate budget.
LIMITS = {"text": 1000, "url": 2048, "id": 128}

# Path segments are interpolated into URLs: allow only characters that need no escaping.
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9_.~-]+")
# The one id rule: 8-4-4-4-12 ASCII hex digits, nothing around them. Character classes, not
# \d or uuid.UUID: those accept surrounding whitespace and any Unicode digit, and would send a
# mistyped id as somebody else's order.
_UUID_FORM = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: What a header token may hold (the API key, a user agent part): visible ASCII, 0x21-0x7E.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_ASCII_WORDS = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")


def uuid_id(field: str, value: object) -> str:
    """Return ``value`` as a lowercase UUID string; refuse anything but the canonical form.

    Accepts a `uuid.UUID` or a string of 8-4-4-4-12 ASCII hex digits in any case. Refuses
    whitespace anywhere, non-ASCII digits, braces, ``urn:uuid:``, 32 digits without dashes
    and misplaced dashes. A UUID check also guards the URL path: ``../``, ``?`` or ``%2F``
    cannot pass.
    """
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        raise GettValidationError(field, f"must be a UUID string, got {type(value).__name__}")
    if _UUID_FORM.fullmatch(value) is None:
        raise GettValidationError(
            field, f"must be a UUID as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (ASCII hex digits only), got {_show(value)}"
        )
    return str.lower(value)


def visible_ascii(field: str, value: object, *, spaces: bool = False) -> str:
    """Return ``value`` if it is a non-empty string of visible ASCII characters (0x21-0x7E),
    and inner single spaces when ``spaces`` (a User-Agent). The refusal never repeats the
    value: this guards secrets too."""
    pattern = _ASCII_WORDS if spaces else _VISIBLE_ASCII
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        what = "visible ASCII words separated by single spaces" if spaces else "visible ASCII characters only"
        raise GettValidationError(field, f"must be {what} (no control, zero-width or non-ASCII characters)")
    return value


def finite(field: str, value: object, *, allow_zero: bool = False, unit: str = "a number") -> float:
    """Return ``value`` as a float: a finite number > 0 (>= 0 with ``allow_zero``).

    Refuses booleans, non-numbers, NaN, infinities and negatives.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GettValidationError(field, f"must be {unit}, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise GettValidationError(field, f"must be finite and {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return number


def seconds(field: str, value: object, *, allow_zero: bool = False) -> float:
    """A duration: `finite` seconds (refuses NaN, infinities, negatives, and zero unless allowed)."""
    return finite(field, value, allow_zero=allow_zero, unit="a number of seconds")


def whole(field: str, value: object, *, minimum: int) -> int:
    """Return ``value`` if it is an int (not a bool) of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise GettValidationError(field, f"must be a whole number of at least {minimum}, got {value!r}")
    return value


def path_segment(field: str, value: object) -> str:
    """Return an id that is safe as one URL path segment (ids whose format Gett leaves unknown)."""
    if not isinstance(value, str):
        raise GettValidationError(field, f"must be a string, got {type(value).__name__}")
    if not value or len(value) > LIMITS["id"] or not _SAFE_SEGMENT.fullmatch(value) or value in {".", ".."}:
        raise GettValidationError(
            field, f"must be 1-{LIMITS['id']} letters, digits or -_.~, got {_show(value)}"
        )
    return value


def text(field: str, value: object, *, required: bool = True) -> str:
    """Return a non-blank string of at most LIMITS['text'] characters."""
    if not isinstance(value, str):
        raise GettValidationError(field, f"must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise GettValidationError(field, "must not be blank")
    if len(value) > LIMITS["text"]:
        raise GettValidationError(field, f"is {len(value)} characters; at most {LIMITS['text']} are accepted")
    return _unicode(field, value)


def url(field: str, value: object) -> str:
    """Return an absolute http(s) URL; refuse relative, other schemes and oversized ones."""
    if not isinstance(value, str):
        raise GettValidationError(field, f"must be a URL string, got {type(value).__name__}")
    if len(value) > LIMITS["url"]:
        raise GettValidationError(field, f"is {len(value)} characters; at most {LIMITS['url']} are accepted")
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
        raise GettValidationError(field, f"must be an absolute http(s) URL, got {_show(value)}")
    return _unicode(field, value)


def _unicode(field: str, value: str) -> str:
    # A lone surrogate (from a bad decode upstream) cannot be sent as UTF-8 JSON.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise GettValidationError(field, "is not valid Unicode text (it holds a lone surrogate)") from None
    return value


def aware(field: str, value: object) -> datetime:
    """Return a timezone-aware datetime; naive ones are refused (their instant is a guess)."""
    if not isinstance(value, datetime):
        raise GettValidationError(field, f"must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise GettValidationError(
            field, "must be timezone-aware (e.g. datetime.now(timezone.utc)); a naive datetime is ambiguous"
        )
    return value


def enum_member(field: str, enum: type[E], value: object, *, refuse: tuple[E, ...] = ()) -> E:
    """Return the member of ``enum`` for a member or its wire string; refuse unknown values."""
    # Fast path for wire strings: the enum's own value table, as enum(value) consults first.
    member: E | None = enum._value2member_map_.get(value) if type(value) is str else None  # type: ignore[assignment]
    try:
        if member is None:
            member = enum(value)
    except ValueError:
        known = ", ".join(str(m.value) for m in enum if m not in refuse)
        raise GettValidationError(field, f"unknown value {_show(value)}; expected one of: {known}") from None
    if member in refuse:
        raise GettValidationError(field, f"{member.value!r} may not be sent")
    return member


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."
