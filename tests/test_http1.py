"""`Http1Transport` over real loopback servers that send bytes the test controls: keep-alive,
the connection limit, bodies, bounded reads, timeouts, failures, cancellation, closing, header
safety, gzip, TLS, and the client on top of it."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import ssl
import threading
import traceback
import warnings
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import pytest
import trustme
from helpers_core import API_KEY, FAST, ORDER_ID

from gett_async import (
    APIConnectionError,
    ApiRequest,
    APITimeoutError,
    GettClient,
    GettError,
    GettValidationError,
    Http1Transport,
    Timeout,
)

MiB = 1024 * 1024
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
PING = ApiRequest("GET", "/v1/ping")


@attrs.frozen
class Seen:
    """One request as the server read it."""

    connection: int  # which accepted connection (1, 2, ...) it came on
    line: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def target(self) -> str:
        return self.line.split(" ")[1]


Handler = Callable[["Server", asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Server:
    """A loopback server: counts connections (accepted, open now, most open at once) and
    keeps every request it reads with `read`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open = 0
        self.peak = 0
        self.seen: list[Seen] = []
        self.port = 0
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def read(self, reader: asyncio.StreamReader, connection: int) -> Seen:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        line, *rest = head[:-4].split("\r\n")
        headers = {}
        for field in rest:
            name, _, value = field.partition(":")
            headers[name.lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        seen = Seen(connection, line, headers, body)
        self.seen.append(seen)
        return seen

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        try:
            await self.handler(self, reader, writer, self.connections)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            self.open -= 1
            writer.close()
            self._tasks.discard(task)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@asynccontextmanager
async def serve(handler: Handler, *, tls: ssl.SSLContext | None = None) -> AsyncIterator[Server]:
    server = Server(handler)
    listening = await asyncio.start_server(server.accept, "127.0.0.1", 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()
        await server.stop()


def answering(*answers: bytes) -> Handler:
    """Reads requests and answers each with the next of ``answers`` (the last one for ever)."""

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read(reader, n)
            writer.write(answers[min(len(server.seen), len(answers)) - 1])
            await writer.drain()

    return handler


@asynccontextmanager
async def transport(url: str, **options: Any) -> AsyncIterator[Http1Transport]:
    t = Http1Transport(url, **options)
    try:
        yield t
    finally:
        await t.aclose()


def zeros_gzipped(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(MiB)
    return b"".join(packer.compress(chunk) for _ in range(size // MiB)) + packer.flush()


# -- keep-alive and the request bytes -----------------------------------------------------


async def test_sequential_requests_reuse_one_connection_and_arrive_exactly() -> None:
    body = b'{"status":"ready"}'
    requests = [
        ApiRequest("POST", "/v1/orders/1/status", body=body, headers={"Content-Type": "application/json"}),
        ApiRequest("GET", "/v1/x", query={"q": "a b&c/é"}),
        ApiRequest("GET", "/v1/a b/é"),
    ]
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    async with serve(answering(ok)) as server, transport(server.url) as t:
        answers = [await t.send(request, timeout=Timeout()) for request in requests]
    assert [(a.status, a.body) for a in answers] == [(200, b"ok")] * 3
    assert server.connections == 1
    post, query, path = server.seen
    assert post.line == "POST /v1/orders/1/status HTTP/1.1"
    assert post.headers == {"host": f"127.0.0.1:{server.port}", "content-type": "application/json",
                            "content-length": str(len(body))}
    assert post.body == body
    assert query.line.startswith("GET ") and query.line.endswith(" HTTP/1.1")
    assert query.target.isascii() and " " not in query.target
    assert urlsplit(query.target).path == "/v1/x"
    assert parse_qs(urlsplit(query.target).query) == {"q": ["a b&c/é"]}
    assert (query.headers, query.body) == ({"host": f"127.0.0.1:{server.port}"}, b"")
    assert path.target == "/v1/a%20b/%C3%A9"


async def test_a_base_url_path_prefixes_every_request() -> None:
    async with serve(answering(NO_CONTENT)) as server, transport(server.url + "/api/") as t:
        assert (await t.send(PING, timeout=Timeout())).status == 204
    assert server.seen[0].line == "GET /api/v1/ping HTTP/1.1"


# -- the connection limit -----------------------------------------------------------------


async def test_sends_beyond_the_limit_wait_for_a_connection() -> None:
    two_arrived = asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read(reader, n)
            if len(server.seen) >= 2:
                two_arrived.set()
            await two_arrived.wait()  # nothing is answered before two connections are busy
            writer.write(NO_CONTENT)
            await writer.drain()

    async with serve(handler) as server, transport(server.url, max_connections=2) as t:
        answers = await asyncio.gather(*(t.send(PING, timeout=Timeout()) for _ in range(10)))
    assert [a.status for a in answers] == [204] * 10
    assert (server.peak, server.connections, len(server.seen)) == (2, 2, 10)


async def first_hangs_up(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    """Hangs up on the first connection's request without an answer; answers 204 on the others."""
    while True:
        await server.read(reader, n)
        if n == 1:
            return
        writer.write(NO_CONTENT)
        await writer.drain()


async def test_a_slot_freed_by_a_failure_is_not_taken_twice() -> None:
    """The one connection allowed fails while another send waits for it; a new send takes the
    freed slot first, and the waiting one must then wait for that connection, not open a second."""

    async with serve(first_hangs_up) as server, transport(server.url, max_connections=1) as t:
        waiting = asyncio.ensure_future(t.send(PING, timeout=Timeout(total=5)))  # runs once this task waits
        with pytest.raises(APIConnectionError):
            await t.send(PING, timeout=Timeout(total=5))
        # This task runs first after the failure: its send takes the slot before the waiting one wakes.
        fresh = await t.send(PING, timeout=Timeout(total=5))
        assert (fresh.status, (await waiting).status) == (204, 204)
    assert (server.peak, server.connections) == (1, 2)


# -- bodies -------------------------------------------------------------------------------


async def test_each_way_a_body_can_end() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
    ]

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read(reader, n)
            answer = answers.pop(0) if answers else b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain"
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                return  # the body ends as the connection does

    async with serve(handler) as server, transport(server.url) as t:
        got = [await t.send(PING, timeout=Timeout()) for _ in range(5)]
    assert [(a.status, a.body) for a in got] == [
        (200, b"hello"), (200, b"hello world"), (204, b""), (200, b"to the end"), (200, b"again")
    ]
    assert [seen.connection for seen in server.seen] == [1, 1, 1, 1, 2]


async def test_an_answer_saying_connection_close_is_not_reused() -> None:
    # The server keeps the connection open: only the client can decide not to reuse it.
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with serve(answering(closing)) as server, transport(server.url) as t:
        got = [await t.send(PING, timeout=Timeout()) for _ in range(2)]
    assert [(a.status, a.body) for a in got] == [(200, b"ok")] * 2
    assert [seen.connection for seen in server.seen] == [1, 2]


async def test_interim_answers_are_skipped_for_the_final_one() -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nX-Final: yes\r\nContent-Length: 2\r\n\r\nok"
    continued = b"HTTP/1.1 100 Continue\r\n\r\n" + early + final
    async with serve(answering(early + final, continued)) as server, transport(server.url) as t:
        got = [await t.send(PING, timeout=Timeout(total=5)) for _ in range(3)]
    assert [(a.status, a.body, a.headers.get("X-Final"), "Link" in a.headers) for a in got] == [
        (200, b"ok", "yes", False)
    ] * 3
    assert [seen.connection for seen in server.seen] == [1, 1, 1]


# -- bounded reads ------------------------------------------------------------------------


async def test_reads_are_bounded_and_the_transport_goes_on() -> None:
    cut: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def stream(writer: asyncio.StreamWriter, head: bytes, size: int, byte: bytes) -> bool:
        """Writes ``head`` and ``size`` bytes; False when the client hung up first."""
        writer.write(head % size)
        try:
            for _ in range(size // MiB):
                writer.write(byte * MiB)
                await writer.drain()
        except ConnectionError:
            return False
        return True

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            seen = await server.read(reader, n)
            if seen.target == "/huge":
                whole = await stream(writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 50 * MiB, b"x")
                cut.set_result("written" if whole else "cut")
                return
            if seen.target == "/error":
                await stream(writer, b"HTTP/1.1 500 Oops\r\nContent-Length: %d\r\n\r\n", 2 * MiB, b"e")
                return
            if seen.target == "/large":
                await stream(writer, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", 17 * MiB, b"l")
                return
            writer.write(NO_CONTENT)
            await writer.drain()

    async with serve(handler) as server, transport(server.url) as t:
        huge = await t.send(ApiRequest("POST", "/huge", body=b"{}", reads_body=False), timeout=Timeout())
        assert huge.status == 200
        assert 0 < len(huge.body) <= 64 * 1024 and huge.body == b"x" * len(huge.body)
        assert await cut == "cut"
        assert (await t.send(PING, timeout=Timeout())).status == 204

        error = await t.send(ApiRequest("POST", "/error", body=b"{}", reads_body=False), timeout=Timeout())
        assert (error.status, error.body) == (500, b"e" * MiB)
        assert (await t.send(PING, timeout=Timeout())).status == 204

        with pytest.raises(GettError, match="larger than 16 MiB") as caught:
            await t.send(ApiRequest("GET", "/large"), timeout=Timeout())
        assert not isinstance(caught.value, APIConnectionError)
        assert (await t.send(PING, timeout=Timeout())).status == 204


# -- timeouts -----------------------------------------------------------------------------


def silent(after: bytes = b"") -> tuple[Handler, asyncio.Event, asyncio.Event]:
    """A handler that reads the request, sends ``after`` and then nothing; the events are set
    once the request arrived and once the client hung up."""
    arrived, hung_up = asyncio.Event(), asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read(reader, n)
        arrived.set()
        writer.write(after)
        await reader.read()
        hung_up.set()

    return handler, arrived, hung_up


async def test_a_server_that_never_answers_times_out() -> None:
    handler, _, hung_up = silent()
    async with serve(handler) as server, transport(server.url) as t:
        with pytest.raises(APITimeoutError, match=r"total 0.3 s"):
            await t.send(PING, timeout=Timeout(total=0.3))
        await hung_up.wait()  # the timed-out connection was closed
        assert not t.unclosed()


async def test_an_answer_that_stalls_after_its_headers_hits_the_read_timeout() -> None:
    handler, _, hung_up = silent(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    async with serve(handler) as server, transport(server.url) as t:
        with pytest.raises(APITimeoutError, match=r"no data for 0.2 s"):
            await t.send(PING, timeout=Timeout(total=None, read=0.2))
        await hung_up.wait()


def held(answer: bytes) -> tuple[Handler, asyncio.Event, asyncio.Event]:
    """A handler that answers each request with ``answer`` once ``release`` is set; ``arrived``
    is set as each request is read."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read(reader, n)
            arrived.set()
            await release.wait()
            writer.write(answer)
            await writer.drain()

    return handler, arrived, release


async def test_waiting_for_a_connection_counts_towards_the_total_and_the_pool_recovers() -> None:
    handler, arrived, release = held(NO_CONTENT)

    async with serve(handler) as server, transport(server.url, max_connections=1) as t:
        stalled = asyncio.ensure_future(t.send(PING, timeout=Timeout(total=None)))
        await arrived.wait()
        with pytest.raises(APITimeoutError):
            await t.send(PING, timeout=Timeout(total=0.3))
        release.set()
        assert (await stalled).status == 204
        assert (await t.send(PING, timeout=Timeout(total=5))).status == 204
    assert (server.connections, len(server.seen)) == (1, 2)


# -- failures -----------------------------------------------------------------------------


async def test_a_refused_connection_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with transport(f"http://127.0.0.1:{port}") as t:
        with pytest.raises(APIConnectionError) as caught:
            await t.send(PING, timeout=Timeout())
    assert not isinstance(caught.value, APITimeoutError)


async def test_a_malformed_answer_is_a_connection_error_that_never_shows_the_key() -> None:
    async with serve(answering(b"garbage\r\n\r\n")) as server, transport(server.url) as t:
        with pytest.raises(APIConnectionError) as caught:
            await t.send(ApiRequest("GET", "/v1/x", headers={"Authorization": f"Bearer {API_KEY}"}),
                         timeout=Timeout())
    assert server.seen[0].headers["authorization"] == f"Bearer {API_KEY}"  # it was sent
    text = str(caught.value) + repr(caught.value) + "".join(traceback.format_exception(caught.value))
    assert "malformed" in text
    assert API_KEY not in text


async def test_a_connection_closed_mid_body_is_a_connection_error_and_the_next_send_works() -> None:
    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            await server.read(reader, n)
            if n == 1:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                await writer.drain()
                return
            writer.write(NO_CONTENT)
            await writer.drain()

    async with serve(handler) as server, transport(server.url) as t:
        with pytest.raises(APIConnectionError) as caught:
            await t.send(PING, timeout=Timeout())
        assert not isinstance(caught.value, APITimeoutError)
        assert (await t.send(PING, timeout=Timeout())).status == 204
    assert server.connections == 2


async def test_bytes_on_an_idle_connection_drop_it() -> None:
    answered, dropped = asyncio.Event(), asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read(reader, n)
        writer.write(NO_CONTENT)
        await writer.drain()
        if n == 1:
            await answered.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate")  # nobody asked
            await writer.drain()
            await reader.read()  # had the client reused it, a request would arrive, not EOF
            dropped.set()
        else:
            await reader.read()

    async with serve(handler) as server, transport(server.url) as t:
        assert (await t.send(PING, timeout=Timeout())).status == 204
        answered.set()
        await dropped.wait()
        second = await t.send(PING, timeout=Timeout())
    assert (second.status, second.body) == (204, b"")
    assert [seen.connection for seen in server.seen] == [1, 2]


# -- cancellation -------------------------------------------------------------------------


async def test_a_cancelled_send_closes_its_connection_and_the_next_one_works() -> None:
    arrived, eof = asyncio.Event(), asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read(reader, n)
        if n == 1:
            arrived.set()
            await reader.read()
            eof.set()
            return
        writer.write(NO_CONTENT)
        await writer.drain()
        await reader.read()

    async with serve(handler) as server, transport(server.url, max_connections=1) as t:
        call = asyncio.ensure_future(t.send(PING, timeout=Timeout()))
        await arrived.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await eof.wait()
        assert (await t.send(PING, timeout=Timeout(total=5))).status == 204
    assert server.connections == 2


# -- aclose -------------------------------------------------------------------------------


async def test_aclose_fails_an_inflight_send_and_later_sends() -> None:
    handler, arrived, hung_up = silent()
    async with serve(handler) as server:
        t = Http1Transport(server.url)
        call = asyncio.ensure_future(t.send(PING, timeout=Timeout()))
        await arrived.wait()
        await t.aclose()
        with pytest.raises(APIConnectionError, match="closed"):
            await call
        await hung_up.wait()
        assert not t.unclosed()
        with pytest.raises(GettError, match="closed") as caught:
            await t.send(PING, timeout=Timeout())
        assert not isinstance(caught.value, APIConnectionError)
    assert len(server.seen) == 1


def test_a_transport_belongs_to_one_event_loop() -> None:
    t = Http1Transport("http://127.0.0.1:9")
    asyncio.run(t.open())
    with pytest.raises(GettError, match="another event loop"):
        asyncio.run(t.send(PING, timeout=Timeout()))


# -- header safety ------------------------------------------------------------------------


async def test_a_header_value_with_a_line_break_is_refused_before_any_byte_is_sent() -> None:
    value = "ok\r\nX-Injected: 1"
    async with serve(answering(NO_CONTENT)) as server, transport(server.url, max_connections=1) as t:
        with pytest.raises(GettError) as caught:
            await t.send(ApiRequest("GET", "/v1/x", headers={"X-Custom": value}), timeout=Timeout())
        # The one connection allowed is free: the refused request took none.
        assert (await t.send(PING, timeout=Timeout(total=5))).status == 204
    assert "X-Custom" in str(caught.value)
    assert "X-Injected" not in str(caught.value) + repr(caught.value)
    assert [(seen.connection, seen.line) for seen in server.seen] == [(1, "GET /v1/ping HTTP/1.1")]
    assert server.connections == 1


# -- gzip ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "wbits"), [(b"gzip", 16 + zlib.MAX_WBITS), (b"deflate", zlib.MAX_WBITS)])
async def test_a_compressed_answer_is_decompressed(encoding: bytes, wbits: int) -> None:
    document = json.dumps({"stores": [{"id": i} for i in range(100)]}).encode()
    packed = zlib.compress(document, wbits=wbits)
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: %s\r\n" % encoding
    answer += b"Content-Length: %d\r\n\r\n%s" % (len(packed), packed)
    async with serve(answering(answer)) as server, transport(server.url) as t:
        got = await t.send(PING, timeout=Timeout())
    assert (got.status, got.body) == (200, document)


async def test_a_gzip_bomb_is_refused_as_too_large() -> None:
    bomb = zeros_gzipped(50 * MiB)
    answer = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
    async with serve(answering(answer, NO_CONTENT)) as server, transport(server.url) as t:
        with pytest.raises(GettError, match="larger than 16 MiB") as caught:
            await t.send(PING, timeout=Timeout())
        assert not isinstance(caught.value, APIConnectionError)
        assert (await t.send(PING, timeout=Timeout())).status == 204


# -- TLS ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


def https(server: Server) -> str:
    return f"https://127.0.0.1:{server.port}"


def trusting(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


async def test_https_with_a_trusted_certificate(ca: trustme.CA) -> None:
    tls, trusted = server_context(ca, "127.0.0.1"), trusting(ca)
    async with serve(answering(NO_CONTENT), tls=tls) as server, transport(https(server), ssl=trusted) as t:
        got = [await t.send(PING, timeout=Timeout()) for _ in range(2)]
    assert [a.status for a in got] == [204, 204]
    assert server.connections == 1


async def test_https_refuses_an_untrusted_certificate(ca: trustme.CA) -> None:
    tls = server_context(ca, "127.0.0.1")
    async with serve(answering(NO_CONTENT), tls=tls) as server, transport(https(server)) as t:
        with pytest.raises(APIConnectionError, match="certificate verify failed"):
            await t.send(PING, timeout=Timeout())
    assert server.seen == []


async def test_https_refuses_a_certificate_for_another_name(ca: trustme.CA) -> None:
    tls, trusted = server_context(ca, "example.org"), trusting(ca)
    async with serve(answering(NO_CONTENT), tls=tls) as server, transport(https(server), ssl=trusted) as t:
        with pytest.raises(APIConnectionError, match="mismatch"):
            await t.send(PING, timeout=Timeout())
    assert server.seen == []


async def test_aclose_during_a_tls_handshake_leaves_no_connection(ca: trustme.CA) -> None:
    """The connection is still being made (the server holds its side of the handshake) when
    the transport closes: once made, it must be dropped, not used for the request."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.Transport] = loop.create_future()
    ended: asyncio.Future[bytes] = loop.create_future()
    received = bytearray()

    class Held(asyncio.Protocol):
        def connection_made(self, raw: asyncio.BaseTransport) -> None:
            assert isinstance(raw, asyncio.Transport)
            raw.pause_reading()  # the client's hello waits in the socket
            accepted.set_result(raw)

        def data_received(self, data: bytes) -> None:
            received.extend(data)
            if tls is not None and received.endswith(b"\r\n\r\n"):
                tls.write(NO_CONTENT)  # what a client that went on with the request would get

        def connection_lost(self, exc: Exception | None) -> None:
            if not ended.done():
                ended.set_result(bytes(received))

    listening = await loop.create_server(Held, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    tls: asyncio.WriteTransport | None = None
    try:
        t = Http1Transport(f"https://127.0.0.1:{port}", ssl=trusting(ca))
        call = asyncio.ensure_future(t.send(PING, timeout=Timeout(total=5)))
        raw = await accepted
        await t.aclose()
        try:
            tls = await loop.start_tls(raw, raw.get_protocol(), server_context(ca, "127.0.0.1"), server_side=True)
        except (ConnectionError, ssl.SSLError):
            if not ended.done():
                ended.set_result(b"")
        with pytest.raises(APIConnectionError, match="closed"):
            await call
        assert await ended == b""  # the client hung up without sending the request
        assert not t.unclosed()
    finally:
        if tls is not None:
            tls.close()
        listening.close()
        await listening.wait_closed()


# -- through GettClient -------------------------------------------------------------------


async def test_the_client_sends_an_update_over_the_default_transport() -> None:
    async with serve(answering(NO_CONTENT)) as server, GettClient(API_KEY, base_url=server.url, retry=FAST) as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="ready")
        again = await gett.orders.update_status(ORDER_ID, status="ready")
    assert (receipt.status, receipt.attempts, again.status) == (204, 1, 204)
    seen = server.seen[0]
    assert seen.line == f"POST /v1/commerce/orders/{ORDER_ID}/status HTTP/1.1"
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"status": "ready"}
    # The client's headers and nothing more: aiohttp, the other transport, would add Accept-Encoding.
    assert set(seen.headers) == {"host", "authorization", "user-agent", "accept", "content-type", "content-length"}
    assert server.connections == 1


async def test_the_client_retries_a_dropped_connection() -> None:
    async with serve(first_hangs_up) as server, GettClient(API_KEY, base_url=server.url, retry=FAST) as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="ready")
    assert (receipt.status, receipt.attempts) == (204, 2)
    assert [seen.connection for seen in server.seen] == [1, 2]
    assert server.seen[0].body == server.seen[1].body


# -- after review (f3ae56e): one regression test for each fix -----------------------------


async def test_a_second_answer_in_the_same_bytes_stays_out_of_the_first_and_drops_the_connection() -> None:
    first = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Who: A\r\n\r\nA"
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-Who: stray\r\n\r\nstr"  # its body cut short
    second = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Who: B\r\n\r\nB"
    async with serve(answering(first + stray, second)) as server, transport(server.url) as t:
        a = await t.send(PING, timeout=Timeout(total=5))
        b = await t.send(PING, timeout=Timeout(total=5))
    assert (a.status, list(a.headers.items()), a.body) == (200, [("Content-Length", "1"), ("X-Who", "A")], b"A")
    assert (b.status, b.headers.get("X-Who"), b.body) == (200, "B", b"B")
    assert [seen.connection for seen in server.seen] == [1, 2]


async def test_a_waiting_send_is_served_while_another_sends_back_to_back() -> None:
    """One connection allowed, each answer closes it: the slot a busy sender frees goes to the
    send waiting for it, not back to the busy sender (without a total timeout, it would wait for ever)."""
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    first, served = asyncio.Event(), asyncio.Event()

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read(reader, n)
        first.set()
        writer.write(closing)
        await writer.drain()

    async with serve(handler) as server, transport(server.url, max_connections=1) as t:
        busy_sent = 0

        async def busy() -> None:
            nonlocal busy_sent
            while not served.is_set() and busy_sent < 50:
                await t.send(PING, timeout=Timeout(total=None))
                busy_sent += 1

        busy_task = asyncio.ensure_future(busy())
        await first.wait()  # the busy sender holds the only connection
        assert (await t.send(PING, timeout=Timeout(total=None))).status == 200
        served_after = busy_sent
        served.set()
        await busy_task
    assert served_after < 50
    assert server.peak == 1


@pytest.mark.parametrize("close", [b"", b"Connection: close\r\n"], ids=["connection handed over", "slot freed"])
async def test_a_waiting_send_given_its_turn_just_before_aclose_sends_nothing(close: bytes) -> None:
    """A sends its last request and closes the transport; B, waiting for the one connection, is
    handed it (or its slot) by A's send and runs only after A's aclose: B must not connect again."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n" + close + b"\r\n"
    handler, arrived, release = held(answer)

    async with serve(handler) as server:
        t = Http1Transport(server.url, max_connections=1)

        async def last_then_close() -> int:
            status = (await t.send(ApiRequest("GET", "/A"), timeout=Timeout(total=5))).status
            await t.aclose()  # B was given its turn, but has not run yet
            return status

        a = asyncio.ensure_future(last_then_close())
        await arrived.wait()
        b = asyncio.ensure_future(t.send(ApiRequest("GET", "/B"), timeout=Timeout(total=5)))
        release.set()  # B runs first and waits: A's connection is busy
        assert await a == 200
        with pytest.raises(APIConnectionError, match="closed"):
            await b
        assert not t.unclosed()
    assert [seen.line for seen in server.seen] == ["GET /A HTTP/1.1"]
    assert server.connections == 1


async def test_a_write_without_a_body_says_content_length_0() -> None:
    async with serve(answering(NO_CONTENT)) as server, transport(server.url) as t:
        for method in ("POST", "DELETE", "GET"):
            assert (await t.send(ApiRequest(method, "/v1/x"), timeout=Timeout())).status == 204
    assert [(seen.line.split(" ")[0], seen.headers.get("content-length")) for seen in server.seen] == [
        ("POST", "0"), ("DELETE", "0"), ("GET", None)
    ]


async def test_an_answer_head_over_64_kib_is_refused_and_a_body_in_the_same_read_is_not_counted() -> None:
    # A header of 1 MiB: more than one read of the socket, so the head grows over reads.
    huge = b"HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 2\r\n\r\nok" % (b"a" * MiB)
    body = b"b" * (60 * 1024)
    large = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)  # written at once
    async with serve(answering(huge, large)) as server, transport(server.url) as t:
        with pytest.raises(APIConnectionError, match="larger than 64 KiB"):
            await t.send(PING, timeout=Timeout(total=5))
        got = await t.send(PING, timeout=Timeout(total=5))
    assert (got.status, got.body) == (200, body)
    assert [seen.connection for seen in server.seen] == [1, 2]


async def test_a_send_due_while_it_waited_for_the_connection_is_never_written() -> None:
    """B waits for the one connection; its total passes before A's answer frees it, but the
    shared deadline timer, which fires on tenths of a second, has not fired yet."""
    loop = asyncio.get_running_loop()
    arrived, go = asyncio.Event(), asyncio.Event()
    total = 0.0

    async def handler(server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while True:
            seen = await server.read(reader, n)
            if seen.target == "/A":
                arrived.set()
                await go.wait()  # B has started and waits
                due = loop.time() + total
                while loop.time() <= due:  # B's total passes, and the loop runs no timer meanwhile
                    pass
            writer.write(NO_CONTENT)
            await writer.drain()

    async with serve(handler) as server, transport(server.url, max_connections=1) as t:
        a = asyncio.ensure_future(t.send(ApiRequest("POST", "/A", body=b"{}"), timeout=Timeout(total=5)))
        await arrived.wait()
        now = loop.time()
        total = (int(now * 10) + 2) / 10 + 0.01 - now  # B is due just after a tenth: its timer fires 0.09 s later
        b = asyncio.ensure_future(t.send(ApiRequest("POST", "/B", body=b"{}"), timeout=Timeout(total=total)))
        go.set()
        with pytest.raises(APITimeoutError):
            await b
        assert (await a).status == 204
        assert (await t.send(PING, timeout=Timeout(total=5))).status == 204  # the connection B was given is fine
    assert [(seen.connection, seen.target) for seen in server.seen] == [(1, "/A"), (1, "/v1/ping")]


def frame_values(exc: BaseException) -> str:
    """The repr of every local of every frame in the tracebacks of ``exc`` and its chain."""
    found, chain, done = [], [exc], set()
    while chain:
        exc = chain.pop()
        if id(exc) in done:
            continue
        done.add(id(exc))
        chain += [e for e in (exc.__cause__, exc.__context__) if e is not None]
        tb = exc.__traceback__
        while tb is not None:
            found += [f"{tb.tb_frame.f_code.co_name}.{name}={value!r}" for name, value in tb.tb_frame.f_locals.items()]
            tb = tb.tb_next
    return "\n".join(found)


@pytest.mark.parametrize("in_a_task", [False, True], ids=["inline", "in a task"])
async def test_an_outer_timeout_keeps_the_key_out_of_every_frame(in_a_task: bool) -> None:
    """An outer ``asyncio.timeout`` fires only once the request arrived, i.e. while the send
    waits for the answer with the request's bytes made: no frame of the traceback may hold them."""
    request = ApiRequest("GET", "/v1/x", headers={"Authorization": f"Bearer {API_KEY}"})
    handler, arrived, _ = silent()
    async with serve(handler) as server, transport(server.url) as t:
        with pytest.raises(TimeoutError) as caught:
            async with asyncio.timeout(None) as outer:

                async def fire_once_arrived() -> None:
                    await arrived.wait()
                    outer.reschedule(asyncio.get_running_loop().time())  # due now

                firing = asyncio.ensure_future(fire_once_arrived())
                sending = t.send(request, timeout=Timeout(total=None))
                await (asyncio.ensure_future(sending) if in_a_task else sending)
        await firing
    seen = frame_values(caught.value)
    assert "_exchange." in seen  # the transport's frames are there to look at
    assert API_KEY not in seen


def test_aclose_over_tls_leaves_no_socket_unclosed(ca: trustme.CA) -> None:
    """The server answers, then neither reads nor closes until the client's loop is gone: a
    close that waits for the close_notify exchange would leave its socket to the collector."""
    tls, trusted, loop_gone = server_context(ca, "127.0.0.1"), trusting(ca), threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listening:
        listening.settimeout(5)

        def serve_one() -> None:
            with tls.wrap_socket(listening.accept()[0], server_side=True) as conn:
                received = b""
                while not received.endswith(b"\r\n\r\n"):
                    received += conn.recv(4096)
                conn.sendall(NO_CONTENT)
                loop_gone.wait(5)

        async def exchange() -> int:
            t = Http1Transport(f"https://127.0.0.1:{listening.getsockname()[1]}", ssl=trusted)
            status = (await t.send(PING, timeout=Timeout(total=5))).status
            await t.aclose()
            return status

        server = threading.Thread(target=serve_one, daemon=True)
        server.start()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                assert asyncio.run(exchange()) == 204
                gc.collect()
        finally:
            loop_gone.set()
            server.join(5)
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not [m for m in unclosed if "unclosed" in m and ("socket" in m or "transport" in m)], unclosed


@pytest.mark.parametrize("built_in", [None, "aiohttp"], ids=["http1", "aiohttp"])
async def test_the_client_takes_an_ssl_context_for_a_private_ca(ca: trustme.CA, built_in: str | None) -> None:
    tls = server_context(ca, "127.0.0.1")
    async with serve(answering(NO_CONTENT), tls=tls) as server:
        async with GettClient(API_KEY, base_url=https(server), ssl=trusting(ca), transport=built_in) as gett:
            receipt = await gett.orders.complete(ORDER_ID)
        async with GettClient(API_KEY, base_url=https(server), transport=built_in, max_retries=0) as gett:
            with pytest.raises(APIConnectionError, match="certificate verify failed"):
                await gett.orders.complete(ORDER_ID)  # the system's CAs do not know this one
    assert receipt.status == 204
    assert len(server.seen) == 1


@pytest.mark.parametrize("options", [
    {"ssl": "not a context"},
    {"ssl": ssl.create_default_context(), "transport": Http1Transport("http://127.0.0.1:1")},
])
def test_the_clients_ssl_option_is_checked(options: dict[str, Any]) -> None:
    with pytest.raises(GettValidationError) as caught:
        GettClient(API_KEY, base_url="http://127.0.0.1:1", **options)
    assert caught.value.field == "ssl"


async def test_head_requests_and_no_connections_are_refused() -> None:
    with pytest.raises(GettError, match="max_connections"):
        Http1Transport("http://127.0.0.1:1", max_connections=0)
    async with serve(answering(NO_CONTENT)) as server, transport(server.url) as t:
        with pytest.raises(GettError, match="HEAD"):
            await t.send(ApiRequest("HEAD", "/v1/x"), timeout=Timeout())
    assert server.seen == []
