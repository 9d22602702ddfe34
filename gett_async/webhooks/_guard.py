"""The duplicate-delivery guard: one handler run per delivered body, its answer replayed.

Gett's signature covers the body only, so a captured request can be sent again with a fresh
``Timestamp`` and still verify. The guard keys each verified delivery by its kind and the
SHA-256 of its body: while the first delivery is being handled, a duplicate waits for its
answer; once that answer is a 2xx, duplicates get it again without running the handler; any
other outcome (a problem answer, an exception) releases the key, so Gett's retry runs the
handler again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from typing import Protocol, runtime_checkable

import attrs

from .._core import validate as _validate


@attrs.frozen(slots=True)
class WebhookResponse:
    """What the receiver answers: a status, a body and its headers (framework-neutral)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class DeliveryStore(Protocol):
    """Where the guard keeps deliveries; implement it on a shared store (e.g. Redis) for many processes.

    ``claim`` returns None when the caller now holds ``key`` and must run the handler (then
    call exactly one of ``complete`` or ``release``); the stored response when ``key``
    completed less than ``ttl`` seconds ago; and while another caller holds ``key``, it waits
    until that caller completes (returning its response) or releases (then it claims again).
    A shared implementation should let a claim lapse after ``ttl`` (e.g. ``SET key NX EX
    ttl``), so a process that died holding one does not block the key for ever.
    """

    async def claim(self, key: str, *, now: float, ttl: float) -> WebhookResponse | None: ...

    async def complete(self, key: str, response: WebhookResponse, *, now: float, ttl: float) -> None: ...

    async def release(self, key: str) -> None: ...


class MemoryDeliveryStore:
    """The default `DeliveryStore`: one process's memory, at most ``max_entries`` answers.

    Refuses (GettValidationError) a ``max_entries`` below 1.
    """

    __slots__ = ("_done", "_held", "max_entries")

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = _validate.whole("max_entries", max_entries, minimum=1)
        self._done: OrderedDict[str, tuple[float, WebhookResponse]] = OrderedDict()
        self._held: dict[str, asyncio.Future[WebhookResponse | None]] = {}

    def __len__(self) -> int:
        """Answers remembered (including expired ones not yet dropped)."""
        return len(self._done)

    async def claim(self, key: str, *, now: float, ttl: float) -> WebhookResponse | None:
        """See `DeliveryStore.claim`."""
        while True:
            done = self._done.get(key)
            if done is not None:
                if done[0] > now:
                    return done[1]
                del self._done[key]
            holder = self._held.get(key)
            if holder is None:
                self._held[key] = asyncio.get_running_loop().create_future()
                return None
            # Shielded: a waiter that is cancelled must not cancel the holder's future.
            response = await asyncio.shield(holder)
            if response is not None:
                return response

    async def complete(self, key: str, response: WebhookResponse, *, now: float, ttl: float) -> None:
        """See `DeliveryStore.complete`."""
        done = self._done
        while done:  # the oldest first: drop what has expired, then what exceeds the cap
            oldest_key, (expires, _) = next(iter(done.items()))
            if expires > now and len(done) < self.max_entries:
                break
            del done[oldest_key]
        done[key] = (now + ttl, response)
        done.move_to_end(key)
        self._wake(key, response)

    async def release(self, key: str) -> None:
        """See `DeliveryStore.release`."""
        self._wake(key, None)

    def _wake(self, key: str, response: WebhookResponse | None) -> None:
        holder = self._held.pop(key, None)
        if holder is not None and not holder.done():
            holder.set_result(response)


def delivery_key(kind: str, body: bytes) -> str:
    """The guard's key of a delivery: its kind and the SHA-256 of its raw body.

    The kind is part of it because validateOrder and placeOrder may carry the same body.
    """
    return f"{kind}:{hashlib.sha256(body).hexdigest()}"
