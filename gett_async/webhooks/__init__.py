"""Gett's order webhooks (``validateOrder``, ``placeOrder``), verified, for commerce partners.

- `verify`: check one request's ``Signature`` / ``Timestamp`` against its raw body (pure).
- `WebhookReceiver`: verify, guard against duplicate deliveries, call your coroutines, answer;
  with an aiohttp route set (``receiver.aiohttp_routes()``) and a plain ASGI app
  (``receiver.asgi()``).

The signature scheme is Gett's shared webhook guide [READ for distribution partners,
INFERRED for commerce]; the payload is [UNKNOWN] and its inferred field names live in
`PayloadShape`. See docs/WEBHOOKS.md.
"""

from ..errors import WebhookHandlerError, WebhookVerificationError
from ._guard import DeliveryStore, MemoryDeliveryStore, WebhookResponse, delivery_key
from ._receiver import LEGACY_PATHS, MAX_BODY, WebhookPaths, WebhookReceiver, problem
from ._verify import (
    API_VERSION,
    DEFAULT_TOLERANCE,
    PayloadShape,
    WebhookKind,
    WebhookRequest,
    WebhookSecrets,
    signature_headers,
    verify,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_TOLERANCE",
    "LEGACY_PATHS",
    "MAX_BODY",
    "DeliveryStore",
    "MemoryDeliveryStore",
    "PayloadShape",
    "WebhookHandlerError",
    "WebhookKind",
    "WebhookPaths",
    "WebhookReceiver",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSecrets",
    "WebhookVerificationError",
    "delivery_key",
    "problem",
    "signature_headers",
    "verify",
]
