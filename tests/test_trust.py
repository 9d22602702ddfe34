"""No update reaches the wrong order, the wrong environment or a log (issue 9), over loopback.

Ids: one strict rule everywhere. Keys: visible ASCII only, never echoed. Server text: the key
is scrubbed from everything an error, an attempt record or a log line carries. Numbers: every
user duration is finite and positive; no server value can lock the client. Reads: bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import traceback
from collections.abc import AsyncIterator
from datetime import timezone
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers_core import API_KEY, ORDER_ID, STORE_ID, FakeClock
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loopback import ScriptedServer
from test_redaction import assert_clean, assert_exception_clean

from gett_async import (
    APIError,
    ApiResponse,
    Attempt,
    BadRequestError,
    ConflictError,
    GettClient,
    GettError,
    GettValidationError,
    HeaderRateLimitGate,
    OrderEvent,
    RateLimitError,
    RetryBudget,
    RetryPolicy,
    cli,
)
from gett_async.testing import GettEmulator, MockTransport

GOOD = "7f3e9a10-4b2c-4d8e-9f01-23456789abcd"
#: Each of these was once read as some UUID, possibly somebody else's.
BAD_IDS = [
    pytest.param("7f3e9a10-4b2c-4d8e-9f01-23456789abc\t", id="35 chars + tab"),
    pytest.param("7f3e9a10-4b2c-4d8e-9f01-23456789abc ", id="35 chars + space"),
    pytest.param("7f3e9a10-4b2c-4d8e-9f01-23456789abc\r", id="35 chars + CR"),
    pytest.param("7f3e9a10-4b2c-4d8e-9f01-23456789abc\n", id="35 chars + LF"),
    pytest.param(" " + GOOD, id="leading space"),
    pytest.param(GOOD + "\n", id="trailing newline"),
    pytest.param("\uff17f3e9a10-4b2c-4d8e-9f01-23456789abcd", id="fullwidth digit"),
    pytest.param("\u0667f3e9a10-4b2c-4d8e-9f01-23456789abcd", id="arabic-indic digit"),
    pytest.param("\u096df3e9a10-4b2c-4d8e-9f01-23456789abcd", id="devanagari digit"),
    pytest.param("\U0001d7d5f3e9a10-4b2c-4d8e-9f01-23456789abcd", id="mathematical bold digit"),
    pytest.param("{" + GOOD + "}", id="braces"),
    pytest.param("urn:uuid:" + GOOD, id="urn"),
    pytest.param(GOOD.replace("-", ""), id="32 hex digits"),
    pytest.param("7f3e9a1-04b2c-4d8e-9f01-23456789abcd", id="misplaced dash"),
    pytest.param(GOOD[:8] + "\u200b" + GOOD[8:], id="zero-width space"),
    pytest.param("7f3e9a10-4b2c-4d8e-9f01-23456789abcg", id="not hex"),
]


@pytest.fixture
async def emu() -> AsyncIterator[GettEmulator]:
    async with GettEmulator(auto_create_orders=True) as emulator:
        yield emulator


def client_for(url: str, **options: Any) -> GettClient:
    options.setdefault("retry", RetryPolicy(max_retries=0))
    return GettClient(API_KEY, base_url=url, **options)


# -- one strict id rule ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_every_order_entry_point_refuses_a_malformed_id_and_sends_nothing(emu: GettEmulator, bad: str) -> None:
    async with GettClient(emu.api_key, base_url=emu.url) as gett:
        calls = [
            lambda: gett.orders.update_status(bad, status="confirmed"),
            lambda: gett.orders.complete(bad),
            lambda: gett.orders.cancel(bad, reason="out of stock"),
            lambda: gett.stores.get(bad),
            lambda: gett.store_status.get(bad),
            lambda: gett.store_status.pause(bad, reason="too_busy"),
        ]
        for call in calls:
            with pytest.raises(GettValidationError) as info:
                await call()
            assert info.value.field in {"order_id", "store_id"}
            assert "UUID" in info.value.reason
        with pytest.raises(GettValidationError):
            gett.orders.track(bad)
        summary = await gett.orders.send_all([OrderEvent(bad, status="confirmed"), {"orderId": bad, "status": "ready"}])
    assert summary.counts["refused"] == 2
    assert all(o.error is not None and "UUID" in str(o.error) for o in summary.refusals)
    assert emu.requests == []  # zero requests, for every entry point


@pytest.mark.parametrize("bad", BAD_IDS[:4] + BAD_IDS[6:10])
async def test_replay_refuses_a_malformed_id_line_and_sends_nothing(
    emu: GettEmulator, bad: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, out = tmp_path / "events.jsonl", tmp_path / "outcomes.jsonl"
    source.write_text(json.dumps({"orderId": bad, "status": "confirmed"}) + "\n", encoding="utf-8")
    monkeypatch.setenv("GETT_API_KEY", emu.api_key)
    argv = ["replay", str(source), "--out", str(out), "--base-url", emu.url, "--no-progress"]
    assert await asyncio.to_thread(cli.main, argv) == 1  # refused
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["kind"] == "refused" and "orderId" in record["error"] and "UUID" in record["error"]
    assert emu.requests == []


async def test_an_upper_case_id_is_accepted_and_sent_lower_case(built_in: str | None) -> None:
    async def no_content(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    async with ScriptedServer(no_content) as server, client_for(server.url, transport=built_in) as gett:
        await gett.orders.update_status(GOOD.upper(), status="confirmed")
        tracker = gett.orders.track(GOOD.upper())
        await tracker.confirm()
    assert [seen.path for seen in server.seen] == [f"/v1/commerce/orders/{GOOD}/status"] * 2
    assert tracker.order_id == GOOD


@pytest.mark.parametrize(
    "bad", ["7f3e9a10-4b2c-4d8e-9f01-23456789abc%09", "%EF%BC%97f3e9a10-4b2c-4d8e-9f01-23456789abcd"]
)
async def test_the_emulator_refuses_malformed_ids_on_the_wire(emu: GettEmulator, bad: str) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{emu.url}/v1/commerce/orders/{bad}/status"
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        async with session.post(url, json={"status": "confirmed"}, headers=headers) as resp:
            assert resp.status == 404
    assert emu.orders == {}


async def test_text_that_cannot_be_sent_as_utf8_is_refused_not_crashed_on(emu: GettEmulator) -> None:
    async with GettClient(emu.api_key, base_url=emu.url) as gett:
        with pytest.raises(GettValidationError) as info:
            await gett.orders.cancel(ORDER_ID, reason="out of stock \ud800")
        assert info.value.field == "cancel_reason"
        with pytest.raises(GettValidationError) as info:
            await gett.catalog.notify_update("https://cdn.example.com/\udfff.json", store_id="store-1")
        assert info.value.field == "callback_url"
        summary = await gett.orders.send_all([{"orderId": ORDER_ID, "state": "cancelled", "cancelReason": "\ud800"}])
    assert summary.counts["refused"] == 1
    assert emu.requests == []


# -- keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "zpka_with\x00nul", "zpka_with\x7fdel", "zpka_with\ttab", "zpka with space", "zpka_line\nbreak",
        "zpka_zero\u200bwidth", "zpka_ключ", "zpka_\u00e9t\u00e9", " zpka_padded",
    ],
)
def test_keys_that_are_not_visible_ascii_are_refused_without_echoing_them(key: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(key, environment="sandbox")
    assert info.value.field == "api_key"
    text = "".join(traceback.format_exception(info.value)) + repr(info.value.args)
    assert key not in text and key.strip() not in text


@pytest.mark.parametrize("agent", ["app\r\nX-Injected: 1", "app\x00", "app\u200b/1", "résumé/1"])
def test_user_agents_with_control_or_non_ascii_characters_are_refused(agent: str) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, environment="sandbox", user_agent=agent)
    assert info.value.field == "user_agent"


# -- the key scrubbed from whatever a server sends back ------------------------------------------


def _echoing(status: int, *, escaped: bool = False) -> Any:
    """A server that echoes the Authorization header into every problem member and header."""

    async def handler(request: web.Request) -> web.StreamResponse:
        auth = request.headers["Authorization"]  # "Bearer <key>"
        key = auth.removeprefix("Bearer ")
        problem = {
            "type": f"https://developer.gett-tech.com/errors/{key}",
            "title": f"Bad key {auth}",
            "status": status,
            "detail": f"Authentication required. You sent {auth}.",
            "instance": f"/v1/commerce/orders/{key}",
            "requestId": f"req_{key}",
            "errorCode": key,
            "errorCategory": key,
            "retryable": False,
            "errors": [{"code": key, "message": auth, "itemId": key, key: [auth]}],
            "echo": {"authorization": auth, "nested": [auth, {"k": key}]},
        }
        text = json.dumps(problem)
        if escaped:  # the key written with JSON escapes, as a serializer may do
            text = text.replace(key, "".join(f"\\u{ord(c):04x}" for c in key))
        return web.Response(
            status=status, text=text, content_type="application/problem+json",
            headers={"X-Request-Id": key, "X-Echo-Authorization": auth, "Retry-After": "0"},
        )

    return handler


@pytest.mark.parametrize("status", [400, 401, 403, 409, 422, 503])
@pytest.mark.parametrize("escaped", [False, True], ids=["plain", "json-escaped"])
async def test_a_server_echoing_the_key_leaks_it_nowhere(
    status: int, escaped: bool, caplog: pytest.LogCaptureFixture, built_in: str | None
) -> None:
    attempts: list[Attempt] = []
    caplog.set_level(logging.DEBUG, logger="gett_async")
    async with ScriptedServer(_echoing(status, escaped=escaped)) as server, client_for(
        server.url, on_attempt=attempts.append, transport=built_in
    ) as gett:
        with pytest.raises(APIError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
    exc = info.value
    assert exc.status == status
    assert_exception_clean(exc)
    for text in (exc.detail, exc.request_id, exc.error_code, exc.category, repr(exc.errors), repr(exc.problem),
                 repr(exc.problem.extra if exc.problem else None), repr(dict(exc.headers)), repr(exc.body)):
        assert_clean(str(text))
    assert "[REDACTED]" in str(exc)  # what the server said is kept, the key replaced
    assert exc.problem is not None and exc.problem.extra["echo"]["authorization"] == "Bearer [REDACTED]"
    assert exc.headers["x-echo-authorization"] == "Bearer [REDACTED]"  # still case-insensitive
    assert attempts and all(a.error is exc for a in attempts)
    for attempt in attempts:
        assert_clean(repr(attempt))
    for record in caplog.records:
        assert_clean(record.getMessage())
    assert API_KEY not in caplog.text


async def test_a_success_echoing_the_key_in_its_request_id_leaks_nothing(
    caplog: pytest.LogCaptureFixture, built_in: str | None
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204, headers={"X-Request-Id": request.headers["Authorization"]})

    attempts: list[Attempt] = []
    caplog.set_level(logging.DEBUG, logger="gett_async")
    async with ScriptedServer(handler) as server, client_for(
        server.url, on_attempt=attempts.append, transport=built_in
    ) as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="confirmed")
    assert receipt.request_id == "Bearer [REDACTED]"
    assert_clean(repr(receipt))
    assert_clean(repr(attempts))
    assert API_KEY not in caplog.text


# -- errors keep what Gett said ---------------------------------------------------------------


async def test_errors_keep_the_whole_problem_its_headers_and_body(built_in: str | None) -> None:
    problem = {
        "type": "https://developer.gett-tech.com/errors/CONFLICT", "title": "Conflict", "status": 409,
        "detail": "Order already completed.", "requestId": "req_123", "errorCode": "CONFLICT",
        "errorCategory": "conflict", "retryable": False, "currentState": "completed", "since": "2026-01-15T13:30:00Z",
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(problem, status=409, content_type="application/problem+json",
                                 headers={"X-Custom": "kept"})

    async with ScriptedServer(handler) as server, client_for(server.url, transport=built_in) as gett:
        with pytest.raises(ConflictError) as info:
            await gett.orders.complete(ORDER_ID)
    exc = info.value
    assert exc.problem is not None
    assert exc.problem.error_code == "CONFLICT" and exc.problem.status == 409
    assert exc.problem.extra == {"currentState": "completed", "since": "2026-01-15T13:30:00Z"}
    assert exc.headers["X-Custom"] == "kept" and exc.headers["content-type"].startswith("application/problem+json")
    assert json.loads(exc.body) == problem


async def test_a_problem_with_members_of_the_wrong_type_still_gives_a_typed_error(built_in: str | None) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = {"status": "400", "retryable": "no", "retryAfter": "Infinity", "errors": "none", "detail": 5}
        return web.json_response(body, status=400)

    async with ScriptedServer(handler) as server, client_for(server.url, transport=built_in) as gett:
        with pytest.raises(BadRequestError) as info:
            await gett.orders.complete(ORDER_ID)
    exc = info.value
    assert exc.problem is not None
    problem = exc.problem
    assert (problem.status, problem.retryable, problem.retry_after, problem.errors) == (None, None, None, ())
    assert exc.retry_after is None and exc.detail is None


# -- every number checked ---------------------------------------------------------------------


@pytest.mark.parametrize("wait", ["inf", "Infinity", "nan", "-5", "1e400"])
async def test_a_non_finite_retry_after_is_ignored_and_never_locks_the_client(wait: str, built_in: str | None) -> None:
    answers = [web.Response(status=429, headers={"Retry-After": wait})]

    async def handler(request: web.Request) -> web.StreamResponse:
        return answers.pop() if answers else web.Response(status=204)

    async with ScriptedServer(handler) as server, client_for(server.url, transport=built_in) as gett:
        with pytest.raises(RateLimitError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
        assert info.value.retry_after is None
        assert gett.gate.paused_for("write") == 0.0  # type: ignore[attr-defined]
        await gett.orders.update_status(ORDER_ID, status="preparing")  # the next write goes at once
    assert len(server.seen) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"headers": {"Retry-After": "1000000000000"}},
        {"body": {"status": 429, "retryAfter": 1e12}},
        {"headers": {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}},
    ],
    ids=["header seconds", "body retryAfter", "http date"],
)
async def test_a_huge_server_wait_fails_that_call_fast_and_pauses_later_ones_one_window_at_most(
    answer: dict[str, Any],
) -> None:
    answers = [web.json_response(answer.get("body", {}), status=429, headers=answer.get("headers"))]

    async def handler(request: web.Request) -> web.StreamResponse:
        return answers.pop() if answers else web.Response(status=204)

    clock = FakeClock()
    gate = HeaderRateLimitGate(clock=clock, sleep=clock.sleep, max_wait=60.0)
    async with ScriptedServer(handler) as server, client_for(server.url, retry=RetryPolicy(), gate=gate) as gett:
        with pytest.raises(RateLimitError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
        assert info.value.attempts == 1  # failed fast: retries would wait far beyond max_retry_wait
        assert info.value.retry_after is not None and info.value.retry_after > 60
        await gett.orders.update_status(ORDER_ID, status="preparing")
    assert clock.sleeps == [60.0]  # one documented window, not the server's eternity
    assert len(server.seen) == 2


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0, 0, True, "30"])
async def test_timeouts_must_be_finite_positive_seconds(emu: GettEmulator, value: Any) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(emu.api_key, base_url=emu.url, timeout=value)
    assert info.value.field == "timeout"
    async with GettClient(emu.api_key, base_url=emu.url) as gett:
        with pytest.raises(GettValidationError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed", timeout=value)
        assert info.value.field == "timeout"
        tracker = gett.orders.track(ORDER_ID)
        with pytest.raises(GettValidationError):
            await tracker.advance("confirmed", timeout=value)
    assert emu.requests == []


@pytest.mark.parametrize("field", ["total", "sock_connect", "sock_read", "connect"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_client_timeout_fields_must_be_finite_positive(field: str, value: float) -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, environment="sandbox", timeout=aiohttp.ClientTimeout(**{field: value}))
    assert info.value.field == f"timeout.{field}"


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"base": float("nan")}, "base"),
        ({"cap": float("inf")}, "cap"),
        ({"cap": 0}, "cap"),
        ({"max_retry_wait": float("inf")}, "max_retry_wait"),
        ({"max_retry_wait": -1}, "max_retry_wait"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": float("nan")}, "max_retries"),
        ({"max_retries": -1}, "max_retries"),
    ],
)
def test_retry_settings_must_be_finite(options: dict[str, Any], field: str) -> None:
    with pytest.raises(GettValidationError) as info:
        RetryPolicy(**options)
    assert info.value.field == field


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_retry_budget_settings_must_be_finite(value: float) -> None:
    with pytest.raises(GettValidationError) as info:
        RetryBudget(capacity=value)
    assert info.value.field == "capacity"


# -- options never contradict silently ----------------------------------------------------------


def test_max_retries_together_with_retry_is_refused() -> None:
    with pytest.raises(GettValidationError) as info:
        GettClient(API_KEY, environment="sandbox", max_retries=5, retry=RetryPolicy(max_retries=1))
    assert info.value.field == "max_retries"
    assert GettClient(API_KEY, environment="sandbox", max_retries=5).retry.max_retries == 5


@pytest.mark.parametrize("name", ["base_url", "environment", "paths"])
def test_where_a_client_talks_is_fixed_after_construction(name: str) -> None:
    gett = GettClient(API_KEY, environment="sandbox")
    before = getattr(gett, name)
    with pytest.raises(AttributeError):
        setattr(gett, name, "https://evil.example")
    assert getattr(gett, name) == before


# -- bounded reads ------------------------------------------------------------------------------


HUGE = 50 * 1024 * 1024


class _Firehose:
    """Answers ``status`` with a 50 MiB body in chunks and counts what it managed to send."""

    def __init__(self, status: int, *, chunked: bool) -> None:
        self.status = status
        self.chunked = chunked
        self.sent = 0
        self.finished = asyncio.Event()

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=self.status)
        if not self.chunked:
            response.content_length = HUGE
        chunk = b"x" * 65536
        try:
            await response.prepare(request)
            while self.sent < HUGE:
                await response.write(chunk)
                self.sent += len(chunk)
        except (ConnectionError, aiohttp.ClientConnectionError):
            pass  # the client hung up: what we hoped for
        finally:
            self.finished.set()
        return response


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
async def test_an_unused_huge_body_is_not_read(chunked: bool, built_in: str | None) -> None:
    firehose = _Firehose(200, chunked=chunked)
    async with ScriptedServer(firehose) as server, client_for(server.url, transport=built_in) as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status="confirmed")
        await firehose.finished.wait()
    assert receipt.status == 200
    assert firehose.sent < HUGE  # the client hung up instead of reading 50 MiB


async def test_an_error_body_is_kept_up_to_one_mebibyte(built_in: str | None) -> None:
    firehose = _Firehose(400, chunked=True)
    async with ScriptedServer(firehose) as server, client_for(server.url, transport=built_in) as gett:
        with pytest.raises(BadRequestError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
        await firehose.finished.wait()
    assert len(info.value.body) == 1024 * 1024
    assert firehose.sent < HUGE


async def test_a_used_body_beyond_its_cap_is_refused_not_buffered(built_in: str | None) -> None:
    firehose = _Firehose(200, chunked=True)
    async with ScriptedServer(firehose) as server, client_for(server.url, transport=built_in) as gett:
        with pytest.raises(GettError) as info:
            await gett.store_status.get(STORE_ID)
        await firehose.finished.wait()
    assert "larger than 16 MiB" in str(info.value)
    assert not isinstance(info.value, GettValidationError)
    assert firehose.sent < HUGE


async def test_the_next_call_works_after_a_body_was_cut(built_in: str | None) -> None:
    firehose = _Firehose(200, chunked=True)
    handlers: list[Any] = [firehose]

    async def handler(request: web.Request) -> web.StreamResponse:
        if handlers:
            return await handlers.pop()(request)
        return web.Response(status=204)

    async with ScriptedServer(handler) as server, client_for(server.url, transport=built_in) as gett:
        await gett.orders.update_status(ORDER_ID, status="confirmed")
        await firehose.finished.wait()
        receipt = await gett.orders.update_status(ORDER_ID, status="preparing")
    assert receipt.status == 204
    assert len(server.seen) == 2


# -- nothing the user passes escapes GettError --------------------------------------------------

_SURROGATES = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1)
_SCALARS = st.one_of(
    st.none(), st.text(), _SURROGATES, st.integers(), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.binary(),
    st.sampled_from([GOOD, GOOD.upper(), "confirmed", "cancelled", "completed", "pending", "inTransit"]),
    st.datetimes(), st.datetimes(timezones=st.just(timezone.utc)),
)
_ANYTHING = st.one_of(_SCALARS, st.dictionaries(st.one_of(st.text(max_size=5), _SURROGATES), _SCALARS, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order_id=_ANYTHING, status=_ANYTHING, state=_ANYTHING, eta=_ANYTHING, reason=_ANYTHING,
       headers=_ANYTHING, body=_ANYTHING)
def test_no_user_input_raises_outside_gett_error(
    order_id: Any, status: Any, state: Any, eta: Any, reason: Any, headers: Any, body: Any
) -> None:
    transport = MockTransport(lambda request: ApiResponse(204))

    async def calls() -> None:
        async with GettClient(API_KEY, transport=transport, max_retries=0) as gett:
            for call in (
                lambda: gett.orders.update_status(order_id, status=status, state=state, estimated_ready_at=eta,
                                                  cancel_reason=reason, extra_headers=headers),
                lambda: gett.stores.update(GOOD, name=status, description=reason, extra_body=body),
                lambda: gett.orders.track(order_id).advance(status, estimated_ready_at=eta),
            ):
                with contextlib.suppress(GettError):  # refused, or sent: never another exception type
                    await call()

    asyncio.run(calls())
