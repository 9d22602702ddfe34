"""`gett-async demo`: the SDK against the built-in emulator, with faults, no credentials.

It creates orders at the emulator, streams realistic lifecycles for them (with illegal
events and reason-less cancels mixed in, which must be refused locally), and checks that
nothing was lost: every event has one outcome, every sent update was applied exactly once
and in order, the emulator saw no illegal transition, and the refused events are exactly
the planned illegal ones.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from . import _console
from ._core.retry import RetryPolicy
from .client import GettClient
from .orders import OrderEvent, OutcomeKind, UpdateOutcome
from .testing import FaultConfig, GettEmulator


@attrs.frozen(slots=True)
class PlannedEvent:
    """A demo event and whether the plan expects the SDK to refuse it."""

    event: OrderEvent
    illegal: str | None = None  # why it must be refused, or None


def plan_lifecycles(order_ids: list[str], rng: random.Random) -> list[list[PlannedEvent]]:
    """One realistic event list per order: progress, ETA changes, a close, and mistakes."""
    plans = []
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for oid in order_ids:
        eta = now + timedelta(minutes=rng.randint(15, 40))
        events = [PlannedEvent(OrderEvent(oid, status="confirmed", estimated_ready_at=eta))]
        if rng.random() < 0.8:  # some kitchens never report preparing
            events.append(PlannedEvent(OrderEvent(oid, status="preparing")))
        for _ in range(rng.randint(0, 2)):
            eta += timedelta(minutes=rng.randint(1, 10))
            events.append(PlannedEvent(OrderEvent(oid, estimated_ready_at=eta)))
        roll = rng.random()
        if roll < 0.1:
            events.append(PlannedEvent(OrderEvent(oid, state="cancelled"), "a cancel needs a reason"))
            events.append(PlannedEvent(OrderEvent(oid, state="cancelled", cancel_reason="Item out of stock")))
        else:
            if rng.random() < 0.15:
                events.append(PlannedEvent(OrderEvent(oid, state="completed"), "completed before ready"))
            events.append(PlannedEvent(OrderEvent(oid, status="ready")))
            if rng.random() < 0.1:
                events.append(PlannedEvent(OrderEvent(oid, status="confirmed"), "progress moves forward only"))
            if rng.random() < 0.6:  # delivery; the rest are pickups going ready -> completed
                events.append(PlannedEvent(OrderEvent(oid, status="inTransit")))
            events.append(PlannedEvent(OrderEvent(oid, state="completed")))
        if rng.random() < 0.05:
            events.append(PlannedEvent(OrderEvent(oid, status="ready"), "the order is closed"))
        plans.append(events)
    return plans


def interleave(plans: list[list[PlannedEvent]], rng: random.Random) -> list[PlannedEvent]:
    """Merge the per-order lists at random, keeping each order's own order."""
    cursors = [iter(p) for p in plans]
    merged: list[PlannedEvent] = []
    live = list(range(len(cursors)))
    while live:
        i = rng.randrange(len(live))
        item = next(cursors[live[i]], None)
        if item is None:
            live[i] = live[-1]
            live.pop()
        else:
            merged.append(item)
    return merged


async def run_demo(
    *, orders: int = 200, concurrency: int = 32, fault_rate: float = 0.2, seed: int = 7, progress: bool = True
) -> int:
    """Run the demo; print a summary; return 0 only if nothing was lost."""
    rng = random.Random(seed)
    faults = FaultConfig.spread(fault_rate, latency=(0.0, 0.005))
    started = time.perf_counter()
    async with GettEmulator(faults=faults, seed=seed, writes_per_window=0, reads_per_window=0) as emu:
        order_ids = [emu.create_order() for _ in range(orders)]
        planned = interleave(plan_lifecycles(order_ids, rng), rng)
        # Two malformed events, as a replayed file might hold: a bad id and a typo'd status.
        planned.append(PlannedEvent(OrderEvent("../../admin", status="confirmed"), "not a UUID"))
        planned.append(PlannedEvent(OrderEvent(str(uuid.uuid4()), status="cooking"), "unknown status"))
        # Short waits keep the demo quick; eight retries make a 20 % fault rate lose nothing.
        retry = RetryPolicy(max_retries=8, base=0.05, cap=1.0)
        print(f"gett-async demo: {len(planned)} events for {orders} orders against the emulator at {emu.url}")
        print(f"  faults injected on {fault_rate:.0%} of writes (5xx, 429, connections dropped before and after apply)")
        outcomes: list[UpdateOutcome] = []
        async with GettClient(api_key=emu.api_key, base_url=emu.url, retry=retry) as gett:
            events = (p.event for p in planned)
            with _console.Progress("streaming", len(planned), enabled=progress) as bar:
                async with gett.orders.stream(events, concurrency=concurrency) as stream:
                    async for outcome in stream:
                        outcomes.append(outcome)
                        bar.advance(outcome.kind.value)
        wall = time.perf_counter() - started
        checks = verify(planned, outcomes, emu)
        report(planned, outcomes, emu, wall, checks)
    return 0 if all(ok for ok, _ in checks.values()) else 1


def verify(planned: list[PlannedEvent], outcomes: list[UpdateOutcome], emu: Any) -> dict[str, tuple[bool, str]]:
    """The demo's promises, each as (held, detail)."""
    by_index = {o.index: o for o in outcomes}
    checks: dict[str, tuple[bool, str]] = {}
    checks["every event has exactly one outcome"] = (
        len(by_index) == len(outcomes) == len(planned), f"{len(outcomes)} outcomes for {len(planned)} events"
    )
    wrongly = [i for i, p in enumerate(planned) if (p.illegal is not None) != (by_index[i].kind is OutcomeKind.REFUSED)]
    checks["refused exactly the illegal events"] = (not wrongly, f"{len(wrongly)} mismatches")
    sent: dict[str, list[str]] = {}
    for i, p in enumerate(planned):
        if by_index[i].kind is OutcomeKind.SENT:
            target = p.event.state or p.event.status
            sent.setdefault(p.event.order_id, []).append(target or "eta")
    mismatched = 0
    for oid, targets in sent.items():
        applied = [u.position for u in emu.order(oid).history]
        expected: list[str] = []
        for t in targets:
            expected.append(expected[-1] if t == "eta" else t)
        if applied != expected:
            mismatched += 1
    checks["each sent update applied once, in order"] = (mismatched == 0, f"{mismatched} orders differ")
    checks["emulator saw no illegal transition"] = (
        emu.stats.illegal_transitions == 0, f"{emu.stats.illegal_transitions} received"
    )
    failed = sum(1 for o in outcomes if o.kind is OutcomeKind.FAILED)
    checks["no update failed after retries"] = (failed == 0, f"{failed} failed")
    return checks


def report(
    planned: list[PlannedEvent], outcomes: list[UpdateOutcome], emu: Any, wall: float,
    checks: dict[str, tuple[bool, str]],
) -> None:
    """Print the summary tables."""
    kinds = {k.value: 0 for k in OutcomeKind}
    for o in outcomes:
        kinds[o.kind.value] += 1
    latencies = sorted(o.latency for o in outcomes if o.kind is OutcomeKind.SENT)
    retried = [o for o in outcomes if o.attempts > 1]
    rows: list[tuple[str, object]] = [
        ("events", len(planned)),
        *((kind, n) for kind, n in kinds.items()),
        ("sent after retries", f"{len(retried)} ({sum(o.attempts - 1 for o in retried)} retries)"),
        ("faults injected", emu.stats.faults_injected),
        ("requests at the emulator", emu.stats.requests),
        ("updates applied", emu.stats.applied_updates),
        ("idempotent repeats absorbed", emu.stats.idempotent_repeats),
        ("p50 / p95 latency", f"{_ms(latencies, 0.50)} / {_ms(latencies, 0.95)}"),
        ("wall time", f"{wall:.2f} s"),
    ]
    _console.table("Summary", ("what", "count"), rows)
    reasons: dict[str, int] = {}
    for o in outcomes:
        if o.kind is OutcomeKind.REFUSED:
            reason = str(o.error).split(": ", 1)[-1].split(";")[0]
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        ranked = sorted(reasons.items(), key=lambda item: item[1], reverse=True)
        _console.table("Refused before the wire", ("reason", "events"), ranked)
    _console.table(
        "Checks", ("promise", "result"),
        [(name, ("ok" if ok else "FAILED") + f" ({detail})") for name, (ok, detail) in checks.items()],
    )


def _ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0] * 1000:.1f} ms"
    return f"{statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000:.1f} ms"

