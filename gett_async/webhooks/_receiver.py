"""`WebhookReceiver`: verify, de-duplicate, call the user's handler, answer, framework-neutral.

The framework adapters (`aiohttp_routes`, `asgi_app`) only read the raw body (capped) and
write the `WebhookResponse` this returns.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import attrs

from .._core import validate as _validate
from ..errors import GettValidationError, WebhookHandlerError, WebhookVerificationError
from ..models.problem import ERROR_TYPE
from ._guard import DeliveryStore, MemoryDeliveryStore, WebhookResponse, delivery_key
from ._verify import (
    DEFAULT_TOLERANCE,
    Headers,
    PayloadShape,
    WebhookKind,
    WebhookRequest,
    WebhookSecrets,
    verify,
)

if TYPE_CHECKING:
    from aiohttp import web

    from ._asgi import ASGIApp

log = logging.getLogger("gett_async.webhooks")

Handler = Callable[[WebhookRequest], Awaitable[Any]]

PROBLEM_JSON = "application/problem+json"
#: The default cap on a webhook body: larger ones are answered 413 unread.
MAX_BODY = 1024 * 1024

# The errorCode Gett itself uses for each status (its error reference); other statuses get
# their HTTP name, e.g. BAD_GATEWAY.
_ERROR_CODES = {
    400: "INVALID_REQUEST",
    401: "UNAUTHENTICATED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


@attrs.frozen(slots=True)
class WebhookPaths:
    """The path of each webhook under the Webhook Base URL.

    The portal names them ``validateOrder`` / ``placeOrder`` [READ]; the paths Gett really
    calls are [UNKNOWN]; the older docs used ``validate`` / ``place`` (`LEGACY_PATHS`).
    """

    validate: str = "validateOrder"
    place: str = "placeOrder"

    def kind_for(self, path: str) -> WebhookKind | None:
        """The kind whose path ``path`` is (slashes around it ignored), or None."""
        name = path.strip("/")
        if name == self.validate.strip("/"):
            return WebhookKind.VALIDATE
        if name == self.place.strip("/"):
            return WebhookKind.PLACE
        return None

    def path_of(self, kind: WebhookKind) -> str:
        """The path segment(s) of ``kind``, without slashes around them."""
        return (self.validate if kind is WebhookKind.VALIDATE else self.place).strip("/")


LEGACY_PATHS = WebhookPaths(validate="validate", place="place")


def problem(
    status: int, detail: str, *, error_code: str | None = None, errors: Sequence[Mapping[str, Any]] = ()
) -> WebhookResponse:
    """An RFC 9457 ``application/problem+json`` answer shaped like Gett's own."""
    try:
        name, title = HTTPStatus(status).name, HTTPStatus(status).phrase
    except ValueError:  # a status HTTP gives no name, e.g. 499
        name, title = f"HTTP_{status}", "Error"
    code = error_code or _ERROR_CODES.get(status) or name
    document: dict[str, Any] = {
        "type": ERROR_TYPE.format(code=code),
        "title": title,
        "status": status,
        "detail": detail,
        "errorCode": code,
    }
    if errors:
        document["errors"] = [dict(error) for error in errors]
    return WebhookResponse(status, _json(document), (("Content-Type", PROBLEM_JSON),))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class WebhookReceiver:
    """Gett's ``validateOrder`` / ``placeOrder`` webhooks, verified, handed to your coroutines.

    ``on_validate`` and ``on_place`` get a `WebhookRequest`; what they return is the JSON
    answer (200; None answers 204); a `WebhookHandlerError` they raise becomes a problem
    answer with its status; any other exception a 500 problem that tells nothing of it.
    Deliveries of the same body within ``remember_for`` seconds (default: ``tolerance``; 0
    turns the guard off) get the first 2xx answer again without a second handler run.

    Refuses (GettValidationError) missing or empty secrets, non-callable handlers, a
    ``tolerance`` or ``max_body`` that is not positive, a negative ``remember_for``.
    """

    __slots__ = ("_clock", "_on_place", "_on_validate", "_secrets", "max_body", "paths", "remember_for", "shape",
                 "store", "tolerance")

    def __init__(
        self,
        secrets: WebhookSecrets | str | bytes | Sequence[str | bytes],
        *,
        on_validate: Handler,
        on_place: Handler,
        tolerance: float = DEFAULT_TOLERANCE,
        paths: WebhookPaths | None = None,
        shape: PayloadShape | None = None,
        store: DeliveryStore | None = None,
        remember_for: float | None = None,
        max_body: int = MAX_BODY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = WebhookSecrets.of(secrets)
        for name, handler in (("on_validate", on_validate), ("on_place", on_place)):
            if not callable(handler):
                raise GettValidationError(name, "must be an async function taking a WebhookRequest")
        self._on_validate = on_validate
        self._on_place = on_place
        self.tolerance = _validate.seconds("tolerance", tolerance)
        self.remember_for = (
            self.tolerance if remember_for is None else _validate.seconds("remember_for", remember_for, allow_zero=True)
        )
        self.paths = paths or WebhookPaths()
        self.shape = shape or PayloadShape()
        self.store: DeliveryStore = store if store is not None else MemoryDeliveryStore()
        self.max_body = _validate.whole("max_body", max_body, minimum=1)
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookReceiver(paths={self.paths!r}, secrets={self._secrets!r})"

    # -- the framework-neutral core -------------------------------------------------------

    async def handle(self, kind: WebhookKind, headers: Headers, body: bytes) -> WebhookResponse:
        """Answer one delivery of ``kind`` whose raw ``body`` was read in full.

        Refusals are answers, not exceptions: 401 for a failed signature or timestamp check,
        400 for an authentic body that is not JSON.
        """
        try:
            request = verify(
                body, headers, self._secrets, tolerance=self.tolerance, now=self._clock(), kind=kind, shape=self.shape
            )
        except WebhookVerificationError as exc:
            log.info("webhook %s refused: %s", kind.value, exc)
            status = 400 if exc.check == "payload" else 401
            return problem(status, f"Webhook refused: {exc}.")
        if not self.remember_for:
            return await self._run(request)
        key = delivery_key(kind.value, request.body)
        first = await self.store.claim(key, now=self._clock(), ttl=self.remember_for)
        if first is not None:
            log.info("webhook %s for order %s delivered again: answered as the first time", kind.value,
                     request.order_id)
            return first
        try:
            response = await self._run(request)
        except BaseException:  # cancelled while handling: the next delivery must run the handler
            await self.store.release(key)
            raise
        if 200 <= response.status < 300:
            await self.store.complete(key, response, now=self._clock(), ttl=self.remember_for)
        else:
            await self.store.release(key)
        return response

    def too_large(self) -> WebhookResponse:
        """The 413 answer to a body over ``max_body``."""
        return problem(413, f"The webhook body is larger than {self.max_body} bytes.")

    async def _run(self, request: WebhookRequest) -> WebhookResponse:
        handler = self._on_validate if request.kind is WebhookKind.VALIDATE else self._on_place
        try:
            result = await handler(request)
        except WebhookHandlerError as exc:
            return problem(exc.status, exc.detail, error_code=exc.error_code, errors=exc.errors)
        except Exception:
            log.exception("webhook %s handler failed for order %s", request.kind, request.order_id)
            return problem(500, "The webhook could not be handled.")
        if result is None:
            return WebhookResponse(204)
        try:
            body = _json(result)
        except (TypeError, ValueError):
            log.exception("webhook %s handler returned a value that is not JSON", request.kind)
            return problem(500, "The webhook could not be handled.")
        return WebhookResponse(200, body, (("Content-Type", "application/json"),))

    # -- framework adapters ---------------------------------------------------------------

    def aiohttp_routes(self, prefix: str = "") -> list[web.RouteDef]:
        """POST routes for both webhooks under ``prefix`` (e.g. ``/gett``), for ``app.add_routes``."""
        from ._aiohttp import aiohttp_routes

        return aiohttp_routes(self, prefix)

    def asgi(self, prefix: str = "") -> ASGIApp:
        """A plain ASGI app answering both webhooks (mount it, e.g. ``app.mount("/gett", ...)``)."""
        from ._asgi import asgi_app

        return asgi_app(self, prefix)

