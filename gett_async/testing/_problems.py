"""RFC 9457 problem+json answers, shaped like Gett's (members as in its error reference)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any

from aiohttp import web

from .._core.serde import format_datetime
from ..models.problem import ERROR_TYPE

PROBLEM_JSON = "application/problem+json"


class ApiProblem(Exception):
    """Raised inside the emulator to answer with a problem document."""

    def __init__(
        self,
        status: int,
        code: str,
        category: str,
        detail: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.category = category
        self.detail = detail
        self.retryable = retryable
        self.retry_after = retry_after
        self.errors = errors
        self.extra = extra


class BareNotFound(Exception):
    """A malformed id in the path: Gett answers 404 with no body at all."""


def not_found(detail: str) -> ApiProblem:
    """404 NOT_FOUND for a well-formed id that names nothing."""
    return ApiProblem(404, "NOT_FOUND", "not_found", detail)


def conflict(detail: str, **extra: Any) -> ApiProblem:
    """409 CONFLICT: the operation does not fit the resource's current state."""
    return ApiProblem(409, "CONFLICT", "conflict", detail, extra=extra or None)


def validation_failed(errors: Sequence[Mapping[str, Any]]) -> ApiProblem:
    """422 VALIDATION_FAILED listing every field error found."""
    first = errors[0]["message"] if errors else "the request body is invalid"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ApiProblem(422, "VALIDATION_FAILED", "validation", f"Validation failed: {first}{more}.", errors=errors)


def new_request_id() -> str:
    """A fresh request id, as every answer carries in ``X-Request-Id``."""
    return "req_" + os.urandom(8).hex()


def render(problem: ApiProblem, instance: str, now: float, request_id: str | None = None) -> web.Response:
    """The problem as an ``application/problem+json`` response (``requestId``: ``request_id``, or a new one)."""
    body: dict[str, Any] = {
        "type": ERROR_TYPE.format(code=problem.code),
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
        "requestId": request_id or new_request_id(),
        "timestamp": format_datetime(datetime.fromtimestamp(now, timezone.utc)),
        "errorCode": problem.code,
        "errorCategory": problem.category,
        "retryable": problem.retryable,
    }
    if problem.retry_after is not None:
        body["retryAfter"] = problem.retry_after
    if problem.errors:
        body["errors"] = list(problem.errors)
    if problem.extra:
        body.update(problem.extra)
    return web.Response(
        status=problem.status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": PROBLEM_JSON},
    )
