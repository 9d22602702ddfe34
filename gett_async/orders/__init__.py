"""The order domain: trackers and streams, on top of the Update Order Status endpoint."""

from .facade import Orders
from .stream import (
    Checkpoint,
    CircuitBreaker,
    EventSourceError,
    OrderBlockedError,
    OrderEvent,
    OrderStream,
    OutcomeKind,
    StreamAbortedError,
    StreamSummary,
    UpdateOutcome,
    Watermark,
)
from .tracker import HistoryEntry, OrderTracker, UpdateSender

__all__ = [
    "Checkpoint",
    "CircuitBreaker",
    "EventSourceError",
    "HistoryEntry",
    "OrderBlockedError",
    "OrderEvent",
    "OrderStream",
    "OrderTracker",
    "Orders",
    "OutcomeKind",
    "StreamAbortedError",
    "StreamSummary",
    "UpdateOutcome",
    "UpdateSender",
    "Watermark",
]
