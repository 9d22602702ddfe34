"""Reading what Gett says back: RFC 9457 problem bodies and server-supplied waits (no I/O).

Everything a server sends is untrusted input: a member of the wrong type is dropped (never
raised), and a wait must be a finite number of seconds to count at all.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .models import Problem

#: Problem members this SDK models, by wire name; every other member goes to ``Problem.extra``.
_MEMBERS = (
    "type", "title", "status", "detail", "instance", "requestId", "timestamp",
    "errorCode", "errorCategory", "retryable", "retryAfter", "errors",
)


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None when it is empty, not JSON or not an object."""
    if not body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:  # includes UnicodeDecodeError
        return None
    return parsed if isinstance(parsed, dict) else None


def problem_from(data: Mapping[str, Any]) -> Problem:
    """A `Problem` from a parsed problem body; members of the wrong type are left out."""
    errors = data.get("errors")
    return Problem(
        type=_text(data.get("type")),
        title=_text(data.get("title")),
        status=_whole(data.get("status")),
        detail=_text(data.get("detail")),
        instance=_text(data.get("instance")),
        request_id=_text(data.get("requestId")),
        timestamp=_text(data.get("timestamp")),
        error_code=_text(data.get("errorCode")),
        error_category=_text(data.get("errorCategory")),
        retryable=data["retryable"] if isinstance(data.get("retryable"), bool) else None,
        retry_after=server_number(data.get("retryAfter")),
        errors=tuple(e for e in errors if isinstance(e, Mapping)) if isinstance(errors, list) else (),
        extra={k: v for k, v in data.items() if k not in _MEMBERS},
    )


def server_number(value: Any) -> float | None:
    """A number the server sent (a wait in seconds, a count, a Unix time): a finite number
    >= 0, or such a numeric string; anything else (NaN, infinities, negatives, booleans,
    text) is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None if unreadable."""
    if value is None:
        return None
    seconds = server_number(value.strip())
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.now(timezone.utc).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
