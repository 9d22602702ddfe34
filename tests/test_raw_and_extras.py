"""Raw responses (``gett.with_raw_response``) and per-call ``extra_headers`` / ``extra_body``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers_core import API_KEY, ORDER_ID, STORE_ID, make_client

from gett_async import (
    ApiRequest,
    ApiResponse,
    ConflictError,
    GettClient,
    GettValidationError,
    RawResponse,
    Receipt,
    Store,
)
from gett_async._core.extras import with_extra_body
from gett_async.testing import GettEmulator, MockTransport


def recording(status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None) -> MockTransport:
    return MockTransport(lambda request: ApiResponse(status, headers or {}, body))


def sent_body(transport: MockTransport) -> Any:
    [request] = transport.requests
    return None if request.body is None else json.loads(request.body)


# -- raw responses ---------------------------------------------------------------------------


async def test_a_raw_call_returns_the_result_with_status_headers_and_request_id() -> None:
    async with GettEmulator(stores=1) as emu, GettClient(emu.api_key, base_url=emu.url) as gett:
        [store] = emu.stores
        order_id = emu.create_order()
        raw = await gett.with_raw_response.stores.get(store.store_id)
        receipt = await gett.with_raw_response.orders.update_status(order_id, status="confirmed")
    assert isinstance(raw, RawResponse)
    assert isinstance(raw.parsed, Store) and raw.parsed.name == "Store 1"
    assert raw.status == 200 and raw.attempts == 1
    assert raw.request_id is not None and raw.request_id.startswith("req_")
    assert raw.headers["x-request-id"] == raw.request_id  # case-insensitive, as received
    assert "X-RateLimit-Remaining" in raw.headers
    assert isinstance(receipt.parsed, Receipt) and receipt.status == 204
    assert receipt.request_id == receipt.parsed.request_id != raw.request_id


async def test_raw_calls_take_the_same_arguments_and_raise_the_same_errors() -> None:
    def conflict(request: ApiRequest) -> ApiResponse:
        body = {"errorCode": "ORDER_TRANSITION_NOT_ALLOWED", "requestId": "req_7"}
        return ApiResponse(409, {"Content-Type": "application/problem+json"}, json.dumps(body).encode())

    async with make_client(transport=MockTransport(conflict)) as gett:
        with pytest.raises(ConflictError) as info:
            await gett.with_raw_response.orders.complete(ORDER_ID, max_retries=0)
        with pytest.raises(GettValidationError):  # refused before the wire, as without the accessor
            await gett.with_raw_response.orders.update_status(ORDER_ID, status="pending")  # type: ignore[arg-type]
    assert info.value.request_id == "req_7"


async def test_every_single_request_call_has_a_raw_twin() -> None:
    async with make_client(transport=recording(204)) as gett:
        raw = gett.with_raw_response
        twins = {
            "orders": {"update_status", "complete", "cancel", "send_update"},
            "stores": {"list", "get", "update"},
            "store_status": {"get", "update", "pause", "resume"},
            "catalog": {"notify_update"},
            "onboarding": {"register", "get", "cancel", "activate"},
        }
        for resource, methods in twins.items():
            for method in methods:
                assert getattr(getattr(raw, resource), method).__name__ == method
        assert gett.with_raw_response is raw  # made once per client
        derived = gett.with_options(max_retries=0)
        assert derived.with_raw_response is not raw


# -- extra_body ------------------------------------------------------------------------------


async def test_extra_body_adds_undocumented_members_beside_the_documented_ones() -> None:
    transport = recording(200, json.dumps({"storeId": STORE_ID, "deliveryAllowed": False}).encode())
    async with make_client(transport=transport) as gett:
        store = await gett.stores.update(STORE_ID, description="Late", extra_body={"deliveryAllowed": False})
    assert sent_body(transport) == {"description": "Late", "deliveryAllowed": False}
    assert store is not None and store.extra == {"deliveryAllowed": False}


async def test_extra_body_alone_is_an_update() -> None:
    transport = recording(204)
    async with make_client(transport=transport) as gett:
        await gett.stores.update(STORE_ID, extra_body={"pickupAllowed": True})
    assert sent_body(transport) == {"pickupAllowed": True}


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda g: g.stores.update(STORE_ID, name="A", extra_body={"phone": "1"}), "phone"),  # documented, unsent
        (lambda g: g.stores.update(STORE_ID, name="A", extra_body={"name": "B"}), "name"),
        (lambda g: g.orders.update_status(ORDER_ID, status="ready", extra_body={"status": "completed"}), "status"),
        (lambda g: g.orders.complete(ORDER_ID, extra_body={"cancelReason": "x"}), "cancelReason"),
        (lambda g: g.store_status.resume(STORE_ID, extra_body={"reason": "other"}), "reason"),
        (lambda g: g.catalog.notify_update("https://c.example/c", store_id="s", extra_body={"callbackUrl": "x"}),
         "callbackUrl"),
        (lambda g: g.onboarding.register(partner_store_id="p", name="n", catalog_callback_url="https://c.example",
                                         webhook_url="https://w.example", extra={"phone": "1"},
                                         extra_body={"phone": "2"}), "phone"),  # already sent by extra=
    ],
)
async def test_extra_body_never_sets_a_documented_member(call: Any, key: str) -> None:
    transport = recording(204)
    async with make_client(transport=transport) as gett:
        with pytest.raises(GettValidationError) as info:
            await call(gett)
    assert info.value.field == "extra_body" and key in info.value.reason
    assert transport.requests == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        (["deliveryAllowed"], "must be a mapping"),
        ({1: True}, "member names must be non-empty strings"),
        ({"": True}, "member names must be non-empty strings"),
        ({"when": object()}, "JSON-serialisable"),
        ({"ratio": float("nan")}, "JSON-serialisable"),
        ({"note": "half a character \ud800"}, "JSON-serialisable"),
    ],
)
async def test_extra_body_is_checked_for_type(extra: Any, why: str) -> None:
    transport = recording(204)
    async with make_client(transport=transport) as gett:
        with pytest.raises(GettValidationError, match=why):
            await gett.stores.update(STORE_ID, name="A", extra_body=extra)
    assert transport.requests == []


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_reads_and_deletes_take_no_extra_body(method: str) -> None:
    # Their endpoint methods have no extra_body parameter; the rule itself refuses them too.
    with pytest.raises(GettValidationError, match="sends no body"):
        with_extra_body(ApiRequest(method, "/v1/commerce/stores"), {"x": 1}, None)


async def test_a_post_without_a_documented_body_takes_extra_body_as_its_body() -> None:
    transport = recording(204)
    async with make_client(transport=transport) as gett:
        await gett.onboarding.activate("ob-1", extra_body={"note": "go"})
    assert sent_body(transport) == {"note": "go"}


# -- extra_headers ---------------------------------------------------------------------------


async def test_extra_headers_are_added_to_every_attempt() -> None:
    answers = [ApiResponse(503), ApiResponse(204)]
    transport = MockTransport(lambda request: answers.pop(0))
    async with make_client(transport=transport) as gett:
        await gett.orders.update_status(ORDER_ID, status="ready", extra_headers={"X-Partner-Trace": "pos-42"})
    assert [r.headers["X-Partner-Trace"] for r in transport.requests] == ["pos-42", "pos-42"]
    assert all(r.headers["Authorization"] == f"Bearer {API_KEY}" for r in transport.requests)
    assert API_KEY not in repr(transport.requests[0].headers)


@pytest.mark.parametrize("name", ["Authorization", "authorization", "Content-Type", "User-Agent", "Host", "Accept"])
async def test_extra_headers_never_replace_the_sdks(name: str) -> None:
    transport = recording(204)
    async with make_client(transport=transport) as gett:
        with pytest.raises(GettValidationError) as info:
            await gett.orders.update_status(ORDER_ID, status="ready", extra_headers={name: "Bearer other"})
    assert info.value.field == "extra_headers" and "set by the SDK" in info.value.reason
    assert transport.requests == []


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({"X-A": 1}, "printable ASCII on one line"),
        ({"X-A": "a\r\nX-Injected: 1"}, "printable ASCII on one line"),
        ({"Bad Name": "1"}, "is not an HTTP header name"),
        ({"X-A": "1", "x-a": "2"}, "given twice"),
        ("X-A: 1", "must be a mapping"),
    ],
)
async def test_extra_headers_are_checked_for_type_and_their_values_never_echoed(extra: Any, why: str) -> None:
    async with make_client(transport=recording(204)) as gett:
        with pytest.raises(GettValidationError, match=why) as info:
            await gett.stores.get(STORE_ID, extra_headers=extra)
    assert "X-Injected" not in str(info.value)
