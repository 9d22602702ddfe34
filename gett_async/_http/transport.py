"""`AiohttpTransport`: the only code that sends with aiohttp (``transport="aiohttp"``, ``session=``,
``trace_configs=``); `Http1Transport` is the default.

It does one attempt per `send`: one pooled (or the caller's own) ``aiohttp.ClientSession``,
the attempt's timeout, and bounded reads. It knows nothing of keys, retries or the gate.
"""

from __future__ import annotations

import asyncio
import ssl as ssl_module
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import aiohttp
from multidict import CIMultiDict

from .._core.redact import RedactedHeaders
from .._core.wire import ApiRequest, ApiResponse, Timeout
from ..errors import APIConnectionError, APITimeoutError
from .common import KEPT, PreparedHeaders, bind_loop, body_limit, describe_limits, too_large
from .deadlines import SharedDeadlines


class AiohttpTransport:
    """Sends `ApiRequest` to ``base_url`` with aiohttp, one attempt per `send`.

    Owns a pooled session of ``max_connections`` connections, made on first use in the
    running loop, or uses the caller's own ``session`` as is (never closed here). A client
    belongs to one event loop: use from another raises GettError at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        max_connections: int = 100,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_connections = max_connections
        self._ssl = ssl
        self._session = session
        self._owns_session = session is None
        self._trace_configs = list(trace_configs or ())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        # What aiohttp is given for the sender's long-lived header sets and timeouts, made once
        # instead of on every request (docs/PERFORMANCE.md).
        self._prepared: PreparedHeaders[_WireHeaders] = PreparedHeaders(_WireHeaders)
        self._timeouts: dict[Timeout, aiohttp.ClientTimeout] = {}
        self._deadlines = _Deadlines()

    def _bind(self) -> aiohttp.ClientSession:
        loop = bind_loop(self._loop, self._closed)
        if self._loop is None:
            self._loop = self._deadlines.loop = loop
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, limit_per_host=self.max_connections, ttl_dns_cache=300,
                ssl=self._ssl if self._ssl is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, trace_configs=self._trace_configs or None, auto_decompress=True
            )
        return self._session

    async def open(self) -> None:
        """Make the session now (it is otherwise made on the first request)."""
        self._bind()

    async def aclose(self) -> None:
        """Close the session this transport made (a caller's own session stays open)."""
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def unclosed(self) -> bool:
        """True when this transport made a session that is still open."""
        return self._owns_session and self._session is not None and not self._session.closed

    async def send(self, request: ApiRequest, *, timeout: Timeout) -> ApiResponse:
        """One attempt. Raises APIConnectionError / APITimeoutError when no answer arrives, and
        GettError for a body the SDK would parse that is larger than `MAX_BODY`."""
        session = self._bind()
        failure: APIConnectionError | None = None
        what = f"{request.method} {request.template}"
        try:
            response, whole = await self._exchange(session, request, timeout)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            failure = APITimeoutError(f"{what} timed out ({describe_limits(timeout)}; {type(exc).__name__})",
                                      method=request.method, path=request.template)
        except aiohttp.ClientError as exc:
            failure = APIConnectionError(f"{what} failed: {type(exc).__name__}: {exc}", method=request.method,
                                         path=request.template)
        if failure is not None:
            # Raised outside the except blocks so the aiohttp exception is not kept as
            # __context__: its frames hold the request headers, the API key included.
            raise failure
        if response.status < 300 and request.reads_body and not whole:
            raise too_large(request, response.status)
        return response

    async def _exchange(
        self, session: aiohttp.ClientSession, request: ApiRequest, timeout: Timeout
    ) -> tuple[ApiResponse, bool]:
        """The answer, and whether its body was read whole. Its own frame, gone by the time
        anything is raised: ``resp`` (whose repr shows the raw headers) is not kept.

        The total timeout is this transport's shared deadline (`_Deadlines`), not aiohttp's
        per-request timer; aiohttp keeps the connect and read limits."""
        task: asyncio.Task[Any] | None = None
        tick = cancelling = 0
        if timeout.total is not None and _SHARED_DEADLINES:
            task = asyncio.current_task()
            if task is not None:
                if sys.version_info >= (3, 11):
                    cancelling = task.cancelling()
                tick = self._deadlines.arm(task, timeout.total)
        try:
            async with session.request(
                request.method,
                self.base_url + request.path,
                data=request.body,
                params=request.query,
                headers=self._prepared.get(request.headers),
                allow_redirects=False,
                timeout=self._timeout(timeout),
            ) as resp:
                status = resp.status
                body, whole = await _read_capped(resp, body_limit(request, status))
                if not whole:
                    resp.close()  # the rest is unread: the connection cannot be reused
        except asyncio.CancelledError:
            if task is not None and self._deadlines.disarm(tick, task):
                expired, task = task, None  # disarmed: nothing left for the finally
                if _uncancel(expired, cancelling):
                    raise  # somebody else cancelled it too: their cancel wins
                raise asyncio.TimeoutError from None
            raise
        finally:
            if task is not None and self._deadlines.disarm(tick, task):
                _uncancel(task, cancelling)  # it expired as the answer came: the answer stands
        return ApiResponse(status, resp.headers, body), whole

    def _timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        """aiohttp's connect and read limits, and the total where `_Deadlines` cannot keep it."""
        found = self._timeouts.get(timeout)
        if found is None:
            if len(self._timeouts) >= KEPT:
                self._timeouts.clear()
            found = self._timeouts[timeout] = aiohttp.ClientTimeout(
                total=None if _SHARED_DEADLINES else timeout.total, sock_connect=timeout.connect,
                sock_read=timeout.read,
            )
        return found


#: Python 3.10 cannot tell the deadline's cancel from somebody else's (no ``Task.cancelling``),
#: so there aiohttp keeps its own timer per request.
_SHARED_DEADLINES = sys.version_info >= (3, 11)


class _WireHeaders(CIMultiDict[str]):
    """A prepared header set; like `RedactedHeaders`, its repr never shows the key."""

    def __repr__(self) -> str:
        return f"<_WireHeaders({RedactedHeaders(self)!r})>"


class _Deadlines:
    """The total timeouts of one transport's attempts (`SharedDeadlines`): an attempt still
    running when its deadline passes has its task cancelled, and is remembered as expired so
    `AiohttpTransport._exchange` can tell that cancel from anybody else's."""

    __slots__ = ("_expired", "_shared")

    def __init__(self) -> None:
        self._expired: set[asyncio.Task[Any]] = set()
        self._shared: SharedDeadlines[asyncio.Task[Any]] = SharedDeadlines(self._expire)

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._shared.loop

    @loop.setter
    def loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._shared.loop = loop

    def arm(self, task: asyncio.Task[Any], seconds: float) -> int:
        """Cancel ``task`` once ``seconds`` have passed, unless disarmed; returns the tick."""
        return self._shared.arm(task, seconds)

    def disarm(self, tick: int, task: asyncio.Task[Any]) -> bool:
        """Forget ``task``'s deadline; True when it had expired (and so cancelled ``task``)."""
        self._shared.disarm(tick, task)
        if task in self._expired:
            self._expired.discard(task)
            return True
        return False

    def _expire(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            self._expired.add(task)
            task.cancel()


def _uncancel(task: asyncio.Task[Any] | None, cancelling: int) -> bool:
    """Take back the deadline's cancel of ``task``; True when another cancel is still pending."""
    if sys.version_info >= (3, 11) and task is not None:
        return task.uncancel() > cancelling
    return False


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """(up to ``limit`` bytes of the body, whether that was all of it)."""
    length = resp.content_length
    if length is not None and length <= limit:
        return await resp.read(), True
    chunks = bytearray()
    while len(chunks) <= limit:
        chunk = await resp.content.read(limit + 1 - len(chunks))
        if not chunk:
            return bytes(chunks), True
        chunks += chunk
    return bytes(chunks[:limit]), False


def warn_unclosed(owner: object) -> None:
    """The ResourceWarning for a client collected while its own session is open (no I/O)."""
    warnings.warn(
        f"unclosed GettClient {owner!r}: use 'async with GettClient(...)' or 'await client.aclose()'",
        ResourceWarning,
        stacklevel=2,
        source=owner,
    )
