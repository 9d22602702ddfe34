"""Reading what Gett says back: answers, RFC 9457 problem bodies, server-supplied numbers (no I/O).

`decipher_response` is the one place an answer becomes a result or a typed error (the
shape of gidgethub's ``sansio.decipher_response``). Everything a server sends is untrusted
input: the client's key is scrubbed from it first, a member of the wrong type is dropped
(never raised), and a wait must be a finite number of seconds to count at all.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from ..errors import APIError, error_class_for
from ..models import Problem
from .redact import Secret, scrub_headers
from .wire import ApiRequest, ApiResponse

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


_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


def decipher_response(request: ApiRequest, response: ApiResponse, secret: Secret) -> ApiResponse | APIError:
    """A 2xx answer (its headers scrubbed of the key), or the typed error for any other status.

    Any error body (or none) still gives the right class; everything taken from the answer
    has the key replaced by ``[REDACTED]``, including a JSON-escaped copy in the raw body.
    """
    headers = scrub_headers(response.headers, secret)
    if response.status < 300:
        return response if headers is response.headers else attrs.evolve(response, headers=headers)
    data = parse_json_object(response.body)
    clean = secret.scrub(data) if data is not None else None
    problem = problem_from(clean) if clean is not None else None
    raw: bytes = secret.scrub(response.body)
    if clean is not None and raw == response.body and clean != data:
        raw = json.dumps(clean).encode()  # the key was in the body JSON-escaped: keep the scrubbed form
    status = response.status
    detail = problem.detail if problem else None
    title = (problem.title if problem else None) or _REASONS.get(status, "HTTP error")
    code = problem.error_code if problem else None
    retry_after = problem.retry_after if problem else None
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
    request_id = (problem.request_id if problem else None) or headers.get("X-Request-Id")
    message = f"{request.method} {request.template} -> {status} {title}"
    if code:
        message += f" [{code}]"
    if detail:
        message += f": {detail}"
    if request_id:
        message += f" (request_id={request_id})"
    return error_class_for(status)(
        message,
        status=status,
        error_code=code,
        category=problem.error_category if problem else None,
        retryable=problem.retryable if problem else None,
        retry_after=retry_after,
        request_id=request_id,
        detail=detail,
        errors=problem.errors if problem else (),
        method=request.method,
        path=request.template,
        problem=problem,
        headers=headers,
        body=raw,
    )
