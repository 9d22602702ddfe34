"""The order lifecycle as data: the transition table and its pure checks.

The same objects as ``gett_async._core.lifecycle``, where they live; see that module.
"""

from ._core.lifecycle import (
    CLOSED_STATES,
    ETA_POSITIONS,
    OPEN_STATUSES,
    POSITIONS,
    TRANSITIONS,
    Move,
    allowed_next,
    check,
    is_closed,
    mermaid,
    target_of,
)

__all__ = [
    "CLOSED_STATES",
    "ETA_POSITIONS",
    "OPEN_STATUSES",
    "POSITIONS",
    "TRANSITIONS",
    "Move",
    "allowed_next",
    "check",
    "is_closed",
    "mermaid",
    "target_of",
]
