"""The exception hierarchy of gett-async.

    GettError
    ├── GettValidationError (also ValueError)   refused before any I/O
    │   └── IllegalTransitionError               an order move the lifecycle forbids
    ├── APIError                                 Gett answered with a non-2xx status
    │   ├── BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
    │   ├── NotFoundError 404, ConflictError 409, UnprocessableEntityError 422,
    │   └── RateLimitError 429, ServerError >= 500
    ├── APIConnectionError                       no answer at all
    │   └── APITimeoutError
    ├── WebhookVerificationError                 an inbound webhook failed a check (``check``)
    └── WebhookHandlerError                      raised by a webhook handler to answer with a problem

No exception here ever holds the API key or a webhook secret: messages are built from the
method, the path template, the status and the problem body, whatever the server sent back
has had the client's key replaced by ``[REDACTED]`` before it gets here, and a webhook
refusal names the check that failed, never a secret or the signature that was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Problem


class GettError(Exception):
    """Base class of every error raised by gett-async."""


class GettValidationError(GettError, ValueError):
    """Input refused before any request was sent; ``field`` names what was wrong."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class IllegalTransitionError(GettValidationError):
    """An order update the lifecycle table forbids; nothing was sent.

    ``current`` is the acknowledged position, ``target`` the requested one and
    ``allowed`` the moves that would have been legal from ``current``.
    """

    def __init__(self, current: str, target: str, allowed: Sequence[str], reason: str) -> None:
        self.current = current
        self.target = target
        self.allowed = tuple(allowed)
        options = ", ".join(self.allowed) if self.allowed else "nothing (the order is closed)"
        super().__init__(
            "status",
            f"cannot go from {current} to {target}: {reason}; allowed next: {options}",
        )


class _CountsAttempts(GettError):
    attempts: int

    def __str__(self) -> str:
        text = super().__str__()
        return text if self.attempts <= 1 else f"{text} (after {self.attempts} attempts)"


class APIError(_CountsAttempts):
    """Gett answered with an error status; the problem body's members are attributes.

    ``problem`` is the whole parsed RFC 9457 body (members this SDK does not model are in
    ``problem.extra``; None when the body was not a JSON object), ``headers`` the
    response headers and ``body`` the raw body, read up to 1 MiB. The client's API key is
    replaced by ``[REDACTED]`` in all of them.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_code: str | None = None,
        category: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
        detail: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
        attempts: int = 1,
        method: str | None = None,
        path: str | None = None,
        problem: Problem | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.category = category
        self.retryable = retryable
        self.retry_after = retry_after
        self.request_id = request_id
        self.detail = detail
        self.errors = tuple(errors)
        self.attempts = attempts
        self.method = method
        self.path = path
        self.problem = problem
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.body = body


class BadRequestError(APIError):
    """400: the request was malformed or refused by a domain rule."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong, expired or from the other environment."""


class PermissionDeniedError(APIError):
    """403: the key may not do this."""


class NotFoundError(APIError):
    """404: no such order, store or onboarding (or a malformed id on Gett's side)."""


class ConflictError(APIError):
    """409: the operation already happened or conflicts with the current state."""


class UnprocessableEntityError(APIError):
    """422: validation failed on Gett's side; see ``errors``."""


class RateLimitError(APIError):
    """429: the organisation's rate limit is spent; ``retry_after`` says for how long."""


class ServerError(APIError):
    """5xx: Gett failed; retried by default."""


class APIConnectionError(_CountsAttempts):
    """No HTTP answer: connection refused or dropped, DNS, TLS."""

    def __init__(
        self, message: str, *, attempts: int = 1, method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.method = method
        self.path = path
        self.retry_after: float | None = None


class APITimeoutError(APIConnectionError):
    """The request did not complete within its timeout."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class_for(status: int) -> type[APIError]:
    """The APIError subclass for an HTTP status (APIError itself for unlisted 4xx)."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


class WebhookVerificationError(GettError):
    """An inbound webhook was refused; ``check`` names what failed.

    ``check`` is ``"signature"`` (missing, malformed or not matching any secret),
    ``"timestamp"`` (missing, malformed, too old or too far in the future) or ``"payload"``
    (authentic but not JSON). The message never holds a secret or the expected signature.
    """

    def __init__(self, check: str, message: str) -> None:
        self.check = check
        super().__init__(message)


class WebhookHandlerError(GettError):
    """Raise from a webhook handler to answer Gett with a problem document of your choosing.

    ``status`` must be 400-599; ``error_code`` defaults to the one Gett uses for that status
    (e.g. 422 ``VALIDATION_FAILED``); ``errors`` become the problem's ``errors`` member.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        error_code: str | None = None,
        errors: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise GettValidationError("status", f"a webhook problem needs a status from 400 to 599, got {status!r}")
        self.status = status
        self.detail = detail
        self.error_code = error_code
        self.errors = tuple(errors)
        super().__init__(f"{status}: {detail}")
