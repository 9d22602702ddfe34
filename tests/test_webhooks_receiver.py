"""`WebhookReceiver`: answers, the duplicate-delivery guard, and its aiohttp and ASGI adapters."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from conftest import ORDER_ID
from helpers_webhooks import NOW, SECRET, Clock, assert_no_secret, body_of, signed

from gett_async import GettValidationError
from gett_async.webhooks import (
    LEGACY_PATHS,
    MemoryDeliveryStore,
    WebhookHandlerError,
    WebhookKind,
    WebhookReceiver,
    WebhookRequest,
    WebhookResponse,
)

PLACE, VALIDATE = WebhookKind.PLACE, WebhookKind.VALIDATE


class Handlers:
    """on_validate / on_place that record their calls and answer as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[WebhookKind | None, str | None]] = []
        self.answers: list[Callable[[WebhookRequest], Awaitable[Any]]] = []

    async def __call__(self, request: WebhookRequest) -> Any:
        self.calls.append((request.kind, request.order_id))
        if self.answers:
            return await self.answers.pop(0)(request)
        return {"kind": request.kind.value if request.kind else None, "orderId": request.order_id}

    def then(self, answer: Callable[[WebhookRequest], Awaitable[Any]]) -> None:
        self.answers.append(answer)


def receiver(handlers: Handlers, clock: Clock | None = None, **options: Any) -> WebhookReceiver:
    return WebhookReceiver(SECRET, on_validate=handlers, on_place=handlers, clock=clock or Clock(), **options)


def problem_of(answer: WebhookResponse) -> dict[str, Any]:
    assert dict(answer.headers)["Content-Type"] == "application/problem+json"
    document: dict[str, Any] = json.loads(answer.body)
    assert document["status"] == answer.status
    assert document["type"] == f"https://developer.gett-tech.com/errors/{document['errorCode']}"
    assert {"title", "detail"} <= document.keys()
    return document


async def raising(exc: BaseException) -> Any:
    raise exc


# -- answers ------------------------------------------------------------------------------------


async def test_the_handler_return_value_is_the_json_answer() -> None:
    handlers = Handlers()
    body = body_of()
    answer = await receiver(handlers).handle(PLACE, signed(body), body)
    assert answer.status == 200
    assert dict(answer.headers)["Content-Type"] == "application/json"
    assert json.loads(answer.body) == {"kind": "placeOrder", "orderId": ORDER_ID}
    assert handlers.calls == [(PLACE, ORDER_ID)]


async def test_validate_goes_to_on_validate_and_none_answers_204() -> None:
    validated: list[WebhookRequest] = []

    async def on_validate(request: WebhookRequest) -> None:
        validated.append(request)

    handlers = Handlers()
    hooks = WebhookReceiver(SECRET, on_validate=on_validate, on_place=handlers, clock=Clock())
    body = body_of()
    answer = await hooks.handle(VALIDATE, signed(body), body)
    assert (answer.status, answer.body) == (204, b"")
    assert [r.kind for r in validated] == [VALIDATE] and handlers.calls == []


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Signature header is missing"),
        ({"Signature": "ab" * 32, "Timestamp": str(int(NOW))}, "does not match"),
        ({"Signature": "é" * 64, "Timestamp": str(int(NOW))}, "not ASCII"),
        ({"Signature": "abc", "Timestamp": str(int(NOW))}, "64 hex digits"),
    ],
)
async def test_verification_failures_are_401_problems(headers: dict[str, str], detail: str) -> None:
    handlers = Handlers()
    answer = await receiver(handlers).handle(PLACE, headers, body_of())
    assert answer.status == 401
    document = problem_of(answer)
    assert document["errorCode"] == "UNAUTHENTICATED" and detail in document["detail"]
    assert handlers.calls == []


async def test_a_stale_delivery_is_a_401_by_the_receiver_clock() -> None:
    handlers = Handlers()
    body = body_of()
    answer = await receiver(handlers, Clock(NOW + 301)).handle(PLACE, signed(body), body)
    assert answer.status == 401 and "s old" in problem_of(answer)["detail"]


async def test_an_authentic_body_that_is_not_json_is_a_400() -> None:
    body = b"not json"
    answer = await receiver(Handlers()).handle(PLACE, signed(body), body)
    assert answer.status == 400 and problem_of(answer)["errorCode"] == "INVALID_REQUEST"


async def test_a_handler_error_is_a_problem_with_the_chosen_status() -> None:
    handlers = Handlers()
    handlers.then(lambda r: raising(WebhookHandlerError(
        422, "Item item-1 is sold out.", error_code="ITEM_UNAVAILABLE",
        errors=[{"code": "ITEM_UNAVAILABLE", "message": "sold out", "itemId": "item-1"}],
    )))  # fmt: skip
    handlers.then(lambda r: raising(WebhookHandlerError(503, "The POS is restarting.")))
    hooks = receiver(handlers)
    body = body_of()
    first = problem_of(await hooks.handle(VALIDATE, signed(body), body))
    assert (first["status"], first["errorCode"], first["title"]) == (422, "ITEM_UNAVAILABLE", "Unprocessable Entity")
    assert first["errors"] == [{"code": "ITEM_UNAVAILABLE", "message": "sold out", "itemId": "item-1"}]
    second = problem_of(await hooks.handle(VALIDATE, signed(body), body))
    assert (second["status"], second["errorCode"]) == (503, "SERVICE_UNAVAILABLE")
    handlers.then(lambda r: raising(WebhookHandlerError(499, "Client closed.")))
    odd = problem_of(await hooks.handle(VALIDATE, signed(body), body))
    assert (odd["status"], odd["errorCode"], odd["title"]) == (499, "HTTP_499", "Error")


@pytest.mark.parametrize("status", [200, 302, 600, True, "400"])
def test_a_handler_error_needs_an_error_status(status: Any) -> None:
    with pytest.raises(GettValidationError, match="status"):
        WebhookHandlerError(status, "x")


async def test_an_unexpected_exception_is_a_500_that_tells_nothing(caplog: pytest.LogCaptureFixture) -> None:
    handlers = Handlers()
    handlers.then(lambda r: raising(RuntimeError("db password is hunter2")))
    handlers.then(lambda r: asyncio.sleep(0, result={"not json": {1, 2}}))
    hooks = receiver(handlers)
    body = body_of()
    for _ in range(2):
        answer = await hooks.handle(PLACE, signed(body), body)
        document = problem_of(answer)
        assert (answer.status, document["errorCode"]) == (500, "INTERNAL_ERROR")
        assert "hunter2" not in answer.body.decode() and "set" not in document["detail"]
    assert "handler failed" in caplog.text  # the service's own log has the traceback


# -- the duplicate-delivery guard -----------------------------------------------------------------


async def test_a_duplicate_delivery_gets_the_first_answer_without_a_second_run() -> None:
    handlers = Handlers()
    clock = Clock()
    hooks = receiver(handlers, clock)
    body = body_of()
    first = await hooks.handle(PLACE, signed(body), body)
    clock.now += 120  # replayed later, with a fresh Timestamp: the signature still verifies
    again = await hooks.handle(PLACE, signed(body, at=clock.now), body)
    assert again == first
    assert len(handlers.calls) == 1


async def test_after_the_window_the_same_body_runs_the_handler_again() -> None:
    handlers = Handlers()
    clock = Clock()
    hooks = receiver(handlers, clock, remember_for=600)
    body = body_of()
    await hooks.handle(PLACE, signed(body), body)
    clock.now += 599
    await hooks.handle(PLACE, signed(body, at=clock.now), body)
    assert len(handlers.calls) == 1
    clock.now += 2
    await hooks.handle(PLACE, signed(body, at=clock.now), body)
    assert len(handlers.calls) == 2


async def test_validate_and_place_with_the_same_body_are_different_deliveries() -> None:
    handlers = Handlers()
    hooks = receiver(handlers)
    body = body_of()
    await hooks.handle(VALIDATE, signed(body), body)
    await hooks.handle(PLACE, signed(body), body)
    assert [kind for kind, _ in handlers.calls] == [VALIDATE, PLACE]


async def test_the_guard_can_be_turned_off() -> None:
    handlers = Handlers()
    hooks = receiver(handlers, remember_for=0)
    body = body_of()
    for _ in range(2):
        await hooks.handle(PLACE, signed(body), body)
    assert len(handlers.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        lambda r: raising(RuntimeError("POS down")),
        lambda r: raising(WebhookHandlerError(503, "busy")),
    ],
    ids=["unexpected-500", "handler-503"],
)
async def test_gett_retrying_after_a_failure_runs_the_handler_again(failure: Any) -> None:
    handlers = Handlers()
    handlers.then(failure)
    clock = Clock()
    hooks = receiver(handlers, clock)
    body = body_of()
    assert (await hooks.handle(PLACE, signed(body), body)).status >= 500
    clock.now += 30  # Gett's first retry
    retried = await hooks.handle(PLACE, signed(body, at=clock.now), body)
    assert retried.status == 200
    clock.now += 120
    assert await hooks.handle(PLACE, signed(body, at=clock.now), body) == retried  # now it is replayed
    assert len(handlers.calls) == 2


async def test_a_cancelled_handler_releases_the_delivery() -> None:
    handlers = Handlers()
    handlers.then(lambda r: raising(asyncio.CancelledError()))
    hooks = receiver(handlers)
    body = body_of()
    with pytest.raises(asyncio.CancelledError):
        await hooks.handle(PLACE, signed(body), body)
    assert (await hooks.handle(PLACE, signed(body), body)).status == 200
    assert len(handlers.calls) == 2


class SignallingStore(MemoryDeliveryStore):
    """The memory store, telling the test when a second claim for a key has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0
        self.second_claim = asyncio.Event()

    async def claim(self, key: str, *, now: float, ttl: float) -> WebhookResponse | None:
        self.claims += 1
        if self.claims == 2:
            self.second_claim.set()
        return await super().claim(key, now=now, ttl=ttl)


@pytest.mark.parametrize("first_succeeds", [True, False])
async def test_a_concurrent_duplicate_waits_for_the_first_answer(first_succeeds: bool) -> None:
    store = SignallingStore()
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: WebhookRequest) -> Any:
        entered.set()
        await release.wait()
        if not first_succeeds:
            raise WebhookHandlerError(503, "POS busy")
        return {"accepted": True}

    handlers = Handlers()
    handlers.then(slow)
    hooks = receiver(handlers, store=store)
    body = body_of()
    first = asyncio.create_task(hooks.handle(PLACE, signed(body), body))
    await entered.wait()
    second = asyncio.create_task(hooks.handle(PLACE, signed(body), body))
    await store.second_claim.wait()
    assert len(handlers.calls) == 1  # the duplicate is waiting, not running
    release.set()
    answers = await asyncio.gather(first, second)
    if first_succeeds:
        assert answers[0] == answers[1] and answers[0].status == 200
        assert len(handlers.calls) == 1
    else:  # a failed first run leaves the duplicate to run the handler itself
        assert [a.status for a in answers] == [503, 200]
        assert len(handlers.calls) == 2


async def test_the_memory_store_keeps_at_most_max_entries() -> None:
    store = MemoryDeliveryStore(max_entries=2)
    for n in range(3):
        assert await store.claim(f"k{n}", now=NOW, ttl=60) is None
        await store.complete(f"k{n}", WebhookResponse(200), now=NOW, ttl=60)
    assert len(store) == 2
    assert await store.claim("k0", now=NOW, ttl=60) is None  # the oldest was dropped
    assert await store.claim("k2", now=NOW, ttl=60) == WebhookResponse(200)
    with pytest.raises(GettValidationError):
        MemoryDeliveryStore(max_entries=0)


# -- options and secrecy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{"tolerance": 0}, {"remember_for": -1}, {"max_body": 0}, {"on_place": None}, {"secrets": []}],
)
def test_bad_receiver_options_are_refused(options: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {"secrets": SECRET, "on_validate": Handlers(), "on_place": Handlers(), **options}
    with pytest.raises(GettValidationError):
        WebhookReceiver(**kwargs)


async def test_the_receiver_shows_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gett_async")
    hooks = WebhookReceiver([SECRET, "whsec_test_OLD_DO_NOT_LEAK_9876543210"], on_validate=Handlers(),
                            on_place=Handlers(), clock=Clock())
    body = body_of()
    for headers in (signed(body), signed(body, "wrong"), {**signed(body), "Timestamp": "1"}):
        answer = await hooks.handle(PLACE, headers, body)
        assert_no_secret(answer.body.decode())
    assert_no_secret(repr(hooks))
    assert caplog.records and all("refused" in r.getMessage() or "again" in r.getMessage() for r in caplog.records)
    assert_no_secret(caplog.text)


# -- the aiohttp adapter, over a loopback socket ---------------------------------------------------


async def served(hooks: WebhookReceiver, prefix: str = "/gett") -> TestClient[web.Request, web.Application]:
    app = web.Application()
    app.add_routes(hooks.aiohttp_routes(prefix))
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    return client


async def test_aiohttp_routes_answer_over_loopback() -> None:
    handlers = Handlers()
    http = await served(receiver(handlers))
    try:
        body = body_of()
        placed = await http.post("/gett/placeOrder", data=body, headers=signed(body))
        assert placed.status == 200 and await placed.json() == {"kind": "placeOrder", "orderId": ORDER_ID}
        validated = await http.post("/gett/validateOrder", data=body, headers=signed(body))
        assert validated.status == 200
        refused = await http.post("/gett/placeOrder", data=body + b"\n", headers=signed(body))
        assert refused.status == 401 and refused.content_type == "application/problem+json"
        assert (await refused.json())["errorCode"] == "UNAUTHENTICATED"
        assert (await http.get("/gett/placeOrder")).status == 405
        assert (await http.post("/gett/place", data=body, headers=signed(body))).status == 404
    finally:
        await http.close()
    assert handlers.calls == [(PLACE, ORDER_ID), (VALIDATE, ORDER_ID)]


async def test_aiohttp_non_ascii_signature_header_is_a_401_not_a_500() -> None:
    handlers = Handlers()
    http = await served(receiver(handlers))
    try:
        body = body_of()
        # Sent as raw bytes on the wire (aiohttp's client would refuse a non-ASCII str header).
        reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
        head = (
            f"POST /gett/placeOrder HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
            f"Timestamp: {int(NOW)}\r\nConnection: close\r\n"
        ).encode() + b"Signature: " + "é".encode() * 32 + b"\r\n\r\n"
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()
        writer.close()
        await writer.wait_closed()
    finally:
        await http.close()
    assert status_line.split()[1] == b"401"
    assert handlers.calls == []


async def test_aiohttp_bodies_over_the_cap_are_413() -> None:
    handlers = Handlers()
    http = await served(receiver(handlers, max_body=1024))
    try:
        body = body_of({**json.loads(body_of()), "note": "x" * 2000})
        too_big = await http.post("/gett/placeOrder", data=body, headers=signed(body))
        assert too_big.status == 413 and (await too_big.json())["errorCode"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> Any:  # no Content-Length: the cap is enforced while reading
            for start in range(0, len(body), 256):
                yield body[start:start + 256]

        streamed = await http.post("/gett/placeOrder", data=chunks(), headers=signed(body))
        assert streamed.status == 413
    finally:
        await http.close()
    assert handlers.calls == []


async def test_aiohttp_legacy_paths() -> None:
    handlers = Handlers()
    http = await served(receiver(handlers, paths=LEGACY_PATHS), prefix="")
    try:
        body = body_of()
        assert (await http.post("/validate", data=body, headers=signed(body))).status == 200
        assert (await http.post("/place", data=body, headers=signed(body))).status == 200
        assert (await http.post("/placeOrder", data=body, headers=signed(body))).status == 404
    finally:
        await http.close()
    assert [kind for kind, _ in handlers.calls] == [VALIDATE, PLACE]


# -- the ASGI adapter, driven through its interface ------------------------------------------------


async def call_asgi(
    app: Any, path: str, body: bytes, headers: dict[str, str], *, method: str = "POST", root_path: str = "",
    chunk: int | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request through an ASGI app: (status, headers, body) of what it sent."""
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [
        {"type": "http.request", "body": piece, "more_body": n < len(pieces) - 1} for n, piece in enumerate(pieces)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": root_path + path, "raw_path": (root_path + path).encode(), "root_path": root_path,
        "query_string": b"", "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    await app(scope, receive, send)
    start, *bodies = sent
    assert start["type"] == "http.response.start"
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], response_headers, b"".join(m["body"] for m in bodies)


async def test_asgi_app_answers_both_webhooks() -> None:
    handlers = Handlers()
    app = receiver(handlers).asgi()
    body = body_of()
    status, headers, answer = await call_asgi(app, "/placeOrder", body, signed(body), chunk=40)
    assert status == 200 and json.loads(answer)["orderId"] == ORDER_ID
    assert headers["content-type"] == "application/json" and headers["content-length"] == str(len(answer))
    status, headers, answer = await call_asgi(app, "/validateOrder", body, signed(body, "wrong"))
    assert status == 401 and headers["content-type"] == "application/problem+json"
    assert handlers.calls == [(PLACE, ORDER_ID)]


async def test_asgi_mounted_under_a_prefix_and_standalone_with_one() -> None:
    handlers = Handlers()
    body = body_of()
    mounted = receiver(handlers).asgi()
    assert (await call_asgi(mounted, "/placeOrder", body, signed(body), root_path="/gett"))[0] == 200
    standalone = receiver(handlers).asgi(prefix="/gett")
    assert (await call_asgi(standalone, "/gett/placeOrder", body, signed(body)))[0] == 200
    assert (await call_asgi(standalone, "/placeOrder", body, signed(body)))[0] == 404


async def test_asgi_refusals() -> None:
    handlers = Handlers()
    app = receiver(handlers, max_body=512).asgi()
    body = body_of({"orderId": ORDER_ID, "note": "x" * 600})
    status, headers, _ = await call_asgi(app, "/placeOrder", b"", {}, method="GET")
    assert (status, headers["allow"]) == (405, "POST")
    assert (await call_asgi(app, "/elsewhere", body, signed(body)))[0] == 404
    declared = {**signed(body), "Content-Length": str(len(body))}
    assert (await call_asgi(app, "/placeOrder", body, declared))[0] == 413
    assert (await call_asgi(app, "/placeOrder", body, signed(body), chunk=100))[0] == 413
    assert handlers.calls == []


async def test_asgi_client_gone_before_the_body_gets_no_answer() -> None:
    handlers = Handlers()
    app = receiver(handlers).asgi()
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/placeOrder", "root_path": "", "headers": []}
    await app(scope, receive, send)
    assert sent == [] and handlers.calls == []


async def test_asgi_none_answers_204_without_a_length() -> None:
    async def accept(request: WebhookRequest) -> None:
        return None

    app = WebhookReceiver(SECRET, on_validate=accept, on_place=accept, clock=Clock()).asgi()
    body = body_of()
    status, headers, answer = await call_asgi(app, "/validateOrder", body, signed(body))
    assert (status, answer) == (204, b"") and "content-length" not in headers


async def test_asgi_lifespan_is_answered() -> None:
    app = receiver(Handlers()).asgi()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message)

    await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_asgi_through_httpx() -> None:
    handlers = Handlers()
    transport = httpx.ASGITransport(app=receiver(handlers).asgi(prefix="/gett"))
    body = body_of()
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        placed = await http.post("/gett/placeOrder", content=body, headers=signed(body))
        tampered = await http.post("/gett/placeOrder", content=body.replace(b"12.5", b"0.5"), headers=signed(body))
    assert placed.status_code == 200 and placed.json()["orderId"] == ORDER_ID
    assert tampered.status_code == 401 and tampered.json()["errorCode"] == "UNAUTHENTICATED"
