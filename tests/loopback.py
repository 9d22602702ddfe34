"""A scripted HTTP server on 127.0.0.1 for wire behaviours the emulator has no reason to show
(echoed keys, absurd headers, huge bodies): each test gives the handler that answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType

import attrs
from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Seen:
    """One request as it arrived: the raw path (with query), the headers and the body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """``async with ScriptedServer(handler) as server``: ``server.url`` answers with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(Seen(request.method, request.raw_path, dict(request.headers), body))
        return await self.handler(request)

    async def __aenter__(self) -> ScriptedServer:
        await self._server.start_server()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._server.close()
