"""Testing seams: `MockTransport` (answers from a function) and an in-process emulator of the
Gett Commerce Partner API (real sockets on loopback, fault injection), for tests and demos.

Import is lazy: ``gett_async.testing`` is imported by the pytest plugin in every pytest run,
so aiohttp.web is loaded only when the emulator is actually used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._faults import FaultConfig
    from ._mock import MockTransport
    from ._records import (
        CatalogNotification,
        EmulatedOnboarding,
        EmulatedOrder,
        EmulatedStore,
        EmulatorStats,
        OrderUpdate,
        RequestRecord,
    )
    from ._webhooks import RETRY_SCHEDULE, WebhookDelivery
    from .emulator import GettEmulator, serve_forever

__all__ = [
    "RETRY_SCHEDULE",
    "CatalogNotification",
    "EmulatedOnboarding",
    "EmulatedOrder",
    "EmulatedStore",
    "EmulatorStats",
    "FaultConfig",
    "GettEmulator",
    "MockTransport",
    "OrderUpdate",
    "RequestRecord",
    "WebhookDelivery",
    "serve_forever",
]

_WHERE = {
    "FaultConfig": "._faults",
    "GettEmulator": ".emulator",
    "MockTransport": "._mock",
    "serve_forever": ".emulator",
    "RETRY_SCHEDULE": "._webhooks",
    "WebhookDelivery": "._webhooks",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_WHERE.get(name, "._records"), __name__)
    return getattr(module, name)
