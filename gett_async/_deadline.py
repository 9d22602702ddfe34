"""Total-time deadlines for calls in flight, with one timer per second instead of one per call.

aiohttp enforces ``ClientTimeout.total`` with a timer of its own for every request (a handle on
the loop's heap and a context object around the request); against a fast server that is about
8% of a request's client CPU. Here calls whose deadlines fall in the same second share one
timer. When it fires, the task of each call still in flight is cancelled, and the transport
turns that cancellation into `APITimeoutError` the way ``asyncio.timeout`` does: only when no
one else asked to cancel the task meanwhile.

Deadlines are rounded up to the whole second, as aiohttp itself rounds timeouts over its
``ceil_threshold`` (5 s by default); totals it keeps exact are left to aiohttp (`shared`).
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

#: Python 3.10 has no Task.uncancel: there aiohttp keeps enforcing every total.
SUPPORTED = hasattr(asyncio.Task, "uncancel")


def shared(total: float | None, ceil_threshold: float) -> bool:
    """True when a total of ``total`` seconds is enforced here rather than by aiohttp: when
    aiohttp would round it up to the second too (over its ``ceil_threshold``)."""
    return SUPPORTED and total is not None and total > ceil_threshold


class Deadline:
    """One armed call: which task to cancel, and whether its deadline has passed."""

    __slots__ = ("bucket", "cancelling", "expired", "task", "withdrawn")

    def __init__(self, task: Any, bucket: dict[Deadline, None]) -> None:
        self.task = task  # an asyncio.Task (typed Any: cancelling/uncancel are 3.11+)
        self.bucket = bucket
        self.cancelling = task.cancelling()  # cancel requests that were not ours
        self.expired = False
        self.withdrawn = False

    def ours(self) -> bool:
        """After a CancelledError: True when the deadline caused it and nobody else cancelled
        the task (then the call times out instead)."""
        return self.expired and self._withdraw() <= self.cancelling

    def end(self) -> None:
        """The attempt is over: its second's timer must leave it alone, and a cancel request
        the deadline made is withdrawn even if its CancelledError was replaced on the way."""
        self.bucket.pop(self, None)
        if self.expired and not self.withdrawn:
            self._withdraw()

    def _withdraw(self) -> int:
        self.withdrawn = True
        return int(self.task.uncancel())


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
