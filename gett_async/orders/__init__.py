"""The order domain: trackers and streams, on top of the Update Order Status endpoint."""

from .facade import Orders
from .stream import EventSourceError, OrderEvent, OrderStream, OutcomeKind, StreamSummary, UpdateOutcome
from .tracker import HistoryEntry, OrderTracker, UpdateSender

__all__ = [
    "EventSourceError",
    "HistoryEntry",
    "OrderEvent",
    "OrderStream",
    "OrderTracker",
    "Orders",
    "OutcomeKind",
    "StreamSummary",
    "UpdateOutcome",
    "UpdateSender",
]
