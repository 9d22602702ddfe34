"""What the write budget buys: a strict (FIFO) stream against a budget-aware one.

Both runs send the same events, arriving in bursts, to a fresh emulator with a scaled write
budget (``writes`` per ``window`` seconds, a sliding window: never more in any rolling
window) through `WindowGate`, a gate that knows that budget exactly (as a shared Redis
gate does in production; the header-driven default learns a *fixed* window from the
headers, and against a sliding one it bursts into 429s at each reset, which would blur
what is measured here). Measured per run: the write
requests the emulator received (429s included), the updates it applied, the 429s, and the
seconds from the first burst until every order's final state was at the emulator (the
time of the last applied update). Then whether both runs left every order in the same
position with the same ETA.

The stream's ``buffer`` holds the whole input, so it sees the backlog the budget leaves
(with a small buffer, fewer waiting events means less to collapse).
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from gett_async import GettClient, Priority, RetryPolicy
from gett_async.orders.stream import OrderEvent
from gett_async.testing import GettEmulator

WRITE = "write"  # the gate's name for a write (see RateLimitGate)

ETA = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
PROGRESS = ("confirmed", "preparing", "ready", "inTransit")


class WindowGate:
    """At most ``writes`` writes in any ``window`` seconds (a sliding log, with a small margin
    for the emulator's clock); reads are free. ``paused_for`` lets a stream see the wait."""

    def __init__(self, writes: int, window: float) -> None:
        self.writes = writes
        self.window = window * 1.02
        self.sent: collections.deque[float] = collections.deque()

    def paused_for(self, kind: str) -> float:
        if kind != WRITE:
            return 0.0
        now = time.monotonic()
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        return 0.0 if len(self.sent) < self.writes else self.sent[0] + self.window - now

    async def acquire(self, kind: str, *, priority: Priority = "interactive") -> None:
        while True:  # a sleep until the oldest write leaves the window, then look again
            wait = self.paused_for(kind)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if kind == WRITE:
            self.sent.append(time.monotonic())

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        """Nothing to learn: the budget is known."""


def plan(orders: int, seed: int = 12) -> tuple[list[str], list[OrderEvent]]:
    """Each order's life (its progress, an ETA or two, then completed or, for one in ten,
    cancelled), the orders interleaved at random, each keeping its own order."""
    rng = random.Random(seed)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(orders)]
    lives: list[list[OrderEvent]] = []
    for order_id in ids:
        life = [OrderEvent(order_id, status="confirmed")]
        for status in PROGRESS[1:]:
            if status == "ready" and rng.random() < 0.5:
                eta = ETA + timedelta(minutes=rng.randrange(1, 90))
                life.append(OrderEvent(order_id, estimated_ready_at=eta))
            life.append(OrderEvent(order_id, status=status))
        if rng.random() < 0.1:
            life.append(OrderEvent(order_id, state="cancelled", cancel_reason="the customer cancelled"))
        else:
            life.append(OrderEvent(order_id, state="completed"))
        lives.append(life)
    events: list[OrderEvent] = []
    while lives:
        i = rng.randrange(len(lives))
        events.append(lives[i].pop(0))
        if not lives[i]:
            lives.pop(i)
    return ids, events


async def bursts(events: list[OrderEvent], size: int, every: float) -> AsyncIterator[OrderEvent]:
    """``events`` in bursts of ``size``, one burst every ``every`` seconds."""
    for start in range(0, len(events), size):
        if start:
            await asyncio.sleep(every)
        for event in events[start:start + size]:
            yield event


async def one_run(
    ids: list[str], events: list[OrderEvent], *, strict: bool, writes: int, window: float, burst: int, every: float,
    concurrency: int,
) -> dict[str, Any]:
    async with GettEmulator(writes_per_window=writes, window_seconds=window, sliding_window=True,
                            reads_per_window=0) as emu:
        for order_id in ids:
            emu.create_order(order_id=order_id)
        retry = RetryPolicy(max_retries=20, base=0.01, cap=0.2)
        started = time.time()
        kinds: Counter[str] = Counter()
        gate = WindowGate(writes, window)
        async with GettClient(api_key=emu.api_key, base_url=emu.url, retry=retry, gate=gate) as gett:
            stream = gett.orders.stream(bursts(events, burst, every), concurrency=concurrency, strict=strict,
                                        buffer=len(events))
            async with stream:
                async for outcome in stream:
                    kinds[outcome.kind.value] += 1
        writes_sent = sum(1 for r in emu.requests if r.operation == "order_status")
        applied = [u.time for order in emu.orders.values() for u in order.history]
        finals = {oid: (o.position, None if o.estimated_ready_at is None else o.estimated_ready_at.isoformat())
                  for oid, o in emu.orders.items()}
        return {
            "strict": strict,
            "outcomes": dict(kinds),
            "write_requests": writes_sent,
            "applied_updates": emu.stats.applied_updates,
            "rate_limited": emu.stats.rate_limited,
            "seconds_to_fresh": max(applied) - started if applied else 0.0,
            "finals": finals,
        }


def run(*, orders: int = 800, writes: int = 60, window: float = 2.0, burst: int = 500, every: float = 1.0,
        concurrency: int = 16) -> dict[str, Any]:
    """Both runs on the same plan; figures and ratios (strict over budget-aware)."""
    ids, events = plan(orders)
    options = {"writes": writes, "window": window, "burst": burst, "every": every, "concurrency": concurrency}
    fifo = asyncio.run(one_run(ids, events, strict=True, **options))
    aware = asyncio.run(one_run(ids, events, strict=False, **options))
    fifo_finals, aware_finals = fifo.pop("finals"), aware.pop("finals")
    same = fifo_finals == aware_finals
    differ = sorted(oid for oid in fifo_finals if fifo_finals[oid] != aware_finals.get(oid))
    return {
        "config": {"orders": orders, "events": len(events), **options, "sliding_window": True},
        "fifo": fifo,
        "budget_aware": aware,
        "same_final_states": same,
        "orders_differing": len(differ),
        "differing_example": [fifo_finals[differ[0]], aware_finals[differ[0]]] if differ else None,
        "fewer_writes": fifo["write_requests"] / max(1, aware["write_requests"]),
        "sooner": fifo["seconds_to_fresh"] / max(1e-9, aware["seconds_to_fresh"]),
    }
