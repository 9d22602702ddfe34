"""The one retry policy: which failures are retried, how long to wait, when to stop (no I/O).

Waits follow Gett's guidance: exponential from 1 s, capped at 30 s, with full jitter (the
jitter function is passed in: the sender gives ``backoff.full_jitter``); a server-asked wait
(``retryAfter`` in the problem body, else the ``Retry-After`` header) is honoured exactly,
and one longer than ``max_retry_wait`` fails at once with the wait in the error. A retry
budget (a token bucket, as botocore has) keeps an outage from multiplying the load: each
retry spends tokens, each success earns one back, and with the bucket empty failures are
not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from ..errors import APIConnectionError, APIError, APITimeoutError
from . import validate

#: Retried unless the problem body says ``retryable: false``.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _finite(*, allow_zero: bool) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        validate.finite(attribute.name, value, allow_zero=allow_zero)

    return check


def _whole(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    validate.whole(attribute.name, value, minimum=0)


@attrs.frozen(slots=True)
class RetryBudget:
    """Token-bucket settings: ``capacity`` tokens, a retry costs ``cost`` (a timeout
    ``timeout_cost``), a success refunds ``refund``. Refuses (GettValidationError) values
    that are not finite numbers >= 0."""

    capacity: float = attrs.field(default=100.0, validator=_finite(allow_zero=True))
    cost: float = attrs.field(default=1.0, validator=_finite(allow_zero=True))
    timeout_cost: float = attrs.field(default=2.0, validator=_finite(allow_zero=True))
    refund: float = attrs.field(default=1.0, validator=_finite(allow_zero=True))


@attrs.frozen(slots=True)
class RetryPolicy:
    """How failed attempts are retried. ``max_retries=0`` disables retries.

    Refuses (GettValidationError): retries that are not a whole number >= 0; a base or cap
    that is not finite seconds > 0; a ``max_retry_wait`` that is not finite seconds >= 0
    (0: never wait for a server-asked pause, fail at once).
    """

    max_retries: int = attrs.field(default=3, validator=_whole)
    base: float = attrs.field(default=1.0, validator=_finite(allow_zero=False))
    cap: float = attrs.field(default=30.0, validator=_finite(allow_zero=False))
    max_retry_wait: float = attrs.field(default=60.0, validator=_finite(allow_zero=True))
    budget: RetryBudget | None = RetryBudget()


def is_retryable(exc: BaseException) -> bool:
    """True for connection errors, timeouts, 429/500/502/503/504 (unless the body says
    ``retryable: false``) and other 5xx whose body says ``retryable: true``; never other 4xx."""
    if isinstance(exc, APIConnectionError):
        return True
    if isinstance(exc, APIError):
        if exc.status in RETRY_STATUSES:
            return exc.retryable is not False
        return exc.status >= 500 and exc.retryable is True
    return False


class TokenBucket:
    """The live state of a `RetryBudget` (one per client)."""

    __slots__ = ("_settings", "tokens")

    def __init__(self, settings: RetryBudget) -> None:
        self._settings = settings
        self.tokens = settings.capacity

    def withdraw(self, exc: BaseException) -> bool:
        cost = self._settings.timeout_cost if isinstance(exc, APITimeoutError) else self._settings.cost
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True

    def refund(self) -> None:
        self.tokens = min(self._settings.capacity, self.tokens + self._settings.refund)


def next_wait(
    policy: RetryPolicy,
    failure: APIError | APIConnectionError,
    retries_done: int,
    max_retries: int,
    budget: TokenBucket | None,
    jitter: Callable[[float], float],
) -> float | None:
    """Seconds to wait before retrying ``failure``, or None to give up.

    Gives up on what is not retryable, a server-asked wait above ``max_retry_wait`` (the
    error keeps ``retry_after`` for the caller to plan), after ``max_retries`` retries, and
    when the retry budget is spent. ``retries_done`` counts retries already made.
    """
    if not is_retryable(failure) or retries_done >= max_retries:
        return None
    asked = failure.retry_after
    if asked is not None and asked > policy.max_retry_wait:
        return None
    if budget is not None and not budget.withdraw(failure):
        return None
    if asked is not None:
        return asked  # Gett's own wait wins
    return jitter(min(policy.cap, policy.base * 2**retries_done))
