"""Read and write budgets, as Gett documents them (1,000 reads and 100 writes per minute per
organisation). By default windows are fixed, aligned to multiples of their length; with
``sliding=True`` every rolling window is counted (strict: no window of that length ever holds
more than the budget), which is what a shared gate must satisfy whatever Gett's windows are."""

from __future__ import annotations

import collections
import contextlib
import math
from typing import NamedTuple

#: ``X-RateLimit-Remaining`` sent for an unlimited budget (clients see plenty left).
UNLIMITED_REMAINING = 1_000_000

#: Window length used for ``X-RateLimit-Reset`` when no window is configured.
_DEFAULT_WINDOW = 60.0


class Quota(NamedTuple):
    """The outcome of one budget check."""

    allowed: bool
    remaining: int
    #: Unix time when the window resets.
    reset: float
    #: Seconds until the reset: an int when windows are whole seconds, else exact.
    retry_after: float


class RateLimiter:
    """Separate read and write budgets; a refused request consumes nothing."""

    __slots__ = ("_integral", "_limits", "_sent", "_sliding", "_used", "_window")

    def __init__(self, reads: int | None, writes: int | None, window: float | None, *, sliding: bool = False) -> None:
        unlimited = not window
        self._window = float(window) if window else _DEFAULT_WINDOW
        self._integral = self._window.is_integer()
        self._limits = {
            False: 0 if unlimited else int(reads or 0),
            True: 0 if unlimited else int(writes or 0),
        }
        # kind -> [window id, used in that window]
        self._used = {False: [-1, 0], True: [-1, 0]}
        self._sliding = sliding
        # kind -> arrival times of the requests counted in the last window (sliding only)
        self._sent: dict[bool, collections.deque[float]] = {False: collections.deque(), True: collections.deque()}

    def _current(self, now: float) -> tuple[int, float]:
        window_id = math.floor(now / self._window)
        reset = (window_id + 1) * self._window
        if reset <= now:  # float rounding at a boundary
            window_id += 1
            reset = (window_id + 1) * self._window
        return window_id, reset

    def _retry_after(self, reset: float, now: float) -> float:
        wait = reset - now
        return math.ceil(wait) if self._integral else wait

    def _state(self, is_write: bool, window_id: int) -> list[int]:
        state = self._used[is_write]
        if state[0] != window_id:
            state[0], state[1] = window_id, 0
        return state

    def _slide(self, is_write: bool, now: float) -> tuple[collections.deque[float], float]:
        """The requests still counted at ``now`` and when the oldest of them stops counting
        (``now`` when none is)."""
        sent = self._sent[is_write]
        while sent and now - sent[0] >= self._window:
            sent.popleft()
        return sent, sent[0] + self._window if sent else now

    def take(self, is_write: bool, now: float) -> Quota:
        """Consume one request of the budget if any is left."""
        limit = self._limits[is_write]
        if self._sliding and limit:
            sent, reset = self._slide(is_write, now)
            if len(sent) >= limit:
                return Quota(False, 0, reset, reset - now)
            sent.append(now)
            return Quota(True, limit - len(sent), sent[0] + self._window, 0)
        window_id, reset = self._current(now)
        limit = self._limits[is_write]
        if not limit:
            return Quota(True, UNLIMITED_REMAINING, reset, 0)
        state = self._state(is_write, window_id)
        if state[1] >= limit:
            return Quota(False, 0, reset, self._retry_after(reset, now))
        state[1] += 1
        return Quota(True, limit - state[1], reset, 0)

    def peek(self, is_write: bool, now: float) -> Quota:
        """The budget as it stands, consuming nothing (for requests refused before the check)."""
        limit = self._limits[is_write]
        if self._sliding and limit:
            sent, reset = self._slide(is_write, now)
            left = limit - len(sent)
            return Quota(left > 0, left, reset, 0 if left > 0 else reset - now)
        window_id, reset = self._current(now)
        limit = self._limits[is_write]
        if not limit:
            return Quota(True, UNLIMITED_REMAINING, reset, 0)
        left = limit - self._state(is_write, window_id)[1]
        return Quota(left > 0, left, reset, 0 if left > 0 else self._retry_after(reset, now))

    def refund(self, is_write: bool, now: float) -> None:
        """Give back one request taken in the current window (an injected 429 costs nothing)."""
        if self._sliding:
            with contextlib.suppress(ValueError):  # taken at ``now``; others may have come since
                self._sent[is_write].remove(now)
            return
        window_id, _ = self._current(now)
        state = self._used[is_write]
        if self._limits[is_write] and state[0] == window_id and state[1] > 0:
            state[1] -= 1


def format_seconds(value: float) -> str:
    """A header value: whole numbers without a fraction, others to the microsecond."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def headers(quota: Quota) -> dict[str, str]:
    """The ``X-RateLimit-*`` headers every response carries."""
    return {
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": format_seconds(quota.reset),
    }
