"""The emulator's outbound half: Gett sending signed ``validateOrder`` / ``placeOrder`` webhooks.

Only to loopback URLs: the emulator is a test tool and must never post order data (or a
signature made with a real secret) anywhere else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import attrs

from .._core.serde import format_datetime
from ..client import is_loopback
from ..errors import GettValidationError
from ..webhooks import WebhookKind, WebhookPaths, WebhookSecrets, signature_headers

#: Gett's documented waits before the 1st-4th retry [READ]; what follows them is [UNKNOWN],
#: so the emulator gives up after the 4th retry (5 attempts in all).
RETRY_SCHEDULE = (30.0, 120.0, 600.0, 3600.0)

# Answers that are the partner's decision, not a failure: never retried.
_RETRIED_4XX = frozenset({408, 429})


@attrs.frozen(slots=True)
class WebhookDelivery:
    """One webhook attempt the emulator made, and what came back."""

    order_id: str
    kind: str
    url: str
    #: 1 for the first attempt, 2 for the first retry, ...
    attempt: int
    #: The HTTP status, or None when no answer came (connection refused, timeout).
    status: int | None
    #: The answer's body: parsed JSON, else text, else None.
    response: Any
    #: Why there was no answer (None when there was one).
    error: str | None
    #: When it was sent, by the emulator's clock.
    time: float
    #: Seconds (from Gett's schedule, before ``webhook_retry_scale``) until the retry that
    #: follows this attempt; None when there is none.
    retry_in: float | None

    @property
    def ok(self) -> bool:
        """Whether the partner answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


def loopback_url(url: object) -> str:
    """``url`` without a trailing slash; refuses anything but an http(s) URL on a loopback host."""
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise GettValidationError("webhook_url", f"must be an absolute http(s) URL, got {url!r}")
    if not is_loopback(parts.hostname):
        raise GettValidationError(
            "webhook_url", "the emulator sends webhooks to loopback hosts only (127.0.0.0/8, ::1, localhost)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise GettValidationError("webhook_url", "must not carry credentials, a query or a fragment")
    return str(url).rstrip("/")


def order_payload(order_id: str, store_id: str | None, created_at: float, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The order document the emulator sends: [INFERRED] from Marketfront's ExternalOrder.

    ``orderId`` sits where `gett_async.webhooks.PayloadShape` looks first; ``fields``
    (camelCase members) are merged over the defaults.
    """
    payload: dict[str, Any] = {
        "orderId": order_id,
        "createdAt": format_datetime(datetime.fromtimestamp(created_at, timezone.utc)),
        "fulfillmentType": "delivery",
        "items": [{"itemId": "item-margherita", "name": "Margherita", "quantity": 1, "price": 12.5}],
        "amounts": {
            "subTotal": 12.5, "fees": 2.0, "promotions": 0.0, "taxes": 1.25, "adjustments": 0.0, "tip": 0.0,
            "total": 15.75,
        },
        "customer": {"firstName": "Test", "phone": "+10000000000"},
    }  # fmt: skip
    if store_id is not None:
        payload["storeId"] = store_id
    payload.update(fields)
    return payload


class WebhookSender:
    """Signs and posts webhooks, retrying failures on Gett's schedule; records every attempt."""

    __slots__ = ("_session", "records", "secrets", "url")

    def __init__(self, url: str, secret: str | bytes, *, records: list[WebhookDelivery]) -> None:
        self.url = loopback_url(url)
        self.secrets = WebhookSecrets.of(secret)
        self.records = records
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"WebhookSender(url={self.url!r}, secrets={self.secrets!r})"

    async def deliver(
        self,
        kind: WebhookKind,
        paths: WebhookPaths,
        order_id: str,
        payload: Any,
        *,
        clock: Callable[[], float],
        retry_scale: float,
        timeout: float,
    ) -> WebhookDelivery:
        """Send ``payload`` until the partner answers 2xx or a final 4xx, or the schedule runs out;
        returns the last attempt. Options are read per call, so changing them on the emulator
        takes effect at the next order."""
        url = f"{self.url}/{paths.path_of(kind)}"
        body = json.dumps(payload, separators=(",", ":")).encode()
        for attempt in range(1, len(RETRY_SCHEDULE) + 2):
            sent_at = clock()
            status, response, error = await self._post(url, body, sent_at, timeout)
            retried = status is None or status >= 500 or status in _RETRIED_4XX
            retry_in = RETRY_SCHEDULE[attempt - 1] if retried and attempt <= len(RETRY_SCHEDULE) else None
            record = WebhookDelivery(order_id, kind.value, url, attempt, status, response, error, sent_at, retry_in)
            self.records.append(record)
            if retry_in is None:
                return record
            await asyncio.sleep(retry_in * retry_scale)
        raise AssertionError("the last attempt has no retry")  # pragma: no cover

    async def _post(self, url: str, body: bytes, now: float, timeout: float) -> tuple[int | None, Any, str | None]:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        # Signed at each attempt, as Gett does: a retry carries a fresh Timestamp.
        headers = {**signature_headers(body, self.secrets, timestamp=now), "Content-Type": "application/json"}
        try:
            async with self._session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as answer:
                raw = await answer.read()
                return answer.status, _parsed(raw), None
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return None, None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def aclose(self) -> None:
        """Close the HTTP session (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _parsed(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
