"""OrderTracker: checked moves, exact bodies, state only after a 2xx, call-order serialisation,
snapshot/restore. The server is aioresponses on the order-status URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers_stream import NO_RETRY, Server, make_client, status_url

from gett_async import (
    BadRequestError,
    ConflictError,
    GettValidationError,
    IllegalTransitionError,
    OrderStatus,
    Receipt,
    RetryPolicy,
    ServerError,
)
from gett_async.orders.tracker import HISTORY_LIMIT, HistoryEntry, OrderTracker

ORDER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
URL = status_url(ORDER)
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)
ETA_WIRE = "2026-01-15T13:30:00Z"
LATER = ETA + timedelta(minutes=10)
LATER_WIRE = "2026-01-15T13:40:00Z"


@pytest.fixture
def server(mocked: Any) -> Server:
    return Server().install(mocked)


@pytest.fixture
async def gett() -> Any:
    async with make_client() as client:
        yield client


# -- what a new tracker knows -----------------------------------------------------------


async def test_a_new_tracker_is_pending_and_open(gett: Any) -> None:
    tracker = gett.orders.track(ORDER)
    assert isinstance(tracker, OrderTracker)
    assert (tracker.order_id, tracker.status, tracker.state, tracker.position) == (ORDER, "pending", "open", "pending")
    assert not tracker.is_closed and tracker.history == () and tracker.estimated_ready_at is None
    assert tracker.allowed_next() == ("confirmed", "preparing", "ready", "inTransit", "cancelled")
    assert gett.orders.track(ORDER, strict=True).allowed_next() == ("confirmed", "cancelled")


async def test_can_answers_without_sending(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER)
    assert tracker.can("confirmed") and tracker.can("inTransit")
    assert not tracker.can("completed")
    assert not tracker.can("pending")
    assert not tracker.can("bogus")
    assert not tracker.can("cancelled") and not tracker.can("cancelled", cancel_reason="  ")
    assert tracker.can("cancelled", cancel_reason="no stock")
    assert not gett.orders.track(ORDER, strict=True).can("ready")
    assert gett.orders.track(ORDER, status="ready").can("completed")
    closed = gett.orders.track(ORDER, status="ready", state="completed")
    assert closed.is_closed and closed.state == "completed" and closed.status == "ready"
    assert closed.allowed_next() == () and not closed.can("cancelled", cancel_reason="x")
    assert server.count == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"status": "completed"}, "status"),
        ({"state": "bogus"}, "state"),
    ],
)
async def test_track_refuses_unknown_starting_points(gett: Any, options: dict[str, str], field: str) -> None:
    with pytest.raises(GettValidationError) as info:
        gett.orders.track(ORDER, **options)
    assert info.value.field == field


@pytest.mark.parametrize("order_id", ["../../admin", "1b4e28ba-2fa1-11d2-883f-0016d3cca42/", ""])
async def test_track_refuses_a_non_uuid_order_id(gett: Any, order_id: str) -> None:
    with pytest.raises(GettValidationError):
        gett.orders.track(order_id)


# -- each move sends exactly its body -------------------------------------------------------

Move = Callable[[OrderTracker], Awaitable[Receipt]]

MOVES: list[tuple[str, dict[str, str], Move, dict[str, Any], tuple[str, str]]] = [
    ("confirm", {}, lambda t: t.confirm(), {"status": "confirmed"}, ("confirmed", "open")),
    ("confirm+eta", {}, lambda t: t.confirm(estimated_ready_at=ETA),
     {"status": "confirmed", "estimatedReadyAt": ETA_WIRE}, ("confirmed", "open")),
    ("start_preparing", {"status": "confirmed"}, lambda t: t.start_preparing(estimated_ready_at=ETA),
     {"status": "preparing", "estimatedReadyAt": ETA_WIRE}, ("preparing", "open")),
    ("mark_ready", {"status": "preparing"}, lambda t: t.mark_ready(), {"status": "ready"}, ("ready", "open")),
    ("dispatch", {"status": "ready"}, lambda t: t.dispatch(), {"status": "inTransit"}, ("inTransit", "open")),
    ("advance skip", {}, lambda t: t.advance("ready"), {"status": "ready"}, ("ready", "open")),
    ("advance enum", {}, lambda t: t.advance(OrderStatus.IN_TRANSIT), {"status": "inTransit"}, ("inTransit", "open")),
    ("complete", {"status": "ready"}, lambda t: t.complete(), {"state": "completed"}, ("ready", "completed")),
    ("complete from inTransit", {"status": "inTransit"}, lambda t: t.complete(), {"state": "completed"},
     ("inTransit", "completed")),
    ("cancel", {"status": "pending"}, lambda t: t.cancel("Item out of stock"),
     {"state": "cancelled", "cancelReason": "Item out of stock"}, ("pending", "cancelled")),
    ("update_eta", {"status": "preparing"}, lambda t: t.update_eta(LATER),
     {"status": "preparing", "estimatedReadyAt": LATER_WIRE}, ("preparing", "open")),
]


@pytest.mark.parametrize(("start", "move", "body", "after"), [m[1:] for m in MOVES], ids=[m[0] for m in MOVES])
async def test_each_move_sends_exactly_its_body_and_then_advances(
    gett: Any, server: Server, start: dict[str, str], move: Move, body: dict[str, Any], after: tuple[str, str]
) -> None:
    tracker = gett.orders.track(ORDER, **start)
    receipt = await move(tracker)
    assert isinstance(receipt, Receipt) and receipt.status == 204 and receipt.attempts == 1
    assert server.bodies() == [body]
    assert server.seen[0].order_id == ORDER
    assert (tracker.status, tracker.state) == after
    [entry] = tracker.history
    assert entry.position == (after[1] if after[1] != "open" else after[0])
    assert entry.at.tzinfo is not None
    assert entry.cancel_reason == body.get("cancelReason")


async def test_the_request_goes_to_the_order_status_url(gett: Any, mocked: Any, server: Server) -> None:
    await gett.orders.track(ORDER).confirm()
    [(method, url)] = list(mocked.requests)
    assert (method, str(url)) == ("POST", URL)


async def test_a_whole_lifecycle_keeps_eta_and_history(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER)
    await tracker.confirm(estimated_ready_at=ETA)
    await tracker.start_preparing()
    await tracker.update_eta(LATER)
    await tracker.mark_ready()
    await tracker.dispatch()
    await tracker.complete()
    assert server.bodies() == [
        {"status": "confirmed", "estimatedReadyAt": ETA_WIRE},
        {"status": "preparing"},
        {"status": "preparing", "estimatedReadyAt": LATER_WIRE},
        {"status": "ready"},
        {"status": "inTransit"},
        {"state": "completed"},
    ]
    assert [h.position for h in tracker.history] == ["confirmed", "preparing", "preparing", "ready", "inTransit",
                                                     "completed"]
    assert [h.estimated_ready_at for h in tracker.history] == [ETA, None, LATER, None, None, None]
    assert (tracker.status, tracker.state, tracker.estimated_ready_at) == ("inTransit", "completed", LATER)
    assert tracker.is_closed


async def test_history_is_bounded(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER, status="confirmed")
    for minutes in range(HISTORY_LIMIT + 5):
        await tracker.update_eta(ETA + timedelta(minutes=minutes))
    assert len(tracker.history) == HISTORY_LIMIT
    assert tracker.history[-1].estimated_ready_at == ETA + timedelta(minutes=HISTORY_LIMIT + 4)
    assert server.count == HISTORY_LIMIT + 5


def test_a_given_history_may_be_any_iterable_and_keeps_its_newest_entries(gett: Any) -> None:
    at = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
    entries = (HistoryEntry("confirmed", at + timedelta(seconds=i)) for i in range(HISTORY_LIMIT + 3))
    tracker = OrderTracker(gett.orders, ORDER, status="confirmed", history=entries)
    assert len(tracker.history) == HISTORY_LIMIT
    assert tracker.history[0].at == at + timedelta(seconds=3)


# -- illegal moves raise and send nothing ---------------------------------------------------

ILLEGAL: list[tuple[str, dict[str, Any], Move, str]] = [
    ("complete from pending", {}, lambda t: t.complete(), "completes only from ready or inTransit"),
    ("complete from preparing", {"status": "preparing"}, lambda t: t.complete(), "completes only from ready"),
    ("backward", {"status": "preparing"}, lambda t: t.confirm(), "progress only moves forward"),
    ("same status", {"status": "ready"}, lambda t: t.mark_ready(), "already the current status"),
    ("eta at pending", {}, lambda t: t.update_eta(ETA), "pending is set by Gett and never sent"),
    ("pending", {"status": "confirmed"}, lambda t: t.advance("pending"), "never sent"),
    ("strict skip", {"strict": True}, lambda t: t.mark_ready(), "strict mode allows only the next status"),
    ("after completed", {"status": "ready", "state": "completed"}, lambda t: t.cancel("late"),
     "already completed"),
    ("after cancelled", {"state": "cancelled"}, lambda t: t.update_eta(ETA), "already cancelled"),
    ("dispatch after inTransit", {"status": "inTransit"}, lambda t: t.dispatch(), "already the current status"),
]


@pytest.mark.parametrize(("start", "move", "words"), [m[1:] for m in ILLEGAL], ids=[m[0] for m in ILLEGAL])
async def test_an_illegal_move_raises_and_sends_nothing(
    gett: Any, mocked: Any, server: Server, start: dict[str, Any], move: Move, words: str
) -> None:
    tracker = gett.orders.track(ORDER, **start)
    before = (tracker.status, tracker.state, tracker.history)
    with pytest.raises(IllegalTransitionError, match=words):
        await move(tracker)
    assert server.count == 0 and mocked.requests == {}
    assert (tracker.status, tracker.state, tracker.history) == before


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
async def test_a_blank_cancel_reason_is_refused_and_sends_nothing(gett: Any, server: Server, reason: str) -> None:
    tracker = gett.orders.track(ORDER, status="confirmed")
    with pytest.raises(GettValidationError) as info:
        await tracker.cancel(reason)
    assert info.value.field == "cancel_reason"
    assert server.count == 0 and tracker.state == "open"


async def test_an_unchanged_eta_is_refused(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER)
    await tracker.confirm(estimated_ready_at=ETA)
    with pytest.raises(IllegalTransitionError, match="only a different estimated_ready_at"):
        await tracker.update_eta(ETA.astimezone(timezone(timedelta(hours=2))))  # the same instant
    assert server.count == 1


async def test_a_naive_eta_is_refused(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER, status="confirmed")
    with pytest.raises(GettValidationError, match="timezone-aware"):
        await tracker.update_eta(datetime(2026, 1, 15, 13, 30))
    assert server.count == 0 and tracker.estimated_ready_at is None


# -- state advances only after a 2xx --------------------------------------------------------


@pytest.mark.parametrize(("status", "error", "policy", "attempts"), [
    (400, BadRequestError, NO_RETRY, 1),
    (409, ConflictError, NO_RETRY, 1),
    (500, ServerError, NO_RETRY, 1),
    (503, ServerError, RetryPolicy(max_retries=2, base=0.001, cap=0.002), 3),
])
async def test_a_failed_update_leaves_the_state_unchanged(
    mocked: Any, status: int, error: type[Exception], policy: RetryPolicy, attempts: int
) -> None:
    server = Server(answer=lambda seen: status).install(mocked)
    async with make_client(retry=policy) as gett:
        tracker = gett.orders.track(ORDER, status="confirmed")
        with pytest.raises(error) as info:
            await tracker.start_preparing(estimated_ready_at=ETA)
        assert info.value.attempts == attempts  # type: ignore[attr-defined]
        assert server.count == attempts
        assert (tracker.status, tracker.state, tracker.history, tracker.estimated_ready_at) == (
            "confirmed", "open", (), None,
        )
        # the real state still decides: preparing is still the legal next step
        assert tracker.can("preparing") and not tracker.can("confirmed")


async def test_a_failed_close_keeps_the_order_open(mocked: Any) -> None:
    answers = iter([500, 204])
    server = Server(answer=lambda seen: next(answers)).install(mocked)
    async with make_client() as gett:
        tracker = gett.orders.track(ORDER, status="ready")
        with pytest.raises(ServerError):
            await tracker.complete()
        assert not tracker.is_closed and tracker.state == "open"
        await tracker.complete()
        assert tracker.state == "completed"
    assert server.bodies() == [{"state": "completed"}] * 2


# -- concurrent calls: one at a time, in call order, each against the real state -------------


async def test_concurrent_moves_go_out_one_at_a_time_in_call_order(mocked: Any) -> None:
    # The first request is the slowest: were the calls not serialised, their answers (and the
    # tracker's state) would arrive in reverse order and several would be in flight at once.
    delays = iter([0.003, 0.002, 0.001])
    server = Server(delay=lambda: next(delays)).install(mocked)
    async with make_client() as gett:
        tracker = gett.orders.track(ORDER, strict=True)  # strict: each is legal only after the one before
        receipts = await asyncio.gather(tracker.confirm(), tracker.start_preparing(), tracker.mark_ready())
    assert all(isinstance(r, Receipt) for r in receipts)
    assert server.bodies() == [{"status": "confirmed"}, {"status": "preparing"}, {"status": "ready"}]
    assert server.max_in_flight == 1
    assert tracker.status == "ready"
    assert [h.position for h in tracker.history] == ["confirmed", "preparing", "ready"]


async def test_after_a_failed_middle_call_the_next_is_checked_against_the_real_state(mocked: Any) -> None:
    answers = iter([204, 400, 204])
    server = Server(answer=lambda seen: next(answers)).install(mocked)
    async with make_client() as gett:
        tracker = gett.orders.track(ORDER)
        results = await asyncio.gather(
            tracker.confirm(), tracker.start_preparing(), tracker.mark_ready(), return_exceptions=True
        )
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], BadRequestError)
    assert isinstance(results[2], Receipt)  # confirmed -> ready skips preparing: legal by default
    assert server.bodies() == [{"status": "confirmed"}, {"status": "preparing"}, {"status": "ready"}]
    assert [h.position for h in tracker.history] == ["confirmed", "ready"]
    assert tracker.status == "ready"


async def test_after_a_failed_middle_call_a_strict_tracker_refuses_the_skip(mocked: Any) -> None:
    answers = iter([204, 400, 204])
    server = Server(answer=lambda seen: next(answers)).install(mocked)
    async with make_client() as gett:
        tracker = gett.orders.track(ORDER, strict=True)
        results = await asyncio.gather(
            tracker.confirm(), tracker.start_preparing(), tracker.mark_ready(), return_exceptions=True
        )
    assert isinstance(results[0], Receipt)
    assert isinstance(results[1], BadRequestError)
    assert isinstance(results[2], IllegalTransitionError)
    assert (results[2].current, results[2].target) == ("confirmed", "ready")
    assert server.bodies() == [{"status": "confirmed"}, {"status": "preparing"}]  # the third sent nothing
    assert tracker.status == "confirmed"


# -- snapshot / restore ---------------------------------------------------------------------


async def _lived(gett: Any) -> OrderTracker:
    tracker = gett.orders.track(ORDER)
    await tracker.confirm(estimated_ready_at=ETA.replace(microsecond=123456))  # sub-millisecond on purpose
    await tracker.start_preparing()
    await tracker.update_eta(LATER.astimezone(timezone(timedelta(hours=-5))))
    await tracker.mark_ready()
    return tracker


def _state(tracker: OrderTracker) -> tuple[Any, ...]:
    return (
        tracker.order_id, tracker.status, tracker.state, tracker.position, tracker.strict,
        tracker.estimated_ready_at, tracker.history,
    )


async def test_snapshot_is_json_and_restores_an_equal_tracker(gett: Any, server: Server) -> None:
    tracker = await _lived(gett)
    snapshot = tracker.snapshot()
    text = json.dumps(snapshot)
    restored = OrderTracker.restore(gett, json.loads(text))
    assert _state(restored) == _state(tracker)
    assert restored.history[0].estimated_ready_at == ETA.replace(microsecond=123456)
    assert OrderTracker.restore(gett.orders, snapshot).history == tracker.history
    # an equal ETA stays unchanged after a round trip (no needless write), and the order continues
    assert not restored.can("ready", estimated_ready_at=LATER)
    await restored.complete()
    assert server.bodies()[-1] == {"state": "completed"}
    assert restored.is_closed and not tracker.is_closed


async def test_snapshot_of_a_closed_strict_tracker(gett: Any, server: Server) -> None:
    tracker = gett.orders.track(ORDER, status="confirmed", strict=True)
    await tracker.cancel("Item out of stock")
    restored = OrderTracker.restore(gett, json.loads(json.dumps(tracker.snapshot())))
    assert _state(restored) == _state(tracker)
    assert restored.strict and restored.state == "cancelled" and restored.status == "confirmed"
    assert restored.history[-1] == HistoryEntry("cancelled", tracker.history[-1].at, None, "Item out of stock")
    assert not restored.can("cancelled", cancel_reason="again")


async def test_snapshot_of_a_new_tracker(gett: Any) -> None:
    tracker = gett.orders.track(ORDER)
    assert tracker.snapshot() == {
        "orderId": ORDER, "status": "pending", "state": "open", "strict": False, "estimatedReadyAt": None,
        "history": [],
    }
    assert _state(OrderTracker.restore(gett, tracker.snapshot())) == _state(tracker)


GOOD = {"orderId": ORDER, "status": "ready", "state": "open", "estimatedReadyAt": ETA_WIRE, "history": []}


@pytest.mark.parametrize(
    "snapshot",
    [
        None,
        [],
        "snapshot",
        {},
        {k: v for k, v in GOOD.items() if k != "orderId"},
        {**GOOD, "orderId": "../../admin"},
        {**GOOD, "orderId": None},
        {**GOOD, "status": "bogus"},
        {**GOOD, "status": "completed"},
        {**GOOD, "state": "pending"},
        {**GOOD, "estimatedReadyAt": "soon"},
        {**GOOD, "estimatedReadyAt": 5},
        {**GOOD, "history": [{"nope": 1}]},
        {**GOOD, "history": [{"position": "ready", "at": "yesterday"}]},
        {**GOOD, "history": "not a list"},
        {**GOOD, "history": 7},
    ],
)
async def test_restore_refuses_a_malformed_snapshot(gett: Any, snapshot: Any) -> None:
    assert OrderTracker.restore(gett, GOOD).status == "ready"  # the control is fine
    with pytest.raises(GettValidationError):
        OrderTracker.restore(gett, snapshot)
