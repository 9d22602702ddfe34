"""Shared deadline timers: the total timeouts of many attempts, with one loop timer per tick.

Arming a loop timer for every request (what ``aiohttp.ClientTimeout(total=...)`` does) is a
measurable share of a request's CPU (docs/PERFORMANCE.md). Here the attempts due in the same
tenth of a second share one timer; when it fires, each attempt still armed is handed to the
``expire`` callback its transport gave (aiohttp's cancels the task, the HTTP/1.1 transport
fails the attempt's future). A deadline is thus up to one tick late, as aiohttp's are (it
rounds totals above 5 s up to a second).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: Deadlines fall due on tenths of a second of the loop's clock: one timer for each tenth.
TICK = 0.1


class SharedDeadlines(Generic[T]):
    """Calls ``expire(item)`` for each item still armed when its deadline passes."""

    __slots__ = ("_due", "_expire", "loop")

    def __init__(self, expire: Callable[[T], None]) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None  # set by the transport when it binds
        self._due: dict[int, set[T]] = {}
        self._expire = expire

    def arm(self, item: T, seconds: float) -> int:
        """Expire ``item`` once ``seconds`` have passed, unless disarmed first; returns its tick."""
        loop = self.loop
        assert loop is not None  # the transport sets it before any request
        tick = math.ceil((loop.time() + seconds) / TICK)
        due = self._due.get(tick)
        if due is None:
            due = self._due[tick] = set()
            loop.call_at(tick * TICK, self._fire, tick)
        due.add(item)
        return tick

    def disarm(self, tick: int, item: T) -> None:
        """Forget ``item``'s deadline (nothing happens if it already expired)."""
        due = self._due.get(tick)
        if due is not None:
            due.discard(item)

    def _fire(self, tick: int) -> None:
        for item in self._due.pop(tick, ()):
            self._expire(item)
