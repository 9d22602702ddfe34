"""The ASGI adapter: a plain ASGI 3 app (no Starlette needed) that reads the raw body first.

Mounted under a prefix (Starlette/FastAPI ``app.mount("/gett", receiver.asgi())``), the
request path is taken relative to the scope's ``root_path``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from ._guard import WebhookResponse
from ._receiver import problem

if TYPE_CHECKING:
    from ._receiver import WebhookReceiver

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def asgi_app(receiver: WebhookReceiver, prefix: str = "") -> ASGIApp:
    """An ASGI app answering ``POST {prefix}/{path}`` for each webhook kind; 404/405 otherwise."""
    base = prefix.rstrip("/")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own (e.g. by uvicorn): nothing to set up
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = _relative(scope)
        kind = receiver.paths.kind_for(path[len(base):]) if path.startswith(base + "/") else None
        if kind is None:
            answer = problem(404, "No webhook is received at this path.")
        elif scope["method"] != "POST":
            answer = problem(405, "Webhooks are received with POST.")
            answer = WebhookResponse(answer.status, answer.body, (*answer.headers, ("Allow", "POST")))
        else:
            try:
                body = await _read_capped(scope, receive, receiver.max_body)
            except _ClientGone:  # nobody is left to answer
                return
            answer = receiver.too_large() if body is None else await receiver.handle(kind, scope["headers"], body)
        await _send(send, answer)

    return app


class _ClientGone(Exception):
    """The client disconnected before its body was read."""


def _relative(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path") or ""
    # Starlette's Mount keeps the full path and sets root_path; older servers strip it.
    return path[len(root):] if root and path.startswith(root) else path


async def _read_capped(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The raw body as sent, or None once it exceeds ``limit``; `_ClientGone` if the client left."""
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, answer: WebhookResponse) -> None:
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
    if answer.status != 204:  # a 204 carries no Content-Length (RFC 9110)
        headers.append((b"content-length", str(len(answer.body)).encode("ascii")))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
