"""`Http1Transport`: the default transport, HTTP/1.1 keep-alive on asyncio protocols.

Why not aiohttp's ``ClientSession`` here: it does much that a request of this API never needs
(cookies, redirects, proxies, tracing, multipart, a timer per request), and that was most of the
CPU of a call (docs/PERFORMANCE.md). This transport writes each request as bytes on a pooled
connection and lets httptools (llhttp, the parser Node.js uses) read the answer. It keeps what
the SDK promises of every transport: the total, connect and read timeouts, bounded reads, TLS
with certificate checks, a connection limit, and errors that never carry the request headers.
`AiohttpTransport` remains for whoever needs aiohttp (their own session, trace configs,
aioresponses in their tests): ``GettClient(transport="aiohttp")``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
import ssl as ssl_module
import sys
import zlib
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import quote, urlencode, urlsplit

import httptools
from multidict import CIMultiDict

from .._core.extras import is_header_field
from .._core.wire import ApiRequest, ApiResponse, Timeout
from ..errors import APIConnectionError, APITimeoutError, GettError
from .common import MAX_ERROR_BODY, PreparedHeaders, bind_loop, body_limit, describe_limits, too_large
from .deadlines import SharedDeadlines

#: How long an idle pooled connection is reused (aiohttp's default keep-alive); older ones are closed.
KEEPALIVE = 15.0
#: The most an answer's status line and headers may take; a longer head closes the connection.
MAX_HEAD = 64 * 1024
#: Characters a request target may carry as they are; anything else is percent-encoded.
_UNSAFE = re.compile(r"[^A-Za-z0-9/\-._~%:@!$&'()*+,;=]")

_Answer = tuple[int, list[tuple[bytes, bytes]], bytes, bool]


class _Expired(Exception):
    """An attempt's total or read timeout passed."""


class _Broken(Exception):
    """The connection failed or closed before the answer was complete."""


class _OutOfStep(Exception):
    """An answer began that no request is waiting for."""


class Http1Transport:
    """Sends `ApiRequest` to ``base_url`` over pooled HTTP/1.1 connections, one attempt per `send`.

    At most ``max_connections`` connections are open at once; more attempts wait for one (that
    wait counts towards the total timeout). ``ssl`` replaces the default TLS context
    (``ssl.create_default_context()``: certificates and host names checked). A transport belongs
    to the event loop of its first request: use from another loop raises GettError at once.
    Refuses (GettError): a base URL that is not absolute http(s), ``max_connections`` below 1,
    and a HEAD request (whose answer has no body; the SDK sends none).
    """

    def __init__(
        self, base_url: str, *, max_connections: int = 100, ssl: ssl_module.SSLContext | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if type(max_connections) is not int or max_connections < 1:
            raise GettError(f"max_connections must be a whole number >= 1, got {max_connections!r}")
        self.max_connections = max_connections
        try:
            parts = urlsplit(self.base_url)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise GettError(f"Http1Transport needs an absolute http(s) URL, got {base_url!r}")
        self.tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = port or (443 if self.tls else 80)
        self._prefix = parts.path
        host = f"[{self._host}]" if ":" in self._host else self._host
        self._host_line = b"Host: " + (host if port is None else f"{host}:{port}").encode("idna") + b"\r\n"
        self._ssl = ssl
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._idle: list[_Connection] = []  # the most recently used last: it is the likeliest alive
        self._waiting: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._connections: set[_Connection] = set()  # open or opening
        # Slots freed for a waiting attempt that has not run yet: nobody else may take them, or a
        # busy sender could starve the waiters (with no total timeout, for ever).
        self._reserved = 0
        self._heads: PreparedHeaders[bytes] = PreparedHeaders(self._make_head)
        self._deadlines: SharedDeadlines[asyncio.Future[Any]] = SharedDeadlines(_expire)

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = bind_loop(self._loop, self._closed)
        if self._loop is None:
            self._loop = self._deadlines.loop = loop
        return loop

    async def open(self) -> None:
        """Bind to the running loop now (connections are made on demand)."""
        self._bind()

    async def aclose(self) -> None:
        """Close every connection; attempts still running fail with APIConnectionError."""
        self._closed = True
        for waiter in self._waiting:
            if not waiter.done():
                waiter.set_exception(_Broken("the client was closed"))
        self._waiting.clear()
        closing = list(self._connections)
        for connection in closing:
            connection.close(abort=connection.answer is not None)
        self._idle.clear()
        if closing:
            await asyncio.sleep(0)  # one loop round: the sockets just aborted are released

    def unclosed(self) -> bool:
        """True when connections are open and `aclose` was never called."""
        return not self._closed and bool(self._connections)

    async def send(self, request: ApiRequest, *, timeout: Timeout) -> ApiResponse:
        """One attempt. Raises APIConnectionError / APITimeoutError when no answer arrives, and
        GettError for a body the SDK would parse that is larger than `MAX_BODY`."""
        loop = self._bind()
        failure: APIConnectionError | None = None
        try:
            status, raw, body, whole = await self._exchange(loop, request, timeout)
        except (_Expired, asyncio.TimeoutError) as exc:
            failure = APITimeoutError(
                f"{request.method} {request.template} timed out ({describe_limits(timeout)}; {exc or 'total'})",
                method=request.method, path=request.template,
            )
        except (_Broken, OSError, httptools.HttpParserError) as exc:
            failure = APIConnectionError(
                f"{request.method} {request.template} failed: {type(exc).__name__}: {exc}",
                method=request.method, path=request.template,
            )
        if failure is not None:
            # Raised outside the except blocks, so the caught exception, whose frames hold the
            # request bytes (the API key among them), is not kept as __context__.
            raise failure
        headers = CIMultiDict((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)
        encoding = headers.get("Content-Encoding")
        if encoding is not None and body and whole:
            body, whole = _decoded(body, encoding.lower(), body_limit(request, status))
        if status < 300 and request.reads_body and not whole:
            raise too_large(request, status)
        return ApiResponse(status, headers, body)

    async def _exchange(self, loop: asyncio.AbstractEventLoop, request: ApiRequest, timeout: Timeout) -> _Answer:
        if request.method == "HEAD":
            raise GettError("Http1Transport sends no HEAD requests (their answers have no body to read)")
        started = loop.time()
        self._heads.get(request.headers)  # refuses bad headers before a connection is taken (then kept ready)
        connection = await self._connection(loop, timeout, started)
        total = timeout.total
        if total is not None and loop.time() - started >= total:
            # The shared timer fires up to a tick late: a request due already is not written at all.
            self._release(connection)
            raise _Expired("total")
        try:
            # The request's bytes (the key among them) are never a local of this frame, which
            # a cancel or an outer timeout's traceback would keep.
            answer = connection.start(self._bytes(request), body_limit(request, 200), timeout.read)
        except GettError:  # refused before anything was written: the connection is as good as it was
            self._release(connection)
            raise
        except BaseException:
            connection.close()
            raise
        tick = self._deadlines.arm(answer, total - (loop.time() - started)) if total is not None else 0
        try:
            result = await answer
        except BaseException:
            connection.close()  # half a request or half an answer: the connection is unusable
            raise
        finally:
            if total is not None:
                self._deadlines.disarm(tick, answer)
        self._release(connection)
        return result

    async def _connection(self, loop: asyncio.AbstractEventLoop, timeout: Timeout, started: float) -> _Connection:
        """A live pooled connection, a new one, or (at the limit) the next one given back."""
        while True:
            if self._closed:
                raise _Broken("the client was closed")
            while self._idle:
                connection = self._idle.pop()
                if connection.usable(loop.time()):
                    return connection
                connection.close(abort=False)
            if len(self._connections) + self._reserved < self.max_connections:
                return await self._connect(loop, timeout, started)
            given = await self._wait_for_turn(loop, timeout, started)
            if given is None:  # a slot was freed and kept for this attempt: look again, it is there
                self._reserved -= 1
            elif not given.closed:
                return given

    async def _wait_for_turn(
        self, loop: asyncio.AbstractEventLoop, timeout: Timeout, started: float
    ) -> _Connection | None:
        turn: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiting.append(turn)
        total = timeout.total
        tick = self._deadlines.arm(turn, total - (loop.time() - started)) if total is not None else 0
        try:
            return await turn
        except BaseException:
            if turn.done() and not turn.cancelled() and turn.exception() is None:
                given = turn.result()  # handed over just as this attempt gave up: pass it on
                if given is None:
                    self._reserved -= 1
                    self._freed()
                else:
                    self._release(given)
            else:
                with contextlib.suppress(ValueError):
                    self._waiting.remove(turn)
            raise
        finally:
            if total is not None:
                self._deadlines.disarm(tick, turn)

    async def _connect(self, loop: asyncio.AbstractEventLoop, timeout: Timeout, started: float) -> _Connection:
        connection = _Connection(self, loop)
        self._connections.add(connection)
        limit = timeout.connect
        if timeout.total is not None:
            left = timeout.total - (loop.time() - started)
            limit = left if limit is None else min(limit, left)
        try:
            context = self._context() if self.tls else None
            connecting = loop.create_connection(
                lambda: connection, self._host, self._port, ssl=context,
                server_hostname=self._host if context is not None else None, **_connect_options(loop),
            )
            if sys.version_info >= (3, 11):
                # Not wait_for: on 3.11 it can swallow a cancel that lands as the connection is made.
                async with asyncio.timeout(limit):
                    await connecting
            else:  # pragma: no cover - Python 3.10
                await asyncio.wait_for(connecting, limit)
        except asyncio.TimeoutError:
            connection.close()
            raise _Expired("connect" if limit == timeout.connect else "total") from None
        except BaseException:
            connection.close()
            raise
        if connection.closed:  # closed while it was being made: connection_made dropped it
            raise _Broken("the client was closed" if self._closed else "the connection closed as it was made")
        return connection

    def _context(self) -> ssl_module.SSLContext:
        if self._ssl is None:
            self._ssl = ssl_module.create_default_context()
        return self._ssl

    def _release(self, connection: _Connection) -> None:
        """Give a finished connection to the next waiting attempt, or back to the pool."""
        if connection.closed or not connection.reusable or self._closed:
            connection.close(abort=False)
            return
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(connection)
                return
        connection.idle_since = self._loop.time() if self._loop is not None else 0.0
        self._idle.append(connection)

    def forget(self, connection: _Connection) -> None:
        """``connection`` is closed: it no longer counts towards the limit."""
        if connection in self._connections:
            self._connections.discard(connection)
            if connection in self._idle:
                self._idle.remove(connection)
            self._freed()

    def _freed(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                self._reserved += 1
                turn.set_result(None)
                return

    def _bytes(self, request: ApiRequest) -> bytes:
        target = self._prefix + request.path
        if _UNSAFE.search(target) is not None:
            target = quote(target, safe="/%:@!$&'()*+,;=-._~")
        if request.query:
            target += "?" + urlencode(request.query, quote_via=quote)
        head = self._heads.get(request.headers)
        body = request.body
        if body is None:
            if request.write:  # a POST or DELETE without a body still says so (some front ends want it)
                body = b""
            else:
                return b"%s %s HTTP/1.1\r\n%s\r\n" % (request.method.encode("ascii"), target.encode("ascii"), head)
        return b"%s %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (
            request.method.encode("ascii"), target.encode("ascii"), head, len(body), body
        )

    def _make_head(self, headers: Mapping[str, str]) -> bytes:
        """The header lines of ``headers`` with Host (made once per set: `PreparedHeaders`)."""
        lines = [self._host_line]
        for name, value in headers.items():
            if not is_header_field(name, value):
                # Checked here too, as the bytes go out as they are. The value is not shown, and
                # the lines made so far go first: either may hold the key.
                del lines
                raise GettError(f"the {name!r} header holds characters an HTTP header cannot carry")
            lines.append(f"{name}: {value}\r\n".encode("ascii"))
        return b"".join(lines)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes a request, parses its answer, then waits for the next."""

    def __init__(self, pool: Http1Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[_Answer] | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._read_limit: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._reset(0)
        self.reusable = True  # nothing written yet

    def _reset(self, limit_ok: int) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self.whole = True
        self.reusable = False
        self._limit_ok = limit_ok
        self._limit = limit_ok
        self._sized = False  # the answer says where it ends (Content-Length or chunked)
        self._head_size: int | None = 0  # bytes received before the head was complete; None once it is

    def usable(self, now: float) -> bool:
        """Open, not closing, and idle for less than `KEEPALIVE`."""
        return (not self.closed and self.transport is not None and not self.transport.is_closing()
                and now - self.idle_since < KEEPALIVE)

    def start(self, data: bytes, limit_ok: int, read_limit: float | None) -> asyncio.Future[_Answer]:
        """Write one request; the future is its answer: (status, raw headers, body, whole)."""
        self._reset(limit_ok)
        self.answer = answer = self.loop.create_future()
        assert self.transport is not None
        self.transport.write(data)
        self._read_limit = read_limit
        if read_limit is not None:
            self._read_timer = self.loop.call_later(read_limit, self._read_expired)
        return answer

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = connected = cast(asyncio.Transport, transport)
        if self.closed:  # closed while it was being made (aclose): nobody will use or close it
            connected.abort()

    def data_received(self, data: bytes) -> None:
        if self.answer is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            # Also raised for on_message_begin's _OutOfStep: a second answer in the same bytes.
            self._fail(_Broken(f"malformed HTTP answer: {exc}"))
            self.close()
            return
        if self._head_size is not None:  # these bytes did not complete the head
            self._head_size += len(data)
            if self._head_size > MAX_HEAD:
                self._fail(_Broken(f"the answer's headers are larger than {MAX_HEAD // 1024} KiB"))
                self.close()
                return
        if self._read_timer is not None and self.answer is not None:
            self._read_timer.cancel()
            assert self._read_limit is not None
            self._read_timer = self.loop.call_later(self._read_limit, self._read_expired)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.answer is not None and self.status and not self._sized and exc is None:
            self._finish()  # an answer that ends when its connection does, complete
        else:
            self._fail(_Broken("the connection closed before the answer was complete"))
        self.pool.forget(self)

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self.answer is None:  # after the answer, in the same bytes: stop the parser here
            self.reusable = False
            raise _OutOfStep

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if sum(len(name) + len(value) for name, value in self.headers) > MAX_HEAD:
            # The per-read count in data_received misses a head that arrives in one read.
            self._fail(_Broken(f"the answer's headers are larger than {MAX_HEAD // 1024} KiB"))
            self.reusable = False
            raise _OutOfStep
        self._head_size = None
        self.status = self.parser.get_status_code()
        if self.status >= 300:
            self._limit = MAX_ERROR_BODY
        self._sized = self.status in (204, 304) or self.status < 200 or any(
            name.lower() == b"content-length" or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())
            for name, value in self.headers
        )

    def on_body(self, chunk: bytes) -> None:
        if self.answer is None:
            return
        room = self._limit - len(self.body)
        if len(chunk) <= room:
            self.body += chunk
            return
        self.body += chunk[:room]
        self.whole = False
        self._finish()
        self.close()  # the rest is unread: the connection cannot be reused

    def on_message_complete(self) -> None:
        if self.answer is not None:
            if 100 <= self.status < 200 and self.status != 101:
                # An interim answer (100 Continue, 103 Early Hints): the final one follows.
                self.status = 0
                self.headers = []
                self._head_size = 0
                return
            self.reusable = self.parser.should_keep_alive()
            self._finish()

    # the end of an exchange

    def _finish(self) -> None:
        answer, self.answer = self.answer, None
        headers, self.headers = self.headers, []  # the answer's own: nothing parsed later lands in it
        self._stop_reading_timer()
        if answer is not None and not answer.done():
            answer.set_result((self.status, headers, bytes(self.body), self.whole))

    def _fail(self, exc: Exception) -> None:
        answer, self.answer = self.answer, None
        self._stop_reading_timer()
        if answer is not None and not answer.done():
            answer.set_exception(exc)

    def _read_expired(self) -> None:
        self._read_timer = None
        self._fail(_Expired(f"no data for {self._read_limit:g} s"))
        self.close()

    def _stop_reading_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def close(self, *, abort: bool = True) -> None:
        """Close the connection (``abort``: at once, dropping what is unread or unsent); it is
        then forgotten by the pool."""
        if not self.closed:
            self.closed = True
            self._fail(_Broken("the connection was closed"))
            if self.transport is not None:
                # TLS: no close_notify exchange, whose socket would outlive the pool's count (and
                # perhaps the loop) while it waits for the server's reply.
                if abort or self.pool.tls:
                    self.transport.abort()
                else:
                    self.transport.close()
        self.pool.forget(self)


def _connect_options(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Happy eyeballs (an address that drops packets does not use up the connect limit) where
    the loop has it: asyncio's own loops do, uvloop does not take the option."""
    return {"happy_eyeballs_delay": 0.25} if isinstance(loop, asyncio.BaseEventLoop) else {}


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired("total"))


def _decoded(body: bytes, encoding: str, limit: int) -> tuple[bytes, bool]:
    """``body`` decompressed (gzip or deflate) to at most ``limit`` bytes, and whether that was all
    of it. The SDK never asks for compression; this is for a server or proxy that sends it anyway."""
    if encoding in ("gzip", "x-gzip"):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        inflater = zlib.decompressobj()
    else:
        return body, True
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error:
        return body, True  # not what it says it is: keep the bytes as sent
    if len(plain) > limit or inflater.unconsumed_tail:
        return plain[:limit], False
    return plain, True

