"""The default HeaderRateLimitGate against the emulator's real write budget, over loopback.

The emulator allows ``writes`` writes per ``window``-second fixed window (windows aligned
to multiples of the window on the Unix clock; a fractional window gives fractional
``X-RateLimit-Reset`` headers). The stream pushes enough updates to span several
windows at concurrency 16. The gate must keep the 429s rare (it waits for the reset
instead of burning requests) and still use nearly the whole budget of every window.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import pytest

from gett_async import GettClient, RetryPolicy
from gett_async.orders.stream import OrderEvent, OutcomeKind
from gett_async.testing import GettEmulator

LIFECYCLE = ("confirmed", "preparing", "ready", "inTransit", "completed")
CONCURRENCY = 16


def _events(order_ids: list[str], rng: random.Random) -> list[OrderEvent]:
    """Each order's lifecycle, interleaved at random (each order keeps its own order)."""
    queues = [
        [OrderEvent(oid, state=s) if s == "completed" else OrderEvent(oid, status=s) for s in LIFECYCLE]
        for oid in order_ids
    ]
    merged: list[OrderEvent] = []
    while queues:
        i = rng.randrange(len(queues))
        merged.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    return merged


@pytest.mark.parametrize(
    ("window", "writes", "orders"),
    [
        pytest.param(1.0, 40, 56, id="40-per-1s"),  # 5 x 56 = 280 writes: 7 windows
        pytest.param(0.5, 25, 30, id="25-per-0.5s"),  # 150 writes: 6 windows
    ],
)
async def test_header_gate_uses_the_window_budget_without_429s(
    window: float, writes: int, orders: int, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(11)
    async with GettEmulator(writes_per_window=writes, window_seconds=window, reads_per_window=0) as emu:
        order_ids = [emu.create_order() for _ in range(orders)]
        events = _events(order_ids, rng)
        # Retries stay on (a 429 is retried after its reset), with short waits for the rest.
        retry = RetryPolicy(max_retries=8, base=0.01, cap=0.1)
        started = time.perf_counter()
        async with GettClient(api_key=emu.api_key, base_url=emu.url, retry=retry) as gett:
            kinds: Counter[OutcomeKind] = Counter()
            # strict: every event is a write here, so the gate's use of the budget is what is measured
            # (a lenient stream collapses statuses once writes wait, spending fewer).
            async with gett.orders.stream(events, concurrency=CONCURRENCY, strict=True) as stream:
                async for outcome in stream:
                    kinds[outcome.kind] += 1
        wall = time.perf_counter() - started

        assert kinds[OutcomeKind.SENT] == len(events), kinds
        assert emu.stats.applied_updates == len(events)
        requests = emu.stats.requests
        limited = emu.stats.rate_limited
        assert requests == len(emu.requests)

        # The achieved rate. Windows are fixed and aligned (id = floor(time / window)), so
        # each applied update belongs to exactly one window by its arrival time. The first
        # window the run touched started before the run did, and the last one ended after
        # it, so both are partial and are left out: only the windows in between were fully
        # available to the client, and in each of those it could apply at most writes
        # updates. achieved = applied in full windows / (full windows x writes).
        per_window = Counter(math.floor(r.time / window) for r in emu.requests if r.status == 204)
        first, last = min(per_window), max(per_window)
        full = range(first + 1, last)
        assert len(full) >= 4, f"the run spanned only {last - first + 1} windows"
        applied_in_full = sum(per_window[w] for w in full)
        achieved = applied_in_full / (len(full) * writes)

        with capsys.disabled():  # the figures belong in CI's log
            print()
            print(
                f"rate limit: {len(events)} writes, limit {writes} per {window:g} s, concurrency {CONCURRENCY}, "
                f"wall {wall:.2f} s"
            )
            print(
                f"  requests={requests} answered 429={limited} ({limited / requests:.2%}); "
                f"windows spanned={last - first + 1} (full {len(full)})"
            )
            print(f"  applied per window: {[per_window[w] for w in range(first, last + 1)]}")
            print(f"  achieved {applied_in_full}/{len(full) * writes} = {achieved:.1%} of the allowed rate "
                  "in full windows")

        assert max(per_window.values()) <= writes  # the emulator's own invariant
        assert limited / requests <= 0.01
        assert achieved >= 0.90
