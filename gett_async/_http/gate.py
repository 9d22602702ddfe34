"""Rate-limit gates: wait before a request instead of burning a 429.

Gett limits each organisation per window (1,000 reads and 100 writes a minute in
production) and reports ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (a Unix time).
The gate keeps one account per request class (``"read"`` for GET, ``"write"`` otherwise).

`RateLimitGate` is the interface: a replacement (for example one backed by Redis, shared
by many processes) implements `acquire` and `settle` and is passed as ``GettClient(gate=...)``.
The window arithmetic itself is pure and lives in `gett_async._core.ratelimit`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Literal, Protocol

import attrs

from .._core import validate
from .._core.ratelimit import RateWindow
from ..errors import RateLimitError

READ = "read"
WRITE = "write"

#: Who is asking: a call someone awaits (a web handler, a tracker move), or a batch stream.
#: A gate may keep part of the budget for interactive calls so a batch job never starves them.
Priority = Literal["interactive", "batch"]
INTERACTIVE: Priority = "interactive"
BATCH: Priority = "batch"


@attrs.frozen(slots=True)
class GateState:
    """What a gate knows of one request class (Unix times): `HeaderRateLimitGate.state` from
    Gett's headers and its own fixed budget, `RedisRateLimitGate.state` from Redis (during an
    outage, from this process's own share)."""

    kind: str
    #: The requests per window this class may send (the full limit, not the batch part).
    limit: int
    #: What is left of ``limit`` in the current window, reserved slots counted as taken.
    remaining: int
    #: When the oldest counted request leaves the window (None: nothing counted yet).
    resets_at: float | None
    #: Until when Gett asked every process to hold this class (None: no pause).
    paused_until: float | None
    #: Processes seen using the key in the last window (the fallback share divides by it).
    processes: int
    fallback_active: bool
    #: Outages so far (each switch from Redis to the in-process fallback counts once).
    fallbacks: int


class RateLimitGate(Protocol):
    """What the session manager needs from a rate-limit gate."""

    async def acquire(self, kind: str, *, priority: Priority = INTERACTIVE) -> None:
        """Wait until one more request of ``kind`` may start; called before every attempt.
        ``priority`` says who asks (streams send ``batch``)."""

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """Called exactly once per `acquire`, when the attempt ends (``headers`` None: no answer)."""


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
                validate.whole(name, value, minimum=1)
        self._accounts = {READ: RateWindow(reads_per_minute), WRITE: RateWindow(writes_per_minute)}
        self.max_wait = None if max_wait is None else validate.seconds("max_wait", max_wait, allow_zero=True)
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

    def state(self, kind: str) -> GateState:
        """What this gate knows of ``kind`` now: the largest window Gett has shown (else the
        fixed budget; 0 when neither is known), what is left of it, when it resets, and until
        when Gett asked for a pause."""
        account, now = self._accounts[kind], self._clock()
        wait = account.wait(now)
        limit = account.limit_seen or account.per_minute or 0
        remaining = max(0, account.budget) if account.budget is not None else limit
        return GateState(
            kind=kind, limit=limit, remaining=remaining,
            resets_at=account.reset_at or None, paused_until=now + wait if wait > 0 else None,
            processes=1, fallback_active=False, fallbacks=0,
        )

    def paused_for(self, kind: str) -> float:
        """Seconds a new request of ``kind`` would wait now (0 when it may start at once)."""
        return self._accounts[kind].wait(self._clock())

    async def acquire(self, kind: str, *, priority: Priority = INTERACTIVE) -> None:
        """Wait for room; a wait longer than ``max_wait`` fails at once with RateLimitError.
        Every priority shares one budget here (one process sees no one else to yield to)."""
        account = self._accounts[kind]
        while True:
            now = self._clock()
            wait = account.wait(now)
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
        account.take(now)

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """Learn from the answer of an attempt this gate let through (see `RateWindow.settle`)."""
        self._accounts[kind].settle(self._clock(), headers, retry_after)
