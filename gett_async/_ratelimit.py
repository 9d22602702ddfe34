"""Rate-limit gates: wait before a request instead of burning a 429.

Gett limits each organisation per window (1,000 reads and 100 writes a minute in
production) and reports ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (a Unix time).
The gate keeps one account per request class (``"read"`` for GET, ``"write"`` otherwise).

`RateLimitGate` is the interface: a replacement (for example one backed by Redis, shared
by many processes) implements `acquire` and `settle` and is passed as ``GettClient(gate=...)``;
it may also offer ``try_acquire(kind) -> bool``, a synchronous fast path the session manager
calls first (awaiting `acquire` only when it returns False).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

import attrs

from . import _validate
from ._problem import server_number
from .errors import RateLimitError

READ = "read"
WRITE = "write"

#: The longest any server value may pause a request class: Gett's documented limits are per
#: minute, so a ``retryAfter``, ``Retry-After`` or ``X-RateLimit-Reset`` further away than one
#: window is taken as one window (the call that got it fails fast; later calls are not stuck).
MAX_SERVER_PAUSE = 60.0


class RateLimitGate(Protocol):
    """What the session manager needs from a rate-limit gate."""

    async def acquire(self, kind: str) -> None:
        """Wait until one more request of ``kind`` may start; called before every attempt."""

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """Called exactly once per `acquire`, when the attempt ends (``headers`` None: no answer)."""


@attrs.define(slots=True)
class _Account:
    per_minute: int | None
    in_flight: int = 0
    budget: int | None = None  # requests we may still start in this window; None: unknown
    reset_at: float = 0.0  # Unix time the server's window ends
    limit_seen: int | None = None  # the largest window we have seen, to restart with
    sent: collections.deque[float] = attrs.field(factory=collections.deque)


class HeaderRateLimitGate:
    """Pauses a request class when Gett says its window is spent; optional fixed budgets.

    - From every response it learns what is left (``remaining`` minus the requests still in
      flight, which Gett may not have counted yet) and when the window resets. At zero it
      holds new requests until the reset, then releases as many as the largest window seen.
    - A 429 pauses the whole class for ``retry_after`` seconds.
    - ``reads_per_minute`` / ``writes_per_minute`` (optional) cap each class over any sliding
      60 s, for a budget shared by means the headers do not show (other services, other keys).
    - A wait longer than ``max_wait`` (GettClient passes its ``max_retry_wait``) is not slept:
      `acquire` raises RateLimitError with ``retry_after`` at once, so no call hangs for an hour.
    - No server value pauses a class for longer than `MAX_SERVER_PAUSE` (one window); values
      that are not finite numbers are ignored.

    Refuses (GettValidationError): limits that are not whole numbers >= 1, a ``max_wait``
    that is not finite seconds >= 0.
    """

    def __init__(
        self,
        *,
        reads_per_minute: int | None = None,
        writes_per_minute: int | None = None,
        max_wait: float | None = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        for name, value in (("reads_per_minute", reads_per_minute), ("writes_per_minute", writes_per_minute)):
            if value is not None:
                _validate.whole(name, value, minimum=1)
        self._accounts = {READ: _Account(reads_per_minute), WRITE: _Account(writes_per_minute)}
        self.max_wait = None if max_wait is None else _validate.seconds("max_wait", max_wait, allow_zero=True)
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        accounts = getattr(self, "_accounts", None)  # None while __init__ refuses its input
        if accounts is None:
            return "HeaderRateLimitGate(<not built>)"
        return (
            f"HeaderRateLimitGate(reads_per_minute={accounts[READ].per_minute}, "
            f"writes_per_minute={accounts[WRITE].per_minute})"
        )

    def paused_for(self, kind: str) -> float:
        """Seconds a new request of ``kind`` would wait now (0 when it may start at once)."""
        return self._wait(self._accounts[kind], self._clock())

    def try_acquire(self, kind: str) -> bool:
        """Take room for one request of ``kind`` if there is some now (no waiting)."""
        account = self._accounts[kind]
        now = self._clock()
        if self._wait(account, now) > 0:
            return False
        self._take(account, now)
        return True

    async def acquire(self, kind: str) -> None:
        """Wait for room; a wait longer than ``max_wait`` fails at once with RateLimitError."""
        account = self._accounts[kind]
        while True:
            now = self._clock()
            wait = self._wait(account, now)
            if wait <= 0:
                break
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitError(
                    f"the {kind} budget is spent for {wait:.0f} s more (above max_wait={self.max_wait:g}); "
                    "nothing was sent",
                    status=429,
                    retry_after=wait,
                )
            await self._sleep(wait)
        self._take(account, now)

    @staticmethod
    def _take(account: _Account, now: float) -> None:
        if account.budget is not None:
            account.budget -= 1
        if account.per_minute is not None:
            account.sent.append(now)
        account.in_flight += 1

    def _wait(self, account: _Account, now: float) -> float:
        if account.budget is not None and account.budget <= 0:
            if now < account.reset_at:
                return account.reset_at - now
            account.budget = account.limit_seen  # a new window: start from what we learned
        if account.per_minute is not None:
            while account.sent and now - account.sent[0] >= 60.0:
                account.sent.popleft()
            if len(account.sent) >= account.per_minute:
                return account.sent[0] + 60.0 - now
        return 0.0

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        account = self._accounts[kind]
        account.in_flight -= 1
        now = self._clock()
        if retry_after is not None and retry_after > 0:
            account.budget = 0
            account.reset_at = max(account.reset_at, now + min(retry_after, MAX_SERVER_PAUSE))
        if not headers:
            return
        remaining = server_number(headers.get("X-RateLimit-Remaining"))
        reset = server_number(headers.get("X-RateLimit-Reset"))
        if remaining is None:
            return
        if reset is not None:
            reset = min(reset, now + MAX_SERVER_PAUSE)
            if reset < account.reset_at and account.budget is not None and retry_after is None:
                return  # an answer from a window that has already ended
            account.reset_at = max(account.reset_at, reset)
        window = int(remaining) + 1
        if account.limit_seen is None or window > account.limit_seen:
            account.limit_seen = window
        account.budget = int(remaining) - account.in_flight
        if retry_after is not None and retry_after > 0:
            account.budget = min(account.budget, 0)

