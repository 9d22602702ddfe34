"""The one retry policy: which failures are retried, how long to wait, when to stop.

Waits follow Gett's guidance: exponential from 1 s, capped at 30 s, with full jitter
(``backoff.expo`` and ``backoff.full_jitter``); a server-asked wait (``retryAfter`` in the
problem body, else the ``Retry-After`` header) is honoured exactly, and one longer than
``max_retry_wait`` fails at once with the wait in the error. A retry budget (a token
bucket, as botocore has) keeps an outage from multiplying the load: each retry spends
tokens, each success earns one back, and with the bucket empty failures are not retried.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import attrs
import backoff

from . import _validate
from .errors import APIConnectionError, APIError, APITimeoutError

#: Retried unless the problem body says ``retryable: false``.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _finite(*, allow_zero: bool) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        _validate.finite(attribute.name, value, allow_zero=allow_zero)

    return check


def _whole(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    _validate.whole(attribute.name, value, minimum=0)


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


def waits(policy: RetryPolicy) -> Generator[float, BaseException | None, None]:
    """A `backoff` wait generator: it is sent each failure and yields the next wait."""
    exc = yield 0.0  # backoff primes the generator with None
    attempt = 0
    while True:
        asked = getattr(exc, "retry_after", None)
        # Gett's own wait wins; otherwise 1 s, 2 s, 4 s ... capped, with full jitter.
        wait = float(asked) if asked is not None else backoff.full_jitter(min(policy.cap, policy.base * 2**attempt))
        attempt += 1
        exc = yield max(0.0, wait)
