"""Slot arithmetic of the shared (Redis) rate-limit gate, without Redis and without a loop.

The shared gate keeps, per organisation and request class, a *log*: the start times of the
requests sent in the last window and of those reserved in the future. A new caller gets the
earliest time at which one more request keeps every rolling window of the log within the
limit, reserves it, and sleeps until then. `first_free` is that rule; the Lua script in
`gett_async.redis` is the same rule run inside Redis (a test runs both on the same logs).
The in-process fallback runs `first_free` itself on the process's own log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..errors import GettValidationError

#: The default safety margin, as a fraction of the window (capped by `MAX_MARGIN`): every
#: window is counted this much longer than Gett's, so a request that leaves a little late
#: (network jitter, a busy event loop) cannot land in the same Gett window as the request one
#: window after it. 0.5 % of a minute is 0.3 s, capped to 0.25 s: 0.4 % of the budget.
MARGIN_FRACTION = 0.005
MAX_MARGIN = 0.25


def default_margin(window: float) -> float:
    """The safety margin used when none is given: 0.5 % of ``window``, at most 0.25 s."""
    return min(MAX_MARGIN, window * MARGIN_FRACTION)


def first_free(log: Sequence[float], start: float, limit: int, span: float) -> float:
    """The earliest time ``t >= start`` at which one more entry keeps every window of length
    ``span`` (half-open, ``[a, a + span)``) that contains ``t`` below ``limit`` entries.

    ``log`` must be sorted. Each run of ``limit`` consecutive entries closer together than
    ``span`` forbids the open interval ``(last - span, first + span)``; both ends grow with
    the run's position, so one pass finds the first time outside all of them.
    Refuses (GettValidationError) a ``limit`` below 1 and a ``span`` that is not > 0.
    """
    if limit < 1:
        raise GettValidationError("limit", f"must be at least 1, got {limit}")
    if not span > 0:
        raise GettValidationError("span", f"must be > 0, got {span}")
    t = start
    for i in range(len(log) - limit + 1):
        first, last = log[i], log[i + limit - 1]
        if last - span >= t:
            break  # every later run starts its interval later still
        if last - first < span and t < first + span:
            t = first + span
    return t


def reserve_count(limit: int, reserve: float) -> int:
    """How many of ``limit`` requests per window batch callers leave to interactive ones:
    ``floor(limit * reserve)``, but never all of them (batch keeps at least one)."""
    return min(math.floor(limit * reserve), limit - 1)


def class_limit(limit: int, reserve: float, *, batch: bool) -> int:
    """The limit a caller of one priority counts against: interactive callers may use the
    whole ``limit``; batch callers stop ``reserve_count`` short of it."""
    return limit - reserve_count(limit, reserve) if batch else limit


def batch_spacing(span: float, limit: int, reserve: float) -> float:
    """The least time between two batch slots: batch work is paced evenly over the window
    (its share of it) instead of bursting at each window's start, so one late request
    never meets a crowd of others on Gett's side and the reserve stays free at all times."""
    return span / class_limit(limit, reserve, batch=True)


def fallback_share(limit: int, processes: int) -> int:
    """One process's share of ``limit`` while Redis cannot be reached: an equal part for each
    of ``processes`` (those last seen using the same key, this one included), at least 1."""
    return max(1, limit // max(1, processes))
