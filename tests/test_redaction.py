"""The API key never leaves the Authorization header: not in logs, reprs, errors or tracebacks."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from helpers_core import (
    API_KEY,
    BASE,
    ORDER_ID,
    ORDER_URL,
    STORE_ID,
    RecordingGate,
    answering,
    make_client,
    record_sleeps,
)

from gett_async import AiohttpTransport, Attempt, GettClient, GettError, GettValidationError, RetryPolicy

STATUS_URL = f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}/status"
KEY_PARTS = (API_KEY, API_KEY[5:], API_KEY[-16:])  # the key, and long pieces of it


def assert_clean(text: str) -> None:
    for part in KEY_PARTS:
        assert part not in text


def chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and every exception it keeps, shown (causes) or not (suppressed context)."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def assert_exception_clean(exc: BaseException, *, with_locals: bool = True) -> None:
    assert_clean("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    for error in chain(exc):
        assert_clean(str(error))
        assert_clean(repr(error))
        assert_clean(repr(error.args))
        assert_clean(repr(getattr(error, "__dict__", {})))
        if with_locals:
            # What a crash reporter that shows frame locals would print, for every kept exception.
            detailed = traceback.TracebackException(type(error), error, error.__traceback__, capture_locals=True)
            assert_clean("".join(detailed.format(chain=False)))


def assert_logs_clean(caplog: pytest.LogCaptureFixture) -> None:
    assert caplog.records, "expected the SDK to log its attempts"
    for record in caplog.records:
        assert_clean(record.getMessage())
        assert_clean(repr(record.args))
    assert_clean(caplog.text)


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="gett_async")
    return caplog


async def test_key_is_sent_but_the_headers_repr_hides_it(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    mocked.get(STATUS_URL, payload={"status": "online"})
    async with make_client() as gett:
        await gett.orders.complete(ORDER_ID)
        await gett.store_status.get(STORE_ID)
    assert len(mocked.requests) == 2
    for calls in mocked.requests.values():
        headers = calls[0].kwargs["headers"]
        assert headers["Authorization"] == f"Bearer {API_KEY}"
        assert_clean(repr(headers))
        assert_clean(str(headers))
        assert "Bearer ***" in repr(headers)


async def test_client_and_transport_reprs(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    transport = AiohttpTransport(BASE)  # the default transport, made here so the test can look at it
    try:
        async with make_client(transport=transport) as gett:
            await gett.orders.complete(ORDER_ID)
            for text in (repr(gett), str(gett), repr(transport), repr(vars(transport)), repr(gett.orders),
                         repr(gett.gate)):
                assert_clean(text)
    finally:
        await transport.aclose()  # a transport the caller made is the caller's to close
    assert len(mocked.requests) == 1


async def test_what_a_custom_transport_is_handed_shows_no_key_in_its_repr() -> None:
    transport = answering()
    async with make_client(transport=transport) as gett:
        await gett.orders.complete(ORDER_ID)
    [request] = transport.requests
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"  # sent, but not shown:
    assert_clean(repr(transport.requests))
    assert_clean(repr(request.headers))


async def test_successful_and_retried_calls_log_no_key(
    mocked: Any, debug_logs: pytest.LogCaptureFixture
) -> None:
    mocked.post(ORDER_URL, status=204, headers={"X-Request-Id": "r1"})
    mocked.post(ORDER_URL, status=503, payload={"errorCode": "SERVICE_UNAVAILABLE", "retryAfter": 0})
    mocked.post(ORDER_URL, exception=aiohttp.ClientConnectionError("peer reset"))
    mocked.post(ORDER_URL, status=204)
    mocked.get(STATUS_URL, payload={"status": "online"})
    attempts: list[Attempt] = []
    async with make_client(on_attempt=attempts.append) as gett:
        await gett.orders.complete(ORDER_ID)
        assert (await gett.orders.complete(ORDER_ID)).attempts == 3
        await gett.store_status.get(STORE_ID)
    assert len(attempts) == 5
    assert_clean(repr(attempts))
    assert_logs_clean(debug_logs)
    levels = {r.levelname for r in debug_logs.records}
    assert {"DEBUG", "INFO"} <= levels


@pytest.mark.parametrize(
    "response",
    [
        {"status": 401, "payload": {"title": "Unauthorized", "status": 401, "errorCode": "UNAUTHENTICATED",
                                    "detail": "Authentication required. Provide a valid API key (Bearer zpka_...)."}},
        {"status": 403, "body": b""},
        {"status": 422, "payload": {"errors": [{"code": "X", "message": "bad"}], "requestId": "req_1"}},
        {"status": 503, "payload": {"retryable": True}, "repeat": True},
        {"status": 429, "payload": {"retryAfter": 3600}},
        {"exception": aiohttp.ClientConnectionError("connection refused"), "repeat": True},
        {"exception": aiohttp.ServerDisconnectedError(), "repeat": True},
        {"exception": asyncio.TimeoutError(), "repeat": True},
    ],
    ids=["401", "403-bare", "422", "503-exhausted", "429-fail-fast", "connection", "disconnect", "timeout"],
)
async def test_failed_calls_leak_no_key(
    mocked: Any, debug_logs: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, response: dict[str, Any]
) -> None:
    record_sleeps(monkeypatch)  # never sleep for real, whatever the server asks
    mocked.post(ORDER_URL, **response)
    attempts: list[Attempt] = []
    async with make_client(on_attempt=attempts.append, gate=RecordingGate()) as gett:
        with pytest.raises(GettError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
    assert_exception_clean(info.value)
    assert_clean(repr(attempts))
    assert_logs_clean(debug_logs)


async def _failing_server() -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"status": 500, "errorCode": "INTERNAL_ERROR"}, status=500)

    app = web.Application()
    app.router.add_post("/v1/commerce/orders/{order_id}/status", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_real_http_failure_leaks_no_key(debug_logs: pytest.LogCaptureFixture) -> None:
    server = await _failing_server()
    try:
        async with make_client(base_url=str(server.make_url("")), retry=RetryPolicy(max_retries=1, base=0.001,
                                                                                   cap=0.002)) as gett:
            with pytest.raises(GettError) as info:
                await gett.orders.complete(ORDER_ID)
    finally:
        await server.close()
    assert info.value.attempts == 2
    assert_exception_clean(info.value)
    assert_logs_clean(debug_logs)


async def test_real_connection_refused_leaks_no_key(debug_logs: pytest.LogCaptureFixture) -> None:
    """aiohttp's own frames hold the request headers; the SDK's error must not keep them alive."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_client(base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=1, base=0.001,
                                                                                  cap=0.002)) as gett:
        with pytest.raises(GettError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 2
    assert "Cannot connect" in str(info.value)
    assert_exception_clean(info.value)
    assert_logs_clean(debug_logs)


@pytest.mark.parametrize("key", [API_KEY + " trailing", "\n" + API_KEY, f"Bearer {API_KEY}"])
def test_refused_key_is_not_echoed(key: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(key)
    assert info.value.field == "api_key"
    # Frame locals are not checked here: the caller's own frames hold the key it passed.
    assert_exception_clean(info.value, with_locals=False)


@pytest.mark.parametrize(
    "options",
    [
        {"environment": "staging"},
        {"base_url": "http://api.example.com"},
        {"max_connections": 0},
        {"max_retries": -1},
        {"timeout": "5"},
        {"writes_per_minute": 0},
    ],
)
def test_a_client_refusing_other_options_holds_no_plain_key_in_its_frames(options: dict[str, Any]) -> None:
    # The key is passed through a variable the test frame does not keep as a local.
    with pytest.raises(GettValidationError) as info:
        GettClient(*[API_KEY], **options)
    assert info.value.field in {"environment", "base_url", "max_connections", "max_retries", "timeout",
                                "writes_per_minute"}
    error = info.value
    frames = traceback.TracebackException(type(error), error, error.__traceback__, capture_locals=True)
    text = "".join(frames.format(chain=False))
    assert_clean(text)  # every frame, the SDK's included, shows the key only as Secret('***')
    assert "Secret('***')" in text


async def test_debug_logs_show_allow_listed_response_headers(mocked: Any, caplog: pytest.LogCaptureFixture) -> None:
    mocked.post(
        f"https://api.gett-tech.com/v1/commerce/orders/{ORDER_ID}/status",
        status=204,
        headers={"X-RateLimit-Remaining": "7", "Set-Cookie": "session=abc", "X-Request-Id": "req_1"},
    )
    with caplog.at_level(logging.DEBUG, logger="gett_async"):
        async with make_client() as gett:
            await gett.orders.complete(ORDER_ID)
    lines = [r.getMessage() for r in caplog.records if "response headers" in r.getMessage()]
    assert len(lines) == 1
    assert "'X-RateLimit-Remaining': '7'" in lines[0] and "'X-Request-Id': 'req_1'" in lines[0]
    assert "session=abc" not in caplog.text and "Set-Cookie" not in caplog.text
    assert_clean(caplog.text)


# -- GETT_LOG: logs a user turns on from the environment --------------------------------------

#: A fresh interpreter (GETT_LOG is read when gett_async is first imported): one update whose
#: first answer is a 503 echoing the key in its body and request id, then a 204; a write that
#: waits 1.5 s at the gate (on the client's clock), and a read that waits 0.5 s.
GETT_LOG_RUN = textwrap.dedent(r"""
    import asyncio, json, sys
    from gett_async import ApiResponse, GettClient, RetryPolicy
    from gett_async.testing import MockTransport

    KEY, ORDER_ID, STORE_ID = sys.argv[1:4]
    answers = [
        ApiResponse(503, {"Content-Type": "application/problem+json", "X-Request-Id": "Bearer " + KEY},
                    json.dumps({"errorCode": "SERVICE_UNAVAILABLE", "detail": "echo " + KEY,
                                "retryAfter": 1.5}).encode()),
        ApiResponse(204, {"X-Request-Id": "req_2"}),
        ApiResponse(200, {}, b'{"status": "online"}'),
    ]

    class Gate:
        waits = {"write": 1.5, "read": 0.5}

        async def acquire(self, kind, *, priority="interactive"):
            await gett.sleep(self.waits[kind])

        def settle(self, kind, headers, retry_after):
            pass

    class Timed(GettClient):
        now = 0.0

        async def sleep(self, seconds):
            self.now += seconds

        def clock(self):
            return self.now

    async def main():
        global gett
        transport = MockTransport(lambda request: answers.pop(0))
        async with Timed(KEY, transport=transport, gate=Gate(), retry=RetryPolicy(max_retries=3)) as gett:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
            await gett.store_status.get(STORE_ID)

    asyncio.run(main())
""")


def run_with_gett_log(value: str | None) -> str:
    """What the run above writes to stderr with ``GETT_LOG=value`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k != "GETT_LOG"}
    if value is not None:
        env["GETT_LOG"] = value
    done = subprocess.run(
        [sys.executable, "-c", GETT_LOG_RUN, API_KEY, ORDER_ID, STORE_ID],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    return done.stderr


@pytest.mark.parametrize("value", [None, "", "warning", "verbose"])
def test_without_gett_log_the_library_prints_nothing(value: str | None) -> None:
    assert run_with_gett_log(value) == ""


def test_gett_log_info_shows_each_retry_and_each_long_gate_wait_and_no_secret() -> None:
    lines = run_with_gett_log("info").splitlines()
    template = "/v1/commerce/orders/{order_id}/status"
    assert [line.split(" gett_async: ", 1)[1] for line in lines] == [
        f"waited 1.5 s at the rate-limit gate (POST {template}, a write, attempt 1)",
        f"retry 1 of 3 in 1.5 s after 503 SERVICE_UNAVAILABLE (POST {template}, 0.0 ms, "
        "request id Bearer [REDACTED])",
        f"waited 1.5 s at the rate-limit gate (POST {template}, a write, attempt 2)",
    ]  # the read's 0.5 s wait is under a second: not an INFO line
    assert all(" INFO " in line for line in lines)
    assert_clean("\n".join(lines))


def test_gett_log_debug_keeps_every_attempt_and_the_allow_listed_headers() -> None:
    text = run_with_gett_log("DEBUG")
    assert "retry 1 of 3 in 1.5 s after 503 SERVICE_UNAVAILABLE" in text
    assert "DEBUG gett_async: POST /v1/commerce/orders/{order_id}/status -> 204 in 0.0 ms (attempt 2, " \
           "request_id=req_2)" in text
    assert "DEBUG gett_async: GET /v1/commerce/stores/{store_id}/status -> 200" in text
    assert "response headers: {'X-Request-Id': 'req_2'}" in text
    assert_clean(text)
