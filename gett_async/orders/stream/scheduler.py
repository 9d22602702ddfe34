"""Which queued event goes next: per-key FIFO queues, one item out per key, coalescing (no I/O)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Scheduler(Generic[K, T]):
    """Per-key FIFO queues with at most one item *out* (popped, not yet `done`) per key.

    Keys become ready in the order they got work, so no key starves another. An item for
    which ``coalesces`` is true replaces the item waiting just before it in its queue when
    that one coalesces too (both still waiting): `push` returns the replaced item.
    Memory is per key with work: a key leaves when its queue is empty and nothing is out.
    """

    __slots__ = ("_coalesces", "_out", "_queues", "_ready")

    def __init__(self, coalesces: Callable[[T], bool] = lambda item: False) -> None:
        self._coalesces = coalesces
        # A key's waiting items; a key is here while it has some, or has one out. A list, not a
        # deque: one order's queue is short, and an empty deque costs ~600 bytes to a list's 56.
        self._queues: dict[K, list[T]] = {}
        self._out: set[K] = set()
        self._ready: collections.deque[K] = collections.deque()  # keys with waiting items and none out

    def push(self, key: K, item: T) -> T | None:
        """Queue ``item`` behind ``key``'s earlier items; return the item it replaced, if any."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = []
        elif queue and self._coalesces(item) and self._coalesces(queue[-1]):
            replaced, queue[-1] = queue[-1], item
            return replaced
        queue.append(item)
        if len(queue) == 1 and key not in self._out:
            self._ready.append(key)
        return None

    def pop(self) -> tuple[K, T] | None:
        """The next item of the longest-ready key (now out until `done`), or None."""
        if not self._ready:
            return None
        key = self._ready.popleft()
        self._out.add(key)
        return key, self._queues[key].pop(0)

    def done(self, key: K) -> bool:
        """``key``'s item is back; return True when the key has nothing left (it is forgotten)."""
        self._out.remove(key)
        if self._queues[key]:
            self._ready.append(key)
            return False
        del self._queues[key]
        return True

    def retry(self, key: K, item: T) -> None:
        """``key``'s item is back unfinished: it goes first again (the key is no longer out)."""
        self._out.remove(key)
        queue = self._queues[key]
        queue.insert(0, item)
        self._ready.append(key)

    def drain(self) -> tuple[list[tuple[K, T]], list[K]]:
        """Take every waiting item; return them and the keys that now have no work (keys
        with one out keep it out until `done`)."""
        taken = [(key, item) for key, queue in self._queues.items() for item in queue]
        idle = [key for key in self._queues if key not in self._out]
        for key in idle:
            del self._queues[key]
        for queue in self._queues.values():
            queue.clear()
        self._ready.clear()
        return taken, idle

    def waiting(self, key: K) -> int:
        """How many items of ``key`` wait (not counting one that is out)."""
        return len(self._queues.get(key, ()))

    @property
    def keys(self) -> int:
        """Keys with work: items waiting or one out."""
        return len(self._queues)

    @property
    def out(self) -> int:
        """Items popped and not yet done."""
        return len(self._out)

    def __bool__(self) -> bool:
        """True when `pop` would return an item."""
        return bool(self._ready)
