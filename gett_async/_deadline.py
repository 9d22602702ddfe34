"""Total-time deadlines for calls in flight, with one timer per second instead of one per call.

aiohttp enforces ``ClientTimeout.total`` with a timer of its own for every request (a handle on
the loop's heap and a context object around the request); against a fast server that is about
8% of a request's client CPU. Here calls whose deadlines fall in the same second share one
timer. When it fires, the task of each call still in flight is cancelled, and the transport
turns that cancellation into `APITimeoutError` the way ``asyncio.timeout`` does: only when no
one else asked to cancel the task meanwhile.

Deadlines are rounded up to the whole second, as aiohttp itself rounds timeouts over its
``ceil_threshold`` (5 s); shorter totals are left to aiohttp's exact timer (`shared`).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

#: Totals up to this many seconds keep aiohttp's exact per-request timer (aiohttp's ceil_threshold).
EXACT_UP_TO = 5.0

#: Python 3.10 has no Task.uncancel: there aiohttp keeps enforcing every total.
SUPPORTED = hasattr(asyncio.Task, "uncancel")


def shared(total: float | None) -> bool:
    """True when a total of ``total`` seconds is enforced here rather than by aiohttp."""
    return SUPPORTED and total is not None and total > EXACT_UP_TO


class Deadline:
    """One armed call: which task to cancel, and whether its deadline has passed."""

    __slots__ = ("bucket", "cancelling", "expired", "task")

    def __init__(self, task: Any, bucket: dict[Deadline, None]) -> None:
        self.task = task  # an asyncio.Task (typed Any: cancelling/uncancel are 3.11+)
        self.bucket = bucket
        self.cancelling = task.cancelling()  # cancel requests that were not ours
        self.expired = False

    def disarm(self) -> None:
        """The call ended in time (or not): its second's timer must leave it alone."""
        self.bucket.pop(self, None)

    def ours(self) -> bool:
        """After a CancelledError: True when the deadline caused it and nobody else cancelled
        the task (then the cancellation is withdrawn and the call times out instead)."""
        return self.expired and self.task.uncancel() <= self.cancelling


class Deadlines:
    """The shared timers of one transport (one event loop)."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[int, dict[Deadline, None]] = {}

    def arm(self, seconds: float, loop: asyncio.AbstractEventLoop) -> Deadline:
        """Start the current task's deadline, ``seconds`` from now rounded up to the second.

        ``loop`` is the running loop, passed in: asking asyncio for it costs a getpid() call."""
        when = math.ceil(loop.time() + seconds)
        bucket = self._buckets.get(when)
        if bucket is None:
            bucket = self._buckets[when] = {}
            loop.call_at(when, self._expire, when)
        task = asyncio.current_task(loop)
        assert task is not None  # a coroutine awaited by the transport always runs in a task
        deadline = Deadline(task, bucket)
        bucket[deadline] = None
        return deadline

    def _expire(self, when: int) -> None:
        for deadline in self._buckets.pop(when, {}):
            deadline.expired = True
            deadline.task.cancel()

    def __len__(self) -> int:
        """Calls armed and not yet ended (for tests)."""
        return sum(len(bucket) for bucket in self._buckets.values())
