"""The aiohttp.web adapter: two POST routes that read the raw body (capped) and answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from ._guard import WebhookResponse
from ._verify import WebhookKind

if TYPE_CHECKING:
    from ._receiver import WebhookReceiver


def aiohttp_routes(receiver: WebhookReceiver, prefix: str = "") -> list[web.RouteDef]:
    """``POST {prefix}/{path}`` for each webhook kind, answered by ``receiver``."""
    base = prefix.rstrip("/")
    return [web.post(f"{base}/{receiver.paths.path_of(kind)}", _handler(receiver, kind)) for kind in WebhookKind]


def _handler(receiver: WebhookReceiver, kind: WebhookKind) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body = await _read_capped(request, receiver.max_body)
        answer = receiver.too_large() if body is None else await receiver.handle(kind, request.headers, body)
        return to_response(answer)

    return handle


async def _read_capped(request: web.Request, limit: int) -> bytes | None:
    """The raw body as sent (never parsed first), or None once it exceeds ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def to_response(answer: WebhookResponse) -> web.Response:
    """The aiohttp response for a receiver's answer."""
    return web.Response(status=answer.status, body=answer.body or None, headers=dict(answer.headers))
