"""Rate-limit window arithmetic for one request class, on an injected clock (no I/O).

Gett limits each organisation per window (1,000 reads and 100 writes a minute in
production) and reports ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (a Unix time).
A `RateWindow` turns those answers, 429s and an optional fixed budget into one number: how
long a new request must wait.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping

import attrs

from .problem import server_number

#: The longest any server value may pause a request class: Gett's documented limits are per
#: minute, so a ``retryAfter``, ``Retry-After`` or ``X-RateLimit-Reset`` further away than one
#: window is taken as one window (the call that got it fails fast; later calls are not stuck).
MAX_SERVER_PAUSE = 60.0

#: The sliding window of the optional fixed budgets (``writes_per_minute``).
FIXED_WINDOW = 60.0


@attrs.define(slots=True)
class RateWindow:
    """What one request class (reads or writes) may still send, and until when it waits."""

    per_minute: int | None = None
    in_flight: int = 0
    budget: int | None = None  # requests we may still start in this window; None: unknown
    reset_at: float = 0.0  # Unix time the server's window ends
    limit_seen: int | None = None  # the largest window we have seen, to restart with
    sent: collections.deque[float] = attrs.field(factory=collections.deque)

    def wait(self, now: float) -> float:
        """Seconds a new request must wait at ``now`` (0: it may start)."""
        if self.budget is not None and self.budget <= 0:
            if now < self.reset_at:
                return self.reset_at - now
            self.budget = self.limit_seen  # a new window: start from what we learned
        if self.per_minute is not None:
            while self.sent and now - self.sent[0] >= FIXED_WINDOW:
                self.sent.popleft()
            if len(self.sent) >= self.per_minute:
                return self.sent[0] + FIXED_WINDOW - now
        return 0.0

    def take(self, now: float) -> None:
        """Count one request as started at ``now``."""
        if self.budget is not None:
            self.budget -= 1
        if self.per_minute is not None:
            self.sent.append(now)
        self.in_flight += 1

    def settle(self, now: float, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """One started request ended: learn from its answer (``headers`` None: no answer).

        A 429's ``retry_after`` pauses the class; ``X-RateLimit-Remaining`` (minus requests
        still in flight, which Gett may not have counted yet) and ``X-RateLimit-Reset`` set
        the budget. Values that are not finite numbers are ignored; pauses are capped at
        `MAX_SERVER_PAUSE`.
        """
        self.in_flight -= 1
        if retry_after is not None and retry_after > 0:
            self.budget = 0
            self.reset_at = max(self.reset_at, now + min(retry_after, MAX_SERVER_PAUSE))
        if not headers:
            return
        remaining = server_number(headers.get("X-RateLimit-Remaining"))
        reset = server_number(headers.get("X-RateLimit-Reset"))
        if remaining is None:
            return
        if reset is not None:
            reset = min(reset, now + MAX_SERVER_PAUSE)
            if reset < self.reset_at and self.budget is not None and retry_after is None:
                return  # an answer from a window that has already ended
            self.reset_at = max(self.reset_at, reset)
        window = int(remaining) + 1
        if self.limit_seen is None or window > self.limit_seen:
            self.limit_seen = window
        self.budget = int(remaining) - self.in_flight
        if retry_after is not None and retry_after > 0:
            self.budget = min(self.budget, 0)
