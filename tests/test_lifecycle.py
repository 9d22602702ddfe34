"""The lifecycle table (gett_async.lifecycle): every rule and every refusal, with no I/O."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timezone

import pytest

from gett_async import GettValidationError, IllegalTransitionError, OrderState, OrderStatus, lifecycle
from gett_async._core.updates import parse_update, update_body
from gett_async.lifecycle import (
    CLOSED_STATES,
    ETA_POSITIONS,
    OPEN_STATUSES,
    POSITIONS,
    TRANSITIONS,
    Move,
    allowed_next,
    check,
    mermaid,
    target_of,
)

ORDER_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
CHAIN = ("pending", "confirmed", "preparing", "ready", "inTransit")
BLANKS = (None, "", " ", "\t\n  ")
ETA = datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc)


def refusal(current: str, target: str, **kwargs: object) -> IllegalTransitionError:
    with pytest.raises(IllegalTransitionError) as info:
        check(current, target, **kwargs)  # type: ignore[arg-type]
    return info.value


# -- the table itself -------------------------------------------------------------------


def test_positions_are_the_documented_chain_and_the_two_closing_states() -> None:
    assert OPEN_STATUSES == CHAIN
    assert CLOSED_STATES == ("completed", "cancelled")
    assert set(TRANSITIONS) == set(POSITIONS)
    assert set(CHAIN) - {"pending"} == ETA_POSITIONS


# -- forward moves ----------------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), list(itertools.pairwise(CHAIN)))
def test_the_immediate_next_status_is_a_next_move_even_when_strict(current: str, target: str) -> None:
    assert check(current, target) is Move.NEXT
    assert check(current, target, strict=True) is Move.NEXT


SKIPS = [(a, b) for i, a in enumerate(CHAIN) for b in CHAIN[i + 2 :]]


def test_the_skips_are_every_later_open_status_but_the_next() -> None:
    assert [(a, b) for a, moves in TRANSITIONS.items() for b, m in moves.items() if m is Move.SKIP] == SKIPS
    assert ("pending", "inTransit") in SKIPS  # all the way from pending


@pytest.mark.parametrize(("current", "target"), SKIPS)
def test_skipping_is_allowed_by_default(current: str, target: str) -> None:
    assert check(current, target) is Move.SKIP
    assert target in allowed_next(current)


@pytest.mark.parametrize(("current", "target"), SKIPS)
def test_skipping_is_refused_when_strict(current: str, target: str) -> None:
    error = refusal(current, target, strict=True)
    assert "strict mode allows only the next status" in str(error)
    assert target not in allowed_next(current, strict=True)
    assert error.allowed == allowed_next(current, strict=True)


@pytest.mark.parametrize("current", OPEN_STATUSES)
def test_strict_allows_only_the_next_status_complete_and_cancel(current: str) -> None:
    following = CHAIN[CHAIN.index(current) + 1 : CHAIN.index(current) + 2]
    closes = ("completed",) if current in ("ready", "inTransit") else ()
    assert allowed_next(current, strict=True) == (*following, *closes, "cancelled")


# -- completing ---------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["ready", "inTransit"])
@pytest.mark.parametrize("strict", [False, True])
def test_completed_from_ready_or_in_transit(current: str, strict: bool) -> None:
    assert check(current, "completed", strict=strict) is Move.COMPLETE


@pytest.mark.parametrize("current", ["pending", "confirmed", "preparing"])
def test_completed_is_refused_before_ready(current: str) -> None:
    error = refusal(current, "completed")
    assert "an order completes only from ready or inTransit" in str(error)
    assert "completed" not in error.allowed


# -- cancelling ---------------------------------------------------------------------------


@pytest.mark.parametrize("current", OPEN_STATUSES)
@pytest.mark.parametrize("strict", [False, True])
def test_cancel_from_every_open_status_with_a_reason(current: str, strict: bool) -> None:
    assert check(current, "cancelled", strict=strict) is Move.CANCEL
    assert "cancelled" in allowed_next(current, strict=strict)


@pytest.mark.parametrize("reason", BLANKS)
def test_cancel_without_a_non_blank_reason_is_refused_on_cancel_reason(reason: str | None) -> None:
    with pytest.raises(GettValidationError) as info:
        parse_update(ORDER_ID, state="cancelled", cancel_reason=reason)
    assert info.value.field == "cancel_reason"
    assert not isinstance(info.value, IllegalTransitionError)  # the move is legal; the reason is missing


# -- closed orders ------------------------------------------------------------------------


@pytest.mark.parametrize("current", CLOSED_STATES)
@pytest.mark.parametrize("target", POSITIONS)
def test_a_closed_order_accepts_nothing(current: str, target: str) -> None:
    error = refusal(current, target, eta_changed=True)
    assert f"the order is already {current}" in str(error)
    assert error.allowed == ()
    assert "nothing (the order is closed)" in str(error)
    assert allowed_next(current) == () and lifecycle.is_closed(current)


# -- the same status: an ETA change only ------------------------------------------------


@pytest.mark.parametrize("current", sorted(ETA_POSITIONS))
def test_the_same_status_is_an_eta_change_only(current: str) -> None:
    assert check(current, current, eta_changed=True) is Move.ETA
    assert check(current, current, eta_changed=True, strict=True) is Move.ETA
    error = refusal(current, current)
    assert "only a different estimated_ready_at may restate it" in str(error)


def test_the_same_status_is_never_allowed_at_pending() -> None:
    for eta_changed in (False, True):
        error = refusal("pending", "pending", eta_changed=eta_changed)
        assert "pending is set by Gett and never sent" in str(error)


@pytest.mark.parametrize("current", CHAIN[1:])
def test_pending_is_never_sent(current: str) -> None:
    error = refusal(current, "pending", eta_changed=True)
    assert "pending is set by Gett and never sent" in str(error)


BACKWARD = [(a, b) for i, a in enumerate(CHAIN) for b in CHAIN[1:i]]


@pytest.mark.parametrize(("current", "target"), BACKWARD)
def test_backward_moves_are_refused(current: str, target: str) -> None:
    assert BACKWARD  # e.g. preparing -> confirmed
    error = refusal(current, target, eta_changed=True)
    assert "progress only moves forward" in str(error)


# -- the whole matrix, against an independent statement of the rules ----------------------


def _legal(current: str, target: str, *, strict: bool, eta_changed: bool) -> bool:
    if current in CLOSED_STATES:
        return False
    if target == current:
        return current != "pending" and eta_changed
    if target == "cancelled":
        return True
    if target == "completed":
        return current in ("ready", "inTransit")
    if target == "pending":
        return False
    step = CHAIN.index(target) - CHAIN.index(current)
    return step == 1 or (step > 1 and not strict)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("eta_changed", [False, True])
def test_every_pair_of_positions_matches_the_rules(strict: bool, eta_changed: bool) -> None:
    for current, target in itertools.product(POSITIONS, POSITIONS):
        expected = _legal(current, target, strict=strict, eta_changed=eta_changed)
        try:
            check(current, target, strict=strict, eta_changed=eta_changed)
        except IllegalTransitionError as error:
            assert not expected, (current, target)
            assert (error.current, error.target) == (current, target)
            assert error.allowed == allowed_next(current, strict=strict)
        else:
            assert expected, (current, target)
            assert current == target or target in allowed_next(current, strict=strict)


# -- the error ----------------------------------------------------------------------------


def test_illegal_transition_error_carries_current_target_and_allowed() -> None:
    error = refusal("preparing", "confirmed")
    assert (error.current, error.target) == ("preparing", "confirmed")
    assert error.allowed == ("ready", "inTransit", "cancelled")
    assert isinstance(error, GettValidationError)
    assert isinstance(error, ValueError)
    assert error.field == "status"
    assert str(error) == (
        "status: cannot go from preparing to confirmed: progress only moves forward; "
        "allowed next: ready, inTransit, cancelled"
    )
    with pytest.raises(ValueError):  # callers that only know ValueError still catch it
        check("preparing", "confirmed")


@pytest.mark.parametrize(("current", "target"), [("bogus", "confirmed"), ("confirmed", "bogus"), ("open", "ready")])
def test_unknown_positions_are_a_validation_error(current: str, target: str) -> None:
    with pytest.raises(GettValidationError, match="unknown order position") as info:
        check(current, target)
    assert not isinstance(info.value, IllegalTransitionError)
    assert info.value.field == "status"
    with pytest.raises(GettValidationError):
        allowed_next("bogus")


def test_enum_members_are_accepted_as_positions() -> None:
    assert check(OrderStatus.CONFIRMED, OrderStatus.PREPARING) is Move.NEXT  # type: ignore[arg-type]
    assert check(OrderStatus.READY, OrderState.COMPLETED) is Move.COMPLETE  # type: ignore[arg-type]


# -- target_of ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state", "expected"),
    [
        ("confirmed", None, "confirmed"),
        (OrderStatus.IN_TRANSIT, None, "inTransit"),
        (None, "completed", "completed"),
        (None, OrderState.CANCELLED, "cancelled"),
        (None, None, None),
    ],
)
def test_target_of(status: object, state: object, expected: str | None) -> None:
    assert target_of(status, state) == expected


@pytest.mark.parametrize(
    ("status", "state", "field", "words"),
    [
        ("bogus", None, "status", "unknown value"),
        ("Confirmed", None, "status", "unknown value"),
        ("completed", None, "status", "unknown value"),  # closing is a state, not a status
        ("pending", None, "status", "may not be sent"),
        (None, "open", "state", "may not be sent"),
        (None, "bogus", "state", "unknown value"),
        ("confirmed", "completed", "status", "not both"),
        ("ready", "cancelled", "status", "not both"),
        ("confirmed", "open", "state", "may not be sent"),
    ],
)
def test_target_of_refusals(status: object, state: object, field: str, words: str) -> None:
    with pytest.raises(GettValidationError, match=words) as info:
        target_of(status, state)
    assert info.value.field == field


# -- update bodies ------------------------------------------------------------------------


def test_update_bodies() -> None:
    cancel = parse_update(ORDER_ID, state=OrderState.CANCELLED, cancel_reason="no stock")
    assert update_body(cancel) == b'{"state":"cancelled","cancelReason":"no stock"}'
    assert update_body(parse_update(ORDER_ID, state="completed")) == b'{"state":"completed"}'
    progress = parse_update(ORDER_ID, status=OrderStatus.READY, estimated_ready_at=ETA)
    assert update_body(progress) == b'{"status":"ready","estimatedReadyAt":"2026-01-15T13:30:00Z"}'
    eta_only = parse_update(ORDER_ID, estimated_ready_at=ETA)
    assert update_body(eta_only) == b'{"estimatedReadyAt":"2026-01-15T13:30:00Z"}'


# -- mermaid ------------------------------------------------------------------------------

EDGE = re.compile(r"^    (\S+) --> (\S+?)(?:: (.*))?$")


def _edges() -> dict[tuple[str, str], str]:
    lines = mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    edges: dict[tuple[str, str], str] = {}
    for line in lines[1:]:
        match = EDGE.match(line)
        assert match, line
        assert (match[1], match[2]) not in edges, f"duplicate edge {line!r}"
        edges[(match[1], match[2])] = match[3] or ""
    return edges


def test_mermaid_contains_every_edge_of_the_table() -> None:
    edges = _edges()
    for source, moves in TRANSITIONS.items():
        for target, move in moves.items():
            assert (source, target) in edges, (source, target)
            label = edges[(source, target)]
            if move is Move.SKIP:
                assert "skip" in label
            elif move is Move.CANCEL:
                assert "reason" in label
            elif move is Move.NEXT:
                assert label == ""


def test_mermaid_has_nothing_but_the_table_eta_loops_and_start_end() -> None:
    table = {(s, t) for s, moves in TRANSITIONS.items() for t in moves}
    loops = {(p, p) for p in ETA_POSITIONS}
    ends = {("[*]", "pending")} | {(s, "[*]") for s in CLOSED_STATES}
    edges = _edges()
    assert set(edges) == table | loops | ends
    assert ("pending", "pending") not in edges
    assert all(edges[loop] == "new ETA" for loop in loops)
