"""Shared pieces of the webhook tests: a secret, a clock, signed deliveries."""

from __future__ import annotations

import json
from typing import Any

from conftest import ORDER_ID, STORE_ID

from gett_async.webhooks import signature_headers

SECRET = "whsec_test_DO_NOT_LEAK_5ecret_0123456789"
OLD_SECRET = "whsec_test_OLD_DO_NOT_LEAK_9876543210"
#: Long pieces of the secrets, none of which may show anywhere.
SECRET_PARTS = (SECRET, SECRET[6:], SECRET[-16:], OLD_SECRET, OLD_SECRET[-16:])
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z

PAYLOAD: dict[str, Any] = {
    "orderId": ORDER_ID,
    "storeId": STORE_ID,
    "items": [{"itemId": "item-1", "name": "Margherita", "quantity": 1}],
    "amounts": {"subTotal": 12.5, "total": 12.5},
    "note": "Ring twice — merci",
}


def body_of(payload: Any = None) -> bytes:
    """JSON bytes as Gett might send them (not the way Python's json.dumps spaces them)."""
    return json.dumps(PAYLOAD if payload is None else payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed(body: bytes, secret: str = SECRET, *, at: float = NOW) -> dict[str, str]:
    """The headers Gett sends with ``body``."""
    return signature_headers(body, secret, timestamp=at)


class Clock:
    """A clock tests move by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def assert_no_secret(text: str) -> None:
    for part in SECRET_PARTS:
        assert part not in text
