"""The order lifecycle as data, and pure checks on it (no I/O).

An order's *position* is its status while it is open (``pending`` ... ``inTransit``) and its
state once closed (``completed`` / ``cancelled``). ``TRANSITIONS`` is the one table of legal
moves; the tracker, the stream, the emulator and the README's diagram all read it.

Gett documents the arrow chain, that ``pending`` is never sent and that any open order can
be cancelled with a reason. Everything else here (no backward moves, no updates to a closed
order, ``completed`` only after ``ready``) is this SDK's conservative choice: an update that
Gett might refuse is refused locally instead, where it costs no write from the budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import Enum

from ..errors import GettValidationError, IllegalTransitionError
from ..models import OrderState, OrderStatus, OrderStatusUpdate
from . import validate


class Move(str, Enum):
    """The kind of a legal move, which decides when it is allowed."""

    NEXT = "next"  # the immediate next status
    SKIP = "skip"  # a later status, skipping some (refused when strict)
    COMPLETE = "complete"  # close as completed
    CANCEL = "cancel"  # close as cancelled; needs a non-blank reason
    ETA = "eta"  # the current status again, with a different estimated_ready_at


OPEN_STATUSES: tuple[str, ...] = ("pending", "confirmed", "preparing", "ready", "inTransit")
CLOSED_STATES: tuple[str, ...] = ("completed", "cancelled")
POSITIONS: tuple[str, ...] = OPEN_STATUSES + CLOSED_STATES

N, S, C, X = Move.NEXT, Move.SKIP, Move.COMPLETE, Move.CANCEL

#: from position -> {to position: move}. The single source of truth for legal moves.
TRANSITIONS: Mapping[str, Mapping[str, Move]] = {
    "pending": {"confirmed": N, "preparing": S, "ready": S, "inTransit": S, "cancelled": X},
    "confirmed": {"preparing": N, "ready": S, "inTransit": S, "cancelled": X},
    "preparing": {"ready": N, "inTransit": S, "cancelled": X},
    "ready": {"inTransit": N, "completed": C, "cancelled": X},
    "inTransit": {"completed": C, "cancelled": X},
    "completed": {},
    "cancelled": {},
}

#: Positions where restating the status with a new ETA is allowed (``pending`` is never sent).
ETA_POSITIONS: frozenset[str] = frozenset({"confirmed", "preparing", "ready", "inTransit"})

del N, S, C, X



def is_closed(position: str) -> bool:
    """True for ``completed`` and ``cancelled``: such an order accepts nothing more."""
    return position in CLOSED_STATES


def allowed_next(position: str, *, strict: bool = False) -> tuple[str, ...]:
    """The positions reachable from ``position`` in one update (strict: no skipping)."""
    moves = TRANSITIONS[_position(position)]
    return tuple(to for to, move in moves.items() if not (strict and move is Move.SKIP))


def check(current: str, target: str, *, strict: bool = False, eta_changed: bool = False) -> Move:
    """Return the move from ``current`` to ``target``, or raise IllegalTransitionError.

    Refuses: unknown positions, ``pending``, backward moves, skips when ``strict``,
    ``completed`` before ``ready``, anything after a close, and a same-status update without
    a new ETA. (A cancel's reason is checked with the rest of the update, in `updates`.)
    """
    current = _position(current)
    target = _position(target)
    move = TRANSITIONS[current].get(target)
    if move is not None and not (strict and move is Move.SKIP):
        return move
    allowed = allowed_next(current, strict=strict)
    if is_closed(current):
        raise IllegalTransitionError(current, target, allowed, f"the order is already {current}")
    if target == current:
        if current in ETA_POSITIONS and eta_changed:
            return Move.ETA
        why = "pending is set by Gett and never sent" if current == "pending" else (
            "it is already the current status; only a different estimated_ready_at may restate it"
        )
        raise IllegalTransitionError(current, target, allowed, why)
    if move is None:
        raise IllegalTransitionError(current, target, allowed, _why_not(current, target))
    raise IllegalTransitionError(current, target, allowed, "strict mode allows only the next status")


def _why_not(current: str, target: str) -> str:
    if target == "pending":
        return "pending is set by Gett and never sent"
    if target == "completed":
        return "an order completes only from ready or inTransit"
    if target in OPEN_STATUSES and OPEN_STATUSES.index(target) < OPEN_STATUSES.index(current):
        return "progress only moves forward"
    return "not a legal move"


def _position(value: str) -> str:
    position = value.value if isinstance(value, Enum) else value
    if position not in TRANSITIONS:
        raise GettValidationError(
            "status", f"unknown order position {position!r}; expected one of: {', '.join(POSITIONS)}"
        )
    return str(position)


def target_of(status: object = None, state: object = None) -> str | None:
    """The position an update asks for, validated; None for an ETA-only update.

    Refuses unknown values, ``pending``, ``state="open"``, and a status sent together
    with a closing state (Gett documents ``status`` for progress and ``state`` to close).
    """
    if state is not None:
        closing = validate.enum_member("state", OrderState, state, refuse=(OrderState.OPEN,))
        if status is not None:
            raise GettValidationError("status", "send either a status (progress) or a state (close), not both")
        return closing.value
    if status is not None:
        return validate.enum_member("status", OrderStatus, status, refuse=(OrderStatus.PENDING,)).value
    return None


def build_update(
    target: str,
    *,
    estimated_ready_at: datetime | None = None,
    cancel_reason: str | None = None,
) -> OrderStatusUpdate:
    """The request body for a move to ``target`` (a position other than ``pending``)."""
    if target == "cancelled":
        return OrderStatusUpdate(state=OrderState.CANCELLED, cancel_reason=cancel_reason)
    if target == "completed":
        return OrderStatusUpdate(state=OrderState.COMPLETED)
    return OrderStatusUpdate(status=OrderStatus(target), estimated_ready_at=estimated_ready_at)


_LABELS = {
    Move.NEXT: "",
    Move.SKIP: "skip (not in strict mode)",
    Move.COMPLETE: "complete",
    Move.CANCEL: "cancel (reason required)",
}


def mermaid() -> str:
    """Render ``TRANSITIONS`` as a Mermaid state diagram (the README embeds this text)."""
    lines = ["stateDiagram-v2", "    [*] --> pending"]
    for source, moves in TRANSITIONS.items():
        for target, move in moves.items():
            label = _LABELS[move]
            lines.append(f"    {source} --> {target}" + (f": {label}" if label else ""))
        if source in ETA_POSITIONS:
            lines.append(f"    {source} --> {source}: new ETA")
    lines.extend(f"    {state} --> [*]" for state in CLOSED_STATES)
    return "\n".join(lines)
