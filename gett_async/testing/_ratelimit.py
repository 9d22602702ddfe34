"""Fixed-window read and write budgets, as Gett documents them (1,000 reads and 100 writes
per minute per organisation). Windows are aligned to multiples of their length."""

from __future__ import annotations

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

    __slots__ = ("_integral", "_limits", "_used", "_window")

    def __init__(self, reads: int | None, writes: int | None, window: float | None) -> None:
        unlimited = not window
        self._window = float(window) if window else _DEFAULT_WINDOW
        self._integral = self._window.is_integer()
        self._limits = {
            False: 0 if unlimited else int(reads or 0),
            True: 0 if unlimited else int(writes or 0),
        }
        # kind -> [window id, used in that window]
        self._used = {False: [-1, 0], True: [-1, 0]}

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

    def take(self, is_write: bool, now: float) -> Quota:
        """Consume one request of the budget if any is left."""
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
        window_id, reset = self._current(now)
        limit = self._limits[is_write]
        if not limit:
            return Quota(True, UNLIMITED_REMAINING, reset, 0)
        left = limit - self._state(is_write, window_id)[1]
        return Quota(left > 0, left, reset, 0 if left > 0 else self._retry_after(reset, now))

    def refund(self, is_write: bool, now: float) -> None:
        """Give back one request taken in the current window (an injected 429 costs nothing)."""
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
