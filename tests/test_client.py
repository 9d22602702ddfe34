"""GettClient construction, lifecycle, sessions, event loops, timeouts, hooks and trace configs.

Everything through public seams: `MockTransport` (what a transport is given), aioresponses or a
loopback server (what goes over the wire), and aiohttp tracing (the session a client made).
"""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
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
    RecordingGate,
    answering,
    make_client,
    only_call,
    total_calls,
)

from gett_async import (
    NOT_GIVEN,
    APIConnectionError,
    ApiResponse,
    APITimeoutError,
    Attempt,
    GettClient,
    GettError,
    GettValidationError,
    HeaderRateLimitGate,
    RetryPolicy,
    ServerError,
    Timeout,
)
from gett_async.client import DEFAULT_TIMEOUT
from gett_async.testing import MockTransport

SANDBOX = "https://api-sandbox.gett-tech.com"


@pytest.fixture(autouse=True)
def _no_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the client talks must come from the arguments of each test alone."""
    for name in ("GETT_API_KEY", "GETT_BASE_URL", "GETT_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)


# -- API key -----------------------------------------------------------------------------


async def test_key_from_environment_is_sent(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GETT_API_KEY", "zpka_from_env_42")
    mocked.post(ORDER_URL, status=204)
    async with GettClient(transport="aiohttp") as gett:
        await gett.orders.complete(ORDER_ID)
    assert only_call(mocked)[2]["headers"]["Authorization"] == "Bearer zpka_from_env_42"


async def test_explicit_key_wins_over_environment(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GETT_API_KEY", "zpka_from_env_42")
    mocked.post(ORDER_URL, status=204)
    async with GettClient(API_KEY, transport="aiohttp") as gett:
        await gett.orders.complete(ORDER_ID)
    assert only_call(mocked)[2]["headers"]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("env", [None, ""])
def test_missing_key_refused(monkeypatch: pytest.MonkeyPatch, env: str | None) -> None:
    if env is None:
        monkeypatch.delenv("GETT_API_KEY", raising=False)
    else:
        monkeypatch.setenv("GETT_API_KEY", env)
    with pytest.raises(GettValidationError, match="GETT_API_KEY") as info:
        GettClient()
    assert info.value.field == "api_key"


@pytest.mark.parametrize("key", ["zpka one", "zpka\r\nX-Evil: 1", " zpka", "zpka\t", 12345])
def test_malformed_key_refused(key: Any) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(key)
    assert info.value.field == "api_key"


# -- environments and base URLs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "base"), [("production", BASE), ("sandbox", SANDBOX)], ids=["production", "sandbox"]
)
async def test_environments(mocked: Any, environment: str, base: str) -> None:
    url = f"{base}/v1/commerce/orders/{ORDER_ID}/status"
    mocked.post(url, status=204)
    async with GettClient(API_KEY, environment=environment, transport="aiohttp") as gett:
        assert gett.base_url == base
        assert gett.environment == environment
        await gett.orders.complete(ORDER_ID)
    assert only_call(mocked)[:2] == ("POST", url)


def test_default_environment_is_production() -> None:
    assert GettClient(API_KEY).base_url == BASE


@pytest.mark.parametrize("environment", ["staging", "Production", "prod"])
def test_unknown_environment_refused(environment: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, environment=environment)
    assert info.value.field == "environment"


async def test_base_url_override(mocked: Any) -> None:
    url = f"https://gett-proxy.example.com/gett/v1/commerce/orders/{ORDER_ID}/status"
    mocked.post(url, status=204)
    async with GettClient(API_KEY, environment="sandbox", base_url="https://gett-proxy.example.com/gett/",
                          transport="aiohttp") as gett:
        assert gett.base_url == "https://gett-proxy.example.com/gett"
        await gett.orders.complete(ORDER_ID)
    assert only_call(mocked)[:2] == ("POST", url)


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.5.5",
        "http://[::1]:8080",
        "http://localhost:9000",
        "http://LOCALHOST",
        "https://api.example.com",
        "https://10.0.0.5:8443",
    ],
)
def test_allowed_base_urls(base_url: str) -> None:
    assert GettClient(API_KEY, base_url=base_url).base_url == base_url


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.gett-tech.com",
        "http://10.0.0.1",
        "http://192.168.1.10:8080",
        "http://localhost.evil.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::2]",
        "ftp://127.0.0.1",
        "api.gett-tech.com",
        "https://user:secret@api.example.com",
        "https://api.example.com?x=1",
        "https://api.example.com/#frag",
        "https://",
    ],
)
def test_refused_base_urls(base_url: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, base_url=base_url)
    assert info.value.field == "base_url"


def test_plain_http_refusal_explains_itself() -> None:
    with pytest.raises(GettValidationError, match="loopback"):
        GettClient(API_KEY, base_url="http://api.gett-tech.com")


def test_other_construction_refusals() -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, max_connections=0)
    assert info.value.field == "max_connections"
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, gate=HeaderRateLimitGate(), writes_per_minute=10)
    assert info.value.field == "gate"
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, timeout=0)
    assert info.value.field == "timeout"


def test_policy_and_gate_properties() -> None:
    policy = RetryPolicy(max_retries=1)
    gate = RecordingGate()
    client = GettClient(API_KEY, retry=policy, gate=gate)
    assert client.retry is policy
    assert client.gate is gate
    assert GettClient(API_KEY, max_retries=7).retry.max_retries == 7
    default = GettClient(API_KEY, writes_per_minute=50).gate
    assert isinstance(default, HeaderRateLimitGate)
    assert "writes_per_minute=50" in repr(default)


def test_repr_shows_environment_not_key() -> None:
    client = GettClient(API_KEY, environment="sandbox")
    assert repr(client) == f"GettClient(environment='sandbox', base_url='{SANDBOX}')"
    assert API_KEY not in repr(client) and API_KEY not in str(client)


def test_a_refused_client_still_has_a_repr() -> None:
    # Tracebacks that print frame locals call repr() on the half-built client.
    client = GettClient.__new__(GettClient)
    with pytest.raises(GettValidationError):
        client.__init__(API_KEY, environment="staging")  # type: ignore[misc]
    assert repr(client) == "GettClient(environment=None, base_url=None)"


def test_a_bool_timeout_is_refused() -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, timeout=True)
    assert info.value.field == "timeout"


# -- the seams: transport= and sleep ----------------------------------------------------


async def test_a_custom_transport_gets_every_attempt_with_the_clients_headers() -> None:
    transport = answering(503, 204)
    async with make_client(transport=transport, user_agent="acme-pos/2.1") as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="ready")
    assert (receipt.status, receipt.attempts) == (204, 2)
    assert [(r.method, r.path, r.body) for r in transport.requests] == [
        ("POST", f"/v1/commerce/orders/{ORDER_ID}/status", b'{"status":"ready"}')
    ] * 2
    headers = transport.requests[0].headers
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("acme-pos/2.1 gett-async/")


@pytest.mark.parametrize(
    ("option", "value"),
    [("session", "a session"), ("max_connections", 5), ("trace_configs", [aiohttp.TraceConfig()])],
)
def test_default_transport_options_are_refused_with_a_custom_transport(option: str, value: Any) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, transport=answering(), **{option: value})
    assert info.value.field == option


class RecordedWaits(GettClient):
    """Controls time the documented way: every wait of the client goes through ``sleep``."""

    waits: list[float]

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_a_subclass_that_overrides_sleep_sees_every_retry_wait() -> None:
    transport = answering(503, 503, 204)
    client = RecordedWaits(API_KEY, transport=transport, retry=RetryPolicy(base=1.0, cap=1.0))
    client.waits = []
    async with client:
        receipt = await client.orders.complete(ORDER_ID)
    assert receipt.attempts == 3
    assert len(client.waits) == 2 and all(0 <= wait <= 1.0 for wait in client.waits)  # full jitter up to cap


# -- lifecycle ---------------------------------------------------------------------------


class SessionSpy:
    """A trace config that keeps every session it sees a request start on: the public way
    (aiohttp tracing) to reach the session a client made for itself."""

    def __init__(self) -> None:
        self.sessions: list[aiohttp.ClientSession] = []
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._seen)

    async def _seen(self, session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        self.sessions.append(session)

    @property
    def session(self) -> aiohttp.ClientSession:
        assert len(set(map(id, self.sessions))) == 1, self.sessions  # one client, one session
        return self.sessions[0]


async def test_async_with_closes_the_session_it_made() -> None:
    spy = SessionSpy()
    server = await _order_server()
    client = make_client(base_url=str(server.make_url("")), trace_configs=[spy.config])
    try:
        assert not client.closed
        async with client as entered:
            assert entered is client
            await client.orders.complete(ORDER_ID)
            await client.orders.complete(ORDER_ID)
            assert not spy.session.closed
    finally:
        await server.close()
    assert len(spy.sessions) == 2  # both requests, one pooled session
    assert client.closed
    assert spy.session.closed


async def test_aclose_is_idempotent_and_later_calls_fail(mocked: Any) -> None:
    client = make_client()
    await client.aclose()
    await client.aclose()
    assert client.closed
    with pytest.raises(GettError, match="closed"):
        await client.orders.complete(ORDER_ID)
    assert mocked.requests == {}


def test_a_client_made_outside_any_loop_makes_its_session_in_the_loop_that_uses_it() -> None:
    """The session is made lazily: a client built at import time (no loop running) works, and
    `aclose` without ``async with`` closes the session its first request made."""
    spy = SessionSpy()
    loop = asyncio.new_event_loop()
    try:
        server = loop.run_until_complete(_order_server())
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # aiohttp warns when a session is made outside a loop
            client = make_client(base_url=str(server.make_url("")), trace_configs=[spy.config])
        assert spy.sessions == []
        try:
            receipt = loop.run_until_complete(client.orders.complete(ORDER_ID))
            assert not spy.session.closed
        finally:
            loop.run_until_complete(client.aclose())
            loop.run_until_complete(server.close())
    finally:
        loop.close()
    assert receipt.status == 204
    assert spy.session.closed


async def test_caller_session_is_used_and_left_open(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with aiohttp.ClientSession(headers={"X-Caller-Session": "yes"}) as session:
        async with make_client(session=session) as gett:
            await gett.orders.complete(ORDER_ID)
        assert gett.closed
        assert not session.closed
        # aioresponses merges the session's default headers: the request went through ``session``.
        headers = only_call(mocked)[2]["headers"]
        assert headers["X-Caller-Session"] == "yes"
        assert headers["Authorization"] == f"Bearer {API_KEY}"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del gett
            gc.collect()
        assert not [w for w in caught if "GettClient" in str(w.message)]


async def test_unclosed_client_warns_when_collected() -> None:
    spy = SessionSpy()  # keeps the session alive past the client, to close it afterwards
    server = await _order_server()
    try:
        client = make_client(base_url=str(server.make_url("")), trace_configs=[spy.config])
        await client.__aenter__()
        await client.orders.complete(ORDER_ID)
        with pytest.warns(ResourceWarning, match="GettClient") as caught:
            del client
            gc.collect()
        assert any("aclose" in str(w.message) for w in caught)
        assert not any(API_KEY in str(w.message) for w in caught)
        assert not spy.session.closed  # the warning is about a session really left open
    finally:
        if spy.sessions:
            await spy.session.close()
        await server.close()


def test_client_without_session_does_not_warn() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = GettClient(API_KEY)
        del client
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


async def test_closed_client_does_not_warn() -> None:
    client = make_client()
    async with client:
        pass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    assert not [w for w in caught if "GettClient" in str(w.message)]


def test_client_cannot_move_between_event_loops(mocked: Any) -> None:
    first = asyncio.new_event_loop()
    second = asyncio.new_event_loop()
    client = make_client()
    try:
        first.run_until_complete(client.__aenter__())
        with pytest.raises(GettError, match="another event loop") as info:
            second.run_until_complete(client.orders.complete(ORDER_ID))
        assert "one client per loop" in str(info.value)
        assert mocked.requests == {}
    finally:
        first.run_until_complete(client.aclose())
        first.close()
        second.close()
    assert client.closed


def test_client_used_in_two_asyncio_runs_fails_clearly(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    client = make_client()

    async def use() -> None:
        await client.orders.complete(ORDER_ID)

    async def close() -> None:
        await client.aclose()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(use())
        with pytest.raises(GettError, match="another event loop"):
            asyncio.run(use())
    finally:
        loop.run_until_complete(close())
        loop.close()
    assert total_calls(mocked) == 1


# -- timeouts ----------------------------------------------------------------------------


# What a transport is given: `MockTransport.timeouts` records the `Timeout` of each attempt.
# The loopback tests in test_timeouts.py show AiohttpTransport enforcing it.


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(5, Timeout(total=5.0, connect=5.0)), (60, Timeout(total=60.0, connect=5.0)),
     (0.5, Timeout(total=0.5, connect=0.5))],
)
async def test_client_timeout_as_seconds(seconds: float, expected: Timeout) -> None:
    """Seconds are the total of each attempt; a new connection gets at most 5 s of it."""
    transport = answering()
    async with make_client(timeout=seconds, transport=transport) as gett:
        assert gett.timeout == expected
        await gett.orders.complete(ORDER_ID)
    assert transport.timeouts == [expected]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (aiohttp.ClientTimeout(total=7, sock_read=3), Timeout(total=7, connect=None, read=3)),
        (aiohttp.ClientTimeout(total=1, connect=0.5), Timeout(total=1, connect=0.5, read=None)),
        (aiohttp.ClientTimeout(connect=9, sock_connect=2), Timeout(total=None, connect=2, read=None)),
        (Timeout(total=8, connect=None, read=4), Timeout(total=8, connect=None, read=4)),
    ],
    ids=["total-and-read", "connect", "sock_connect-wins", "Timeout"],
)
async def test_client_timeout_as_client_timeout(given: Any, expected: Timeout) -> None:
    transport = answering()
    async with make_client(timeout=given, transport=transport) as gett:
        assert gett.timeout == expected
        await gett.orders.complete(ORDER_ID)
    assert transport.timeouts == [expected]


async def test_per_call_timeout_overrides_client_timeout() -> None:
    transport = answering()
    async with make_client(timeout=5, transport=transport) as gett:
        await gett.orders.complete(ORDER_ID, timeout=2.5)
        await gett.orders.complete(ORDER_ID, timeout=aiohttp.ClientTimeout(total=1, connect=0.5))
        await gett.orders.complete(ORDER_ID, timeout=Timeout(total=60, read=10))
        await gett.orders.complete(ORDER_ID, timeout=None)
        await gett.orders.complete(ORDER_ID, timeout=NOT_GIVEN)
        await gett.orders.complete(ORDER_ID)  # an override does not stick
        assert gett.timeout == Timeout(total=5, connect=5)
    assert transport.timeouts == [
        Timeout(total=2.5, connect=2.5),
        Timeout(total=1, connect=0.5),
        Timeout(total=60, connect=5, read=10),
        Timeout(total=None, connect=None, read=None),
        Timeout(total=5, connect=5),
        Timeout(total=5, connect=5),
    ]


async def test_a_per_call_timeout_bounds_every_retried_attempt() -> None:
    transport = answering(503, 503, 204)
    async with make_client(timeout=5, transport=transport) as gett:
        receipt = await gett.orders.complete(ORDER_ID, timeout=2)
    assert receipt.attempts == 3
    assert transport.timeouts == [Timeout(total=2, connect=2)] * 3


async def test_no_timeout_given_means_the_default_per_attempt() -> None:
    """Left out, each attempt gets 30 s in all and 5 s to connect: the same `Timeout` on every
    transport (the SDK keeps no deadline of its own across attempts)."""
    transport = answering()
    async with make_client(transport=transport) as gett:
        assert gett.timeout == DEFAULT_TIMEOUT == Timeout(total=30, connect=5, read=None)
        await gett.orders.complete(ORDER_ID)
    assert transport.timeouts == [DEFAULT_TIMEOUT]


async def test_timeout_none_means_no_limit_at_all() -> None:
    transport = answering()
    async with make_client(timeout=None, transport=transport) as gett:
        assert gett.timeout == Timeout(total=None, connect=None, read=None)
        await gett.orders.complete(ORDER_ID)
        await gett.orders.complete(ORDER_ID, timeout=3)  # a per-call limit still applies
    assert transport.timeouts == [Timeout(total=None, connect=None, read=None), Timeout(total=3, connect=3)]


async def test_with_options_changes_the_default_timeout_of_the_derived_client_only() -> None:
    transport = answering()
    async with make_client(timeout=5, transport=transport) as gett:
        quick = gett.with_options(timeout=1)
        unlimited = gett.with_options(timeout=None)
        same = gett.with_options(max_retries=0)
        assert (quick.timeout, unlimited.timeout, same.timeout, gett.timeout) == (
            Timeout(total=1, connect=1), Timeout(total=None, connect=None, read=None),
            Timeout(total=5, connect=5), Timeout(total=5, connect=5),
        )
        await quick.orders.complete(ORDER_ID)
        await quick.orders.complete(ORDER_ID, timeout=7)
        await unlimited.orders.complete(ORDER_ID)
        await same.orders.complete(ORDER_ID)
        await gett.orders.complete(ORDER_ID)
        await quick.aclose()
        assert quick.closed and not gett.closed
        await gett.orders.complete(ORDER_ID)  # the shared transport is still open
    assert transport.timeouts == [
        Timeout(total=1, connect=1),
        Timeout(total=7, connect=5),
        Timeout(total=None, connect=None, read=None),
        Timeout(total=5, connect=5),
        Timeout(total=5, connect=5),
        Timeout(total=5, connect=5),
    ]
    with pytest.raises(GettValidationError) as info:
        gett.with_options(timeout=0)
    assert info.value.field == "timeout"


async def _silent_server(seen: list[bytes], hung_up: asyncio.Event) -> asyncio.Server:
    """A loopback server that reads each request and never answers; ``hung_up`` is set once
    the client has closed the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.read()  # until the client closes the connection
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.timeout(30)  # were the client's 0.2 s not applied, this would wait for ever: fail sooner
async def test_caller_session_is_used_but_each_attempt_gets_the_clients_timeout() -> None:
    """Decided: with ``session=``, the caller's session carries every request (its headers,
    cookies, tracing, connection pool) but each attempt is bounded by the client's timeout
    (``GettClient(timeout=)``, ``with_options``, or per call), which replaces the session's
    default for that request; the session object itself is left as it was. Why: one meaning
    of ``timeout=`` whatever the transport, and ``timeout=None`` really means no limit. Give
    the client the limits you want for Gett calls."""
    seen: list[bytes] = []
    hung_up = asyncio.Event()
    server = await _silent_server(seen, hung_up)
    port = server.sockets[0].getsockname()[1]
    started = SessionSpy()
    mine = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)  # no limit at all
    try:
        async with aiohttp.ClientSession(timeout=mine, trace_configs=[started.config]) as session:
            async with make_client(base_url=f"http://127.0.0.1:{port}", session=session, timeout=0.2,
                                   retry=RetryPolicy(max_retries=0)) as gett:
                with pytest.raises(APITimeoutError, match=r"total 0.2 s") as info:
                    await gett.orders.complete(ORDER_ID)
                await hung_up.wait()  # the timed-out attempt's connection was closed, not pooled
            assert not session.closed
            assert session.timeout == mine
    finally:
        server.close()
        await server.wait_closed()
    assert info.value.attempts == 1
    assert started.session is session  # the request went through the caller's session
    assert len(seen) == 1 and seen[0].startswith(b"POST /v1/commerce/orders/")


async def test_user_agent_prefix(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client(user_agent="acme-pos/2.1") as gett:
        await gett.orders.complete(ORDER_ID)
    agent = only_call(mocked)[2]["headers"]["User-Agent"]
    assert agent.startswith("acme-pos/2.1 gett-async/")


# -- per-attempt hook --------------------------------------------------------------------


async def test_hook_sees_every_attempt(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=503, payload={"errorCode": "SERVICE_UNAVAILABLE"}, headers={"X-Request-Id": "r1"})
    mocked.post(ORDER_URL, exception=aiohttp.ClientConnectionError("reset by peer"))
    mocked.post(ORDER_URL, status=204, headers={"X-Request-Id": "r3"})
    seen: list[Attempt] = []
    async with make_client(on_attempt=seen.append) as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="ready")
    assert receipt.attempts == 3
    assert [a.attempt for a in seen] == [1, 2, 3]
    assert [a.status for a in seen] == [503, None, 204]
    assert [a.request_id for a in seen] == ["r1", None, "r3"]
    assert {a.method for a in seen} == {"POST"}
    assert {a.path for a in seen} == {"/v1/commerce/orders/{order_id}/status"}
    assert all(a.duration >= 0 for a in seen)
    assert isinstance(seen[0].error, ServerError) and seen[0].error.status == 503
    assert isinstance(seen[1].error, APIConnectionError) and "reset by peer" in str(seen[1].error)
    assert seen[2].error is None


async def test_async_hook_is_awaited_for_every_attempt(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=500)
    mocked.post(ORDER_URL, status=204)
    seen: list[Attempt] = []
    both = asyncio.Event()

    async def hook(attempt: Attempt) -> None:
        await asyncio.sleep(0)
        seen.append(attempt)
        if len(seen) == 2:
            both.set()

    async with make_client(on_attempt=hook) as gett:
        await gett.orders.complete(ORDER_ID)
        await asyncio.wait_for(both.wait(), timeout=5)
    assert [(a.attempt, a.status) for a in seen] == [(1, 500), (2, 204)]
    assert isinstance(seen[0].error, ServerError) and seen[1].error is None


async def test_a_raising_hook_does_not_fail_the_request(mocked: Any, caplog: pytest.LogCaptureFixture) -> None:
    mocked.post(ORDER_URL, status=204)

    def broken(attempt: Attempt) -> None:
        raise RuntimeError("metrics backend down")

    async with make_client(on_attempt=broken) as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert receipt.status == 204
    assert any("on_attempt hook raised" in r.getMessage() for r in caplog.records)


async def test_a_raising_async_hook_is_logged_not_lost(mocked: Any, caplog: pytest.LogCaptureFixture) -> None:
    mocked.post(ORDER_URL, status=204)
    ran = asyncio.Event()

    async def broken(attempt: Attempt) -> None:
        ran.set()
        raise RuntimeError("metrics backend down")

    async with make_client(on_attempt=broken) as gett:
        await gett.orders.complete(ORDER_ID)
        await ran.wait()
        for _ in range(3):  # the hook task's done callback runs on a later loop iteration
            await asyncio.sleep(0)
    assert any("async on_attempt hook raised" in r.getMessage() for r in caplog.records)


# -- trace configs (real loopback server: aioresponses bypasses tracing) -------------------


async def _order_server() -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/v1/commerce/orders/{order_id}/status", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_trace_configs_reach_the_clients_own_session() -> None:
    started: list[str] = []

    async def on_request_start(session: Any, context: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(f"{params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    server = await _order_server()
    try:
        async with make_client(base_url=str(server.make_url("")), trace_configs=[trace]) as gett:
            receipt = await gett.orders.complete(ORDER_ID)
    finally:
        await server.close()
    assert receipt.status == 204
    assert started == [f"POST /v1/commerce/orders/{ORDER_ID}/status"]


async def test_trace_configs_are_not_forced_onto_a_caller_session() -> None:
    started: list[str] = []

    async def on_request_start(session: Any, context: Any, params: Any) -> None:
        started.append(params.method)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    server = await _order_server()
    try:
        async with aiohttp.ClientSession() as session:
            async with make_client(base_url=str(server.make_url("")), session=session, trace_configs=[trace]) as gett:
                await gett.orders.complete(ORDER_ID)
            assert trace not in session.trace_configs
    finally:
        await server.close()
    assert started == []


async def test_real_connection_refused_is_an_api_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with make_client(base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_retries=0)) as gett:
        with pytest.raises(APIConnectionError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 1
    assert info.value.path == "/v1/commerce/orders/{order_id}/status"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"max_connections": "5"}, "max_connections"),
        ({"timeout": "5"}, "timeout"),
        ({"reads_per_minute": 0}, "reads_per_minute"),
        ({"retry": None, "max_retries": 2.5}, "max_retries"),
    ],
)
def test_bad_options_name_their_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, **options)
    assert info.value.field == field


@pytest.mark.parametrize(("policy", "field"), [({"max_retries": -1}, "max_retries"), ({"base": 0}, "base"),
                                               ({"cap": -1.0}, "cap"), ({"max_retry_wait": "60"}, "max_retry_wait")])
def test_a_bad_retry_policy_names_its_field(policy: dict[str, Any], field: str) -> None:
    with pytest.raises(GettValidationError) as info:
        RetryPolicy(**policy)
    assert info.value.field == field


async def test_bad_per_call_timeouts_and_stream_options_are_refused_before_io(mocked: Any) -> None:
    async with make_client() as gett:
        for timeout in ("5", True, 0):
            with pytest.raises(GettValidationError) as info:
                await gett.orders.complete(ORDER_ID, timeout=timeout)  # type: ignore[arg-type]
            assert info.value.field == "timeout"
        for options, field in (({"concurrency": 0}, "concurrency"), ({"concurrency": "8"}, "concurrency"),
                               ({"concurrency": 8, "buffer": 4}, "buffer")):
            with pytest.raises(GettValidationError) as info:
                gett.orders.stream([], **options)
            assert info.value.field == field
    assert mocked.requests == {}


async def test_a_given_transport_is_closed_with_the_client_but_not_by_a_derived_one() -> None:
    transport = MockTransport(lambda request: ApiResponse(204))
    async with GettClient(API_KEY, transport=transport) as gett:
        derived = gett.with_options(max_retries=0)
        await derived.orders.complete(ORDER_ID)
        await derived.aclose()
        assert derived.closed and not transport.closed
        await gett.orders.complete(ORDER_ID)  # the original still works
    assert transport.closed and len(transport.requests) == 2
