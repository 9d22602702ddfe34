"""`MockTransport`: answer requests with a function, no sockets (httpx's MockTransport shape)."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from .._core.wire import ApiRequest, ApiResponse, Timeout

Handler = Callable[[ApiRequest], "ApiResponse | Awaitable[ApiResponse]"]


class MockTransport:
    """A transport whose every attempt is answered by ``handler(request)`` (sync or async).

    ``GettClient(key, transport=MockTransport(handler))`` keeps everything above the
    transport real: validation, headers, the gate, retries, redaction, logs and hooks. The
    handler may raise `APIConnectionError` / `APITimeoutError` to stand for no answer.
    ``requests`` lists every attempt in order (with the headers the client added, the
    ``Authorization`` value masked in their repr); ``timeouts`` the limit each was given.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[ApiRequest] = []
        self.timeouts: list[Timeout] = []
        self.closed = False

    async def send(self, request: ApiRequest, *, timeout: Timeout) -> ApiResponse:
        """Record ``request`` and return the handler's answer."""
        self.requests.append(request)
        self.timeouts.append(timeout)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed (the client that owns it was closed)."""
        self.closed = True
