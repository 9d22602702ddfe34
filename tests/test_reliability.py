"""Reliability end to end: 5,000 order events through OrderStream against the emulator, with
20 % of the writes faulted (5xx, injected 429s, connections dropped before and after apply).

Everything runs over real loopback sockets. The faults come from a seeded generator, so
their mix is fixed; which request gets which fault depends on arrival order, so the test
asserts invariants (nothing lost, nothing doubled, nothing out of order), never figures.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import attrs
import pytest

from gett_async import GettClient, RetryPolicy
from gett_async.orders.stream import OrderEvent, OutcomeKind, UpdateOutcome
from gett_async.testing import FaultConfig, GettEmulator

ORDERS = 1_000
EVENTS = 5_000
CONCURRENCY = 32
SEED = 20240611
FAULTS = FaultConfig(
    error_500=0.04,
    error_502=0.03,
    error_503=0.03,
    error_429=0.04,
    drop_before=0.03,
    drop_after=0.03,
    fault_retry_after=0,
)
# Which request draws which fault depends on arrival order, so an event could in principle be
# faulted on every attempt: with 13 attempts at 20 % that is 0.2**13 x ~4,700 ≈ 4e-6 per run.
RETRY = RetryPolicy(max_retries=12, base=0.01, cap=0.1)
OPEN = ("confirmed", "preparing", "ready", "inTransit")


@attrs.frozen
class Planned:
    """One event of the plan; ``illegal`` says why the SDK must refuse it (None: legal)."""

    event: OrderEvent
    illegal: str | None = None


# -- the plan -----------------------------------------------------------------------------------


def _skeleton(rng: random.Random) -> list[str]:
    """The legal status/state moves of one order (no ETA-only updates yet)."""
    moves = ["confirmed"]
    if rng.random() < 0.8:  # some kitchens never report preparing
        moves.append("preparing")
    moves.append("ready")
    if rng.random() < 0.6:  # delivery; pickups go ready -> completed
        moves.append("inTransit")
    if rng.random() < 0.1:
        # Cancelled somewhere while open: after confirmed at the earliest.
        return [*moves[: rng.randint(1, len(moves))], "cancelled"]
    return [*moves, "completed"]


def _illegal_inserts(skeleton: list[str], rng: random.Random) -> list[tuple[int, str, dict[str, object]]]:
    """(gap, why, event fields) of the mistakes for one order. Gap g is "before skeleton[g]",
    so the order then sits at skeleton[g - 1] (pending at gap 0); the last gap is after the close."""
    position = ["pending", *skeleton]  # position at each gap
    closed_gap = len(skeleton)
    inserts: list[tuple[int, str, dict[str, object]]] = []
    if rng.random() < 0.02:
        inserts.append((rng.randint(0, closed_gap), "pending is never sent", {"status": "pending"}))
    if rng.random() < 0.02:
        inserts.append((0, "an ETA while pending", {"eta": True}))
    early = [g for g in range(closed_gap) if position[g] in ("pending", "confirmed", "preparing")]
    if rng.random() < 0.05:
        inserts.append((rng.choice(early), "completed before ready", {"state": "completed"}))
    if rng.random() < 0.05:
        inserts.append((rng.randint(0, closed_gap - 1), "a cancel without a reason", {"state": "cancelled"}))
    later = [g for g in range(closed_gap) if position[g] in ("preparing", "ready", "inTransit")]
    if later and rng.random() < 0.07:
        gap = rng.choice(later)
        earlier = OPEN[: OPEN.index(position[gap])]
        inserts.append((gap, "a backward move", {"status": rng.choice(earlier)}))
    if rng.random() < 0.03:
        gap = rng.randint(1, closed_gap - 1)
        inserts.append((gap, "the same status without a new ETA", {"status": position[gap]}))
    if rng.random() < 0.05:
        after = rng.choice([{"status": "ready"}, {"eta": True}, {"state": "completed"}, {"state": "cancelled"}])
        if after.get("state") == "cancelled":
            after = {**after, "reason": "Too late"}
        inserts.append((closed_gap + 1, "an event after the close", after))
    return inserts


def plan(rng: random.Random, order_ids: list[str], events_wanted: int = EVENTS) -> list[list[Planned]]:
    """One event list per order: a legal lifecycle, ETA-only updates, planted mistakes.

    ETA-only updates fill the plan up to exactly ``events_wanted`` events. Every ETA of an order is
    later than the one before, so each legal ETA-only update really changes the ETA.
    """
    skeletons = [_skeleton(rng) for _ in order_ids]
    inserts = [_illegal_inserts(s, rng) for s in skeletons]
    base = sum(len(s) for s in skeletons) + sum(len(i) for i in inserts)
    assert base <= events_wanted, base
    eta_gaps: list[list[int]] = [[] for _ in order_ids]
    for _ in range(events_wanted - base):
        i = rng.randrange(len(order_ids))
        # Between confirmed and the close: gap 1 .. len-1.
        eta_gaps[i].append(rng.randint(1, len(skeletons[i]) - 1))
    start = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    plans: list[list[Planned]] = []
    for oid, skeleton, mistakes, etas in zip(order_ids, skeletons, inserts, eta_gaps, strict=True):
        # Each gap holds ETA-only updates and mistakes in random order.
        gaps: list[list[tuple[str | None, dict[str, object]]]] = [[] for _ in range(len(skeleton) + 2)]
        for gap in etas:
            gaps[gap].append((None, {"eta": True}))
        for gap, why, fields in mistakes:
            gaps[gap].insert(rng.randint(0, len(gaps[gap])), (why, fields))
        eta = start + timedelta(minutes=rng.randint(15, 40))
        events: list[Planned] = []

        def next_eta() -> datetime:
            nonlocal eta
            eta += timedelta(minutes=rng.randint(1, 10), seconds=rng.randint(0, 59))
            return eta

        for gap, entries in enumerate(gaps):
            for why, fields in entries:
                when = next_eta() if fields.get("eta") else None
                events.append(
                    Planned(
                        OrderEvent(
                            oid,
                            status=fields.get("status"),  # type: ignore[arg-type]
                            state=fields.get("state"),  # type: ignore[arg-type]
                            estimated_ready_at=when,
                            cancel_reason=fields.get("reason"),  # type: ignore[arg-type]
                        ),
                        why,
                    )
                )
            if gap < len(skeleton):
                move = skeleton[gap]
                if move == "cancelled":
                    event = OrderEvent(oid, state="cancelled", cancel_reason=rng.choice(["Out of stock", "Closed"]))
                elif move == "completed":
                    event = OrderEvent(oid, state="completed")
                else:
                    with_eta = (move == "confirmed" and rng.random() < 0.7) or (
                        move == "inTransit" and rng.random() < 0.3
                    )
                    event = OrderEvent(oid, status=move, estimated_ready_at=next_eta() if with_eta else None)
                events.append(Planned(event))
        plans.append(events)
    return plans


def interleave(plans: list[list[Planned]], rng: random.Random) -> list[Planned]:
    """Merge the per-order lists at random, keeping each order's own order."""
    cursors = [0] * len(plans)
    live = [i for i, p in enumerate(plans) if p]
    merged: list[Planned] = []
    while live:
        slot = rng.randrange(len(live))
        i = live[slot]
        merged.append(plans[i][cursors[i]])
        cursors[i] += 1
        if cursors[i] == len(plans[i]):
            live[slot] = live[-1]
            live.pop()
    return merged


def expected_entry(event: OrderEvent, position: str) -> tuple[str, datetime | None, str | None]:
    """The (position, ETA, reason) history entry the emulator records for an applied event."""
    target = event.state or event.status or position
    return target, event.estimated_ready_at, event.cancel_reason


# -- the test -----------------------------------------------------------------------------------


async def test_5000_events_with_20_percent_faults_lose_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(SEED)
    started = time.perf_counter()
    async with GettEmulator(faults=FAULTS, seed=SEED, writes_per_window=0, reads_per_window=0) as emu:
        order_ids = [emu.create_order() for _ in range(ORDERS)]
        planned = interleave(plan(rng, order_ids), rng)
        assert len(planned) == EVENTS
        outcomes: list[UpdateOutcome] = []
        async with GettClient(api_key=emu.api_key, base_url=emu.url, retry=RETRY) as gett:
            stream = gett.orders.stream([p.event for p in planned], concurrency=CONCURRENCY)
            async with stream:
                async for outcome in stream:
                    outcomes.append(outcome)
        wall = time.perf_counter() - started
        stats = emu.stats

        # Every event ends as exactly one outcome, and that outcome is about that event.
        by_index = {o.index: o for o in outcomes}
        assert len(outcomes) == len(by_index) == EVENTS
        assert all(by_index[i].event is p.event for i, p in enumerate(planned))
        kinds = Counter(o.kind for o in outcomes)
        assert kinds[OutcomeKind.FAILED] == 0, [str(o.error) for o in outcomes if o.kind is OutcomeKind.FAILED][:5]

        # Refused are exactly the planted mistakes; nothing illegal reached the wire.
        refused = {o.index for o in outcomes if o.kind is OutcomeKind.REFUSED}
        assert refused == {i for i, p in enumerate(planned) if p.illegal is not None}
        assert stats.illegal_transitions == 0
        assert stats.validation_failures == 0
        assert all(r.status not in (404, 409, 422) for r in emu.requests)

        # Only ETA-only updates are ever superseded, and only legal ones.
        superseded = [planned[o.index] for o in outcomes if o.kind is OutcomeKind.SUPERSEDED]
        assert all(p.illegal is None and p.event.status is None and p.event.state is None for p in superseded)

        # Each order's history is exactly its sent events, once each, in input order.
        sent_by_order: dict[str, list[OrderEvent]] = {oid: [] for oid in order_ids}
        for i, p in enumerate(planned):
            if by_index[i].kind is OutcomeKind.SENT:
                sent_by_order[p.event.order_id].append(p.event)
        differing = []
        for oid, events in sent_by_order.items():
            expected = []
            position = "pending"
            for event in events:
                entry = expected_entry(event, position)
                position = entry[0]
                expected.append(entry)
            order = emu.order(oid)
            applied = [(u.position, u.estimated_ready_at, u.cancel_reason) for u in order.history]
            if applied != expected:
                differing.append((oid, expected, applied))
            assert order.position == position
        assert not differing, differing[:3]

        # The counters agree with the outcomes: each fault cost one retry, and every retry
        # after a drop_after (applied, answer lost) was absorbed as an idempotent repeat.
        sent = [o for o in outcomes if o.kind is OutcomeKind.SENT]
        retries = sum(o.attempts - 1 for o in sent)
        assert stats.applied_updates == len(sent)
        assert stats.requests == len(emu.requests) == sum(o.attempts for o in sent)
        assert stats.faults_injected == retries
        reached_apply = sum(1 for r in emu.requests if r.status == 204 or r.fault == "drop_after")
        assert reached_apply == stats.applied_updates + stats.idempotent_repeats
        assert stats.idempotent_repeats <= stats.faults.get("drop_after", 0)
        # The run really exercised every fault kind.
        assert all(stats.faults.get(kind, 0) > 0 for kind in ("error_500", "error_502", "error_503", "error_429"))
        assert stats.faults.get("drop_before", 0) > 0 and stats.faults.get("drop_after", 0) > 0

        faults = ", ".join(f"{kind}={n}" for kind, n in sorted(stats.faults.items()))
        with capsys.disabled():  # the figures belong in CI's log
            print()
            print(f"reliability: {EVENTS} events over {ORDERS} orders, concurrency {CONCURRENCY}, wall {wall:.2f} s")
            print(
                f"  outcomes: sent={kinds[OutcomeKind.SENT]} refused={kinds[OutcomeKind.REFUSED]} "
                f"superseded={kinds[OutcomeKind.SUPERSEDED]} failed={kinds[OutcomeKind.FAILED]}"
            )
            print(f"  requests={stats.requests} faults injected={stats.faults_injected} ({faults})")
            print(
                f"  retries={retries} (max attempts {max(o.attempts for o in sent)}) applied={stats.applied_updates} "
                f"idempotent repeats={stats.idempotent_repeats} illegal at emulator={stats.illegal_transitions}"
            )
