"""Which queued event goes next: per-key FIFO queues, one item out per key, coalescing,
ranked pops (no I/O)."""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class Scheduler(Generic[K, T]):
    """Per-key FIFO queues with at most one item *out* (popped, not yet `done`) per key.

    Keys become ready in the order they got work, so no key starves another. An item for
    which ``coalesces`` is true replaces the item waiting just before it in its queue when
    that one coalesces too (both still waiting): `push` returns the replaced item.
    ``rank`` (0, 1, ... ``ranks - 1``) sorts a ready key by its first waiting item: `pop` with
    ``ranked`` takes the longest-ready key of the lowest rank, never an item that is not first
    in its queue (so a key's order is never inverted); without it, ranks are ignored. Two
    items that coalesce must have the same rank (a ready key stays filed under its first
    item's rank).
    Memory is per key with work: a key leaves when its queue is empty and nothing is out.
    """

    __slots__ = ("_coalesces", "_out", "_queues", "_rank", "_ready", "_seq")

    def __init__(
        self, coalesces: Callable[[T], bool] = lambda item: False, rank: Callable[[T], int] = lambda item: 0,
        ranks: int = 1,
    ) -> None:
        self._coalesces = coalesces
        self._rank = rank
        # A key's waiting items; a key is here while it has some, or has one out. A list, not a
        # deque: one order's queue is short, and an empty deque costs ~600 bytes to a list's 56.
        self._queues: dict[K, list[T]] = {}
        self._out: set[K] = set()
        # Keys with waiting items and none out, one deque per rank of their first item, each
        # entry stamped with when it became ready: an unranked pop takes the oldest stamp of
        # the deques' heads, so it is the plain FIFO of readiness.
        self._ready: list[collections.deque[tuple[int, K]]] = [collections.deque() for _ in range(ranks)]
        self._seq = 0

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
            self._make_ready(key)
        return None

    def _make_ready(self, key: K) -> None:
        # A ready key's first item changes only when it is popped (or coalesced with one of
        # the same kind), so the rank it is filed under stays right while it waits.
        self._ready[self._rank(self._queues[key][0])].append((self._seq, key))
        self._seq += 1

    def pop(self, *, ranked: bool = False) -> tuple[K, T] | None:
        """The first item of the longest-ready key (of the lowest rank, when ``ranked``),
        now out until `done`, or None."""
        heads = [deque for deque in self._ready if deque]
        if not heads:
            return None
        chosen = heads[0] if ranked else min(heads, key=lambda deque: deque[0][0])
        _, key = chosen.popleft()
        self._out.add(key)
        return key, self._queues[key].pop(0)

    def following(self, key: K) -> Sequence[T]:
        """The items of ``key`` waiting behind the one out, first first (a view: do not keep it)."""
        return self._queues.get(key, ())

    def take_following(self, key: K, count: int) -> list[T]:
        """Remove and return the first ``count`` items waiting behind ``key``'s item out.
        Refuses (ValueError) a key with no item out: its first item may be on its way."""
        if key not in self._out:
            raise ValueError(f"{key!r} has no item out")
        queue = self._queues[key]
        taken = queue[:count]
        del queue[:count]
        return taken

    def done(self, key: K) -> bool:
        """``key``'s item is back; return True when the key has nothing left (it is forgotten)."""
        self._out.remove(key)
        if self._queues[key]:
            self._make_ready(key)
            return False
        del self._queues[key]
        return True

    def retry(self, key: K, item: T) -> None:
        """``key``'s item is back unfinished: it goes first again (the key is no longer out)."""
        self._out.remove(key)
        queue = self._queues[key]
        queue.insert(0, item)
        self._make_ready(key)

    def drain(self) -> tuple[list[tuple[K, T]], list[K]]:
        """Take every waiting item; return them and the keys that now have no work (keys
        with one out keep it out until `done`)."""
        taken = [(key, item) for key, queue in self._queues.items() for item in queue]
        idle = [key for key in self._queues if key not in self._out]
        for key in idle:
            del self._queues[key]
        for queue in self._queues.values():
            queue.clear()
        for deque in self._ready:
            deque.clear()
        return taken, idle

    def waiting(self, key: K) -> int:
        """How many items of ``key`` wait (not counting one that is out)."""
        return len(self._queues.get(key, ()))

    @property
    def ready(self) -> int:
        """Keys whose first waiting item could go now (none of theirs is out)."""
        return sum(len(deque) for deque in self._ready)

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
        return any(self._ready)
