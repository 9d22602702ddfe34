"""``gett.orders``: the Update Order Status endpoint plus the order domain on top of it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from .._core.paths import ApiPaths
from .._http.gate import WRITE
from .._http.sender import Sender
from ..models import OrderState, OrderStatus
from ..models.enums import AnyStateValue, OpenStatusValue
from ..resources.orders import OrderUpdates
from .stream import Checkpoint, CircuitBreaker, Events, OrderStream, Seed, StreamSummary, summarize
from .stream.events import E
from .tracker import OrderTracker


class Orders(OrderUpdates):
    """``gett.orders``: single updates (`update_status`, `complete`, `cancel`), trackers, streams."""

    __slots__ = ("connection_limit",)

    def __init__(self, sender: Sender, paths: ApiPaths, connection_limit: int | None) -> None:
        super().__init__(sender, paths)
        #: The client's connection pool size (None for a custom transport): streams warn above it.
        self.connection_limit = connection_limit

    def writes_wait(self) -> bool:
        """True when the client's gate says a write would wait now: its ``paused_for("write")``
        is above 0 (the in-process gates), or else its ``state("write")`` shows nothing
        ``remaining`` or a pause not over (`gett_async.redis.RedisRateLimitGate`, as of its
        last answer: its pause is by Redis's clock, close enough to ours for a hint). A gate
        with neither never says so. Streams read this to decide when to spend writes by
        priority."""
        gate = self._sender.gate
        paused_for = getattr(gate, "paused_for", None)
        if callable(paused_for):
            return bool(paused_for(WRITE) > 0)
        state = getattr(gate, "state", None)
        if callable(state):
            known = state(WRITE)
            paused_until = getattr(known, "paused_until", None)
            return bool(known.remaining <= 0 or (paused_until is not None and paused_until > time.time()))
        return False

    def track(
        self,
        order_id: str | uuid.UUID,
        *,
        status: OrderStatus | OpenStatusValue = "pending",
        state: OrderState | AnyStateValue = "open",
        strict: bool = False,
    ) -> OrderTracker:
        """An `OrderTracker` for one order, starting from its acknowledged status/state.

        Refuses (GettValidationError) a non-UUID order id and unknown status or state values.
        """
        return OrderTracker(self, order_id, status=status, state=state, strict=strict)

    def stream(
        self,
        events: Events[E],
        *,
        concurrency: int = 16,
        strict: bool = False,
        snapshots: Iterable[Seed] | None = None,
        buffer: int | None = None,
        closed_memory: int = 50_000,
        checkpoint: Checkpoint | None = None,
        retry_failed: bool = False,
        key_field: str | None = None,
        ignore_unknown_keys: bool = False,
        breaker: CircuitBreaker | None = None,
    ) -> OrderStream[E]:
        """Stream events in, outcomes out: an `OrderStream` (see `gett_async.orders.stream`).

        ``concurrency`` requests at most in flight; ``strict`` refuses skipped statuses;
        ``snapshots`` (`OrderTracker.snapshot` dicts or trackers) seed orders where they are;
        at most ``buffer`` events held (default ``max(64, 4 * concurrency)``); the last
        ``closed_memory`` closed orders remembered, so late events for them are refused.

        ``checkpoint`` (`gett_async.checkpoints.FileCheckpoint` / `SqliteCheckpoint`, or any
        `Checkpoint`) records each event's final outcome by key and each moved order's state;
        a stream started on the same store skips events already done and continues each order
        where it was (``retry_failed``: failed and blocked events are sent again). Mapping
        events are keyed by ``key_field`` (an `OrderEvent` by its ``key``; else the position
        in the input); ``ignore_unknown_keys`` accepts mapping keys that are not wire keys.
        ``breaker`` says when connection failures pause and then abort the stream.

        Refuses (GettValidationError) ``concurrency`` < 1, ``buffer`` < ``concurrency``, a
        seed without a UUID order id and a ``key_field`` that is a wire key; bad events are
        not raised but come out as ``refused``.
        """
        return OrderStream(
            self, events, concurrency=concurrency, strict=strict, snapshots=snapshots, buffer=buffer,
            closed_memory=closed_memory, checkpoint=checkpoint, retry_failed=retry_failed, key_field=key_field,
            ignore_unknown_keys=ignore_unknown_keys, breaker=breaker,
        )

    async def send_all(
        self,
        events: Events[E],
        *,
        concurrency: int = 16,
        strict: bool = False,
        snapshots: Iterable[Seed] | None = None,
        buffer: int | None = None,
        closed_memory: int = 50_000,
        keep: int = 1000,
        checkpoint: Checkpoint | None = None,
        retry_failed: bool = False,
        key_field: str | None = None,
        ignore_unknown_keys: bool = False,
        breaker: CircuitBreaker | None = None,
    ) -> StreamSummary[E]:
        """Stream every event and return the summary (counts per kind, the first ``keep``
        failures and refusals, the source's error, why it stopped early). The options are
        `stream`'s. Refuses what `stream` refuses."""
        stream = self.stream(
            events, concurrency=concurrency, strict=strict, snapshots=snapshots, buffer=buffer,
            closed_memory=closed_memory, checkpoint=checkpoint, retry_failed=retry_failed, key_field=key_field,
            ignore_unknown_keys=ignore_unknown_keys, breaker=breaker,
        )
        return await summarize(stream, keep=keep)
