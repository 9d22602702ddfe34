"""Every endpoint: the exact request on the wire, the parsed answer, and every local refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from helpers_core import (
    API_KEY,
    BASE,
    ORDER_ID,
    ORDER_URL,
    STORE_ID,
    make_client,
    only_call,
    record_sleeps,
    total_calls,
)
from yarl import URL

from gett_async import (
    Address,
    ApiPaths,
    GettError,
    GettValidationError,
    Onboarding,
    OnboardingFailedError,
    OnboardingStatus,
    OnboardingTimeoutError,
    OrderState,
    OrderStatus,
    PauseReason,
    Receipt,
    Store,
    StoreStatus,
    StoreStatusValue,
    __version__,
)
from gett_async._core.requests import notify_update_request
from gett_async._core.updates import parse_update, update_request

STORES_URL = f"{BASE}/v1/commerce/stores"
STORE_URL = f"{STORES_URL}/{STORE_ID}"
STORE_STATUS_URL = f"{STORE_URL}/status"
CATALOG_URL = f"{BASE}/v1/commerce/catalogset-notification"
ONBOARDING_URL = f"{BASE}/v1/commerce/onboarding/stores"
ONBOARDING_ID = "onb_7Hq2-x.9"
ONBOARDING_ITEM_URL = f"{ONBOARDING_URL}/{ONBOARDING_ID}"

PLUS_TWO = timezone(timedelta(hours=2))

STORE_JSON: dict[str, Any] = {
    "storeId": STORE_ID,
    "name": "Pizza Uno",
    "address": {"street": "1 Main St", "city": "Tel Aviv", "postalCode": "61000", "country": "IL", "floor": "3"},
    "phone": "+972-3-555-0100",
    "timezone": "Asia/Jerusalem",
    "logoUrl": "https://cdn.example.com/logo.png",
    "description": "Wood-fired",
    "status": "online",
    "deliveryAllowed": True,
    "pickupAllowed": False,
}
STORE = Store(
    store_id=STORE_ID,
    name="Pizza Uno",
    address=Address(street="1 Main St", city="Tel Aviv", postal_code="61000", country="IL", extra={"floor": "3"}),
    phone="+972-3-555-0100",
    timezone="Asia/Jerusalem",
    logo_url="https://cdn.example.com/logo.png",
    description="Wood-fired",
    status=StoreStatusValue.ONLINE,
    extra={"deliveryAllowed": True, "pickupAllowed": False},
)


def assert_headers(kwargs: Mapping[str, Any], *, write: bool) -> None:
    """``write``: a JSON body is sent (Content-Type only goes with a body)."""
    headers = kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert headers["User-Agent"].startswith(f"gett-async/{__version__} ")
    if write:
        assert headers["Content-Type"] == "application/json"
    else:
        assert "Content-Type" not in headers
    assert kwargs["allow_redirects"] is False


# -- catalog -----------------------------------------------------------------------------


async def test_catalog_notify_update_wire_and_receipt(mocked: Any) -> None:
    mocked.post(f"{CATALOG_URL}?storeId=store-1", status=202, headers={"X-Request-Id": "req_cat"})
    async with make_client() as gett:
        receipt = await gett.catalog.notify_update(
            "https://cdn.example.com/catalogsets/store-1.json", store_id="store-1"
        )
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", f"{CATALOG_URL}?storeId=store-1")
    assert kwargs["params"] == {"storeId": "store-1"}
    assert kwargs["data"] == b'{"callbackUrl":"https://cdn.example.com/catalogsets/store-1.json"}'
    assert_headers(kwargs, write=True)
    assert receipt == Receipt(status=202, attempts=1, request_id="req_cat")


async def test_catalog_store_id_is_passed_as_a_query_parameter_not_in_the_path(mocked: Any) -> None:
    mocked.post(f"{CATALOG_URL}?storeId=a%2Fb+c", status=202)
    async with make_client() as gett:
        await gett.catalog.notify_update("https://cdn.example.com/c.json", store_id="a/b c")
    _, url, kwargs = only_call(mocked)
    assert url.startswith(CATALOG_URL + "?")
    assert kwargs["params"] == {"storeId": "a/b c"}


# -- stores ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [[STORE_JSON], {"stores": [STORE_JSON]}, {"items": [STORE_JSON], "next": None}],
    ids=["bare-array", "stores-envelope", "items-envelope"],
)
async def test_stores_list_wire_and_envelopes(mocked: Any, payload: Any) -> None:
    mocked.get(STORES_URL, payload=payload)
    async with make_client() as gett:
        stores = await gett.stores.list()
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("GET", STORES_URL)
    assert kwargs["data"] is None
    assert_headers(kwargs, write=False)
    assert stores == [STORE]
    assert stores[0].status is StoreStatusValue.ONLINE


async def test_stores_list_empty_and_unreadable(mocked: Any) -> None:
    mocked.get(STORES_URL, payload=[])
    mocked.get(STORES_URL, payload={"unexpected": True})
    async with make_client() as gett:
        assert await gett.stores.list() == []
        with pytest.raises(GettError, match="could not parse Store list"):
            await gett.stores.list()


async def test_stores_get_wire_unknown_enum_and_extra(mocked: Any) -> None:
    mocked.get(STORE_URL, payload={**STORE_JSON, "status": "closed_for_holiday", "rating": 4.5})
    async with make_client() as gett:
        store = await gett.stores.get(STORE_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("GET", STORE_URL)
    assert_headers(kwargs, write=False)
    assert store.status == "closed_for_holiday"
    assert not isinstance(store.status, StoreStatusValue)
    assert store.extra == {"deliveryAllowed": True, "pickupAllowed": False, "rating": 4.5}
    assert store.address == STORE.address


@pytest.mark.parametrize("store_id", [uuid.UUID(STORE_ID), STORE_ID.upper()], ids=["uuid", "upper"])
async def test_store_ids_are_sent_in_canonical_form(mocked: Any, store_id: Any) -> None:
    mocked.get(STORE_URL, payload=STORE_JSON)
    async with make_client() as gett:
        await gett.stores.get(store_id)
    assert only_call(mocked)[1] == STORE_URL


async def test_stores_update_sends_only_given_fields(mocked: Any) -> None:
    mocked.put(STORE_URL, status=204)
    mocked.put(STORE_URL, payload={**STORE_JSON, "name": "Pizza Due"})
    async with make_client() as gett:
        first = await gett.stores.update(STORE_ID, name="Pizza Due")
        second = await gett.stores.update(
            STORE_ID, name="Pizza Due", phone="+972-3-555-0101", logo_url="https://cdn.example.com/l2.png",
            description="",
        )
    calls = mocked.requests[("PUT", URL(STORE_URL))]
    assert [c.kwargs["data"] for c in calls] == [
        b'{"name":"Pizza Due"}',
        b'{"name":"Pizza Due","phone":"+972-3-555-0101","logoUrl":"https://cdn.example.com/l2.png","description":""}',
    ]
    for call in calls:
        assert_headers(call.kwargs, write=True)
    assert first is None
    assert second == attrs.evolve(STORE, name="Pizza Due")



# -- store status ------------------------------------------------------------------------


async def test_store_status_get_wire_and_parse(mocked: Any) -> None:
    mocked.get(
        STORE_STATUS_URL,
        payload={
            "status": "paused",
            "reason": "too_busy",
            "pausedAt": "2026-01-13T12:00:00Z",
            "resumeAt": "2026-01-13T16:00:00+02:00",
            "pausedBy": "gett",
        },
    )
    async with make_client() as gett:
        status = await gett.store_status.get(STORE_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("GET", STORE_STATUS_URL)
    assert_headers(kwargs, write=False)
    assert status == StoreStatus(
        status=StoreStatusValue.PAUSED,
        reason=PauseReason.TOO_BUSY,
        paused_at=datetime(2026, 1, 13, 12, 0, tzinfo=timezone.utc),
        resume_at=datetime(2026, 1, 13, 14, 0, tzinfo=timezone.utc),
        extra={"pausedBy": "gett"},
    )
    assert status.reason is PauseReason.TOO_BUSY
    assert status.resume_at is not None and status.resume_at.utcoffset() == timedelta(hours=2)


async def test_store_status_get_keeps_unknown_reason_as_text(mocked: Any) -> None:
    mocked.get(STORE_STATUS_URL, payload={"status": "paused", "reason": "holiday"})
    async with make_client() as gett:
        status = await gett.store_status.get(STORE_ID)
    assert status.reason == "holiday" and not isinstance(status.reason, PauseReason)
    assert status.paused_at is None and status.resume_at is None


async def test_store_status_update_wire(mocked: Any) -> None:
    mocked.post(STORE_STATUS_URL, payload={"status": "paused", "reason": "too_busy", "surprise": 1})
    resume_at = datetime(2099, 1, 15, 16, 0, tzinfo=PLUS_TWO)
    async with make_client() as gett:
        result = await gett.store_status.update(STORE_ID, status="paused", reason="too_busy", resume_at=resume_at)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", STORE_STATUS_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == b'{"status":"paused","reason":"too_busy","resumeAt":"2099-01-15T14:00:00Z"}'
    assert result == StoreStatus(StoreStatusValue.PAUSED, PauseReason.TOO_BUSY, extra={"surprise": 1})


async def test_store_status_pause_wire_and_empty_answer(mocked: Any) -> None:
    mocked.post(STORE_STATUS_URL, status=204)
    async with make_client() as gett:
        result = await gett.store_status.pause(STORE_ID, PauseReason.MAINTENANCE)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", STORE_STATUS_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == b'{"status":"paused","reason":"maintenance"}'
    assert result is None


async def test_store_status_resume_wire(mocked: Any) -> None:
    mocked.post(STORE_STATUS_URL, payload={"status": "online"})
    async with make_client() as gett:
        result = await gett.store_status.resume(STORE_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", STORE_STATUS_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == b'{"status":"online"}'
    assert result == StoreStatus(status=StoreStatusValue.ONLINE)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(StoreStatusValue.PAUSED, PauseReason.STAFF_SHORTAGE), ("paused", "staff_shortage")],
    ids=["enums", "wire-strings"],
)
async def test_store_status_accepts_enums_and_wire_strings(mocked: Any, status: Any, reason: Any) -> None:
    mocked.post(STORE_STATUS_URL, status=204)
    async with make_client() as gett:
        await gett.store_status.update(STORE_ID, status=status, reason=reason)
    assert only_call(mocked)[2]["data"] == b'{"status":"paused","reason":"staff_shortage"}'


# -- orders ------------------------------------------------------------------------------


async def test_order_update_status_wire_with_eta_converted_to_utc(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=200, headers={"X-Request-Id": "req_ord"})
    async with make_client() as gett:
        receipt = await gett.orders.update_status(
            ORDER_ID, status="confirmed", estimated_ready_at=datetime(2026, 1, 15, 15, 30, tzinfo=PLUS_TWO)
        )
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", ORDER_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == b'{"status":"confirmed","estimatedReadyAt":"2026-01-15T13:30:00Z"}'
    assert receipt == Receipt(status=200, attempts=1, request_id="req_ord")


@pytest.mark.parametrize(
    ("status", "wire"),
    [
        (OrderStatus.CONFIRMED, b'{"status":"confirmed"}'),
        ("confirmed", b'{"status":"confirmed"}'),
        (OrderStatus.PREPARING, b'{"status":"preparing"}'),
        ("ready", b'{"status":"ready"}'),
        (OrderStatus.IN_TRANSIT, b'{"status":"inTransit"}'),
        ("inTransit", b'{"status":"inTransit"}'),
    ],
)
async def test_order_statuses_as_enums_and_wire_strings(mocked: Any, status: Any, wire: bytes) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        receipt = await gett.orders.update_status(ORDER_ID, status=status)
    assert only_call(mocked)[2]["data"] == wire
    assert receipt.status == 204


@pytest.mark.parametrize("state", [OrderState.COMPLETED, "completed"])
async def test_order_state_as_enum_or_wire_string(mocked: Any, state: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        await gett.orders.update_status(ORDER_ID, state=state)
    assert only_call(mocked)[2]["data"] == b'{"state":"completed"}'


async def test_order_eta_only_update_with_milliseconds(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    eta = datetime(2026, 1, 15, 13, 30, 5, 123456, tzinfo=timezone.utc)
    async with make_client() as gett:
        await gett.orders.update_status(ORDER_ID, estimated_ready_at=eta)
    assert only_call(mocked)[2]["data"] == b'{"estimatedReadyAt":"2026-01-15T13:30:05.123Z"}'


async def test_order_complete_wire(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=202)
    async with make_client() as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", ORDER_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == b'{"state":"completed"}'
    assert receipt == Receipt(202, 1, None)


async def test_order_cancel_wire_with_utf8_reason(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        await gett.orders.cancel(ORDER_ID, reason="Item out of stock — sorry")
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", ORDER_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == '{"state":"cancelled","cancelReason":"Item out of stock — sorry"}'.encode()


async def test_order_cancel_reason_at_the_length_limit_is_sent(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        await gett.orders.cancel(ORDER_ID, reason="x" * 1000)
    assert total_calls(mocked) == 1


@pytest.mark.parametrize("order_id", [uuid.UUID(ORDER_ID), ORDER_ID.upper()], ids=["uuid", "upper"])
async def test_order_ids_are_sent_in_canonical_form(mocked: Any, order_id: Any) -> None:
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        await gett.orders.complete(order_id)
    assert only_call(mocked)[1] == ORDER_URL


def test_request_builders_are_pure() -> None:
    request = update_request(ApiPaths(), parse_update(ORDER_ID, state="cancelled", cancel_reason="No courier"))
    assert (request.method, request.path) == ("POST", f"/v1/commerce/orders/{ORDER_ID}/status")
    assert request.template == "/v1/commerce/orders/{order_id}/status"
    assert request.body == b'{"state":"cancelled","cancelReason":"No courier"}'
    assert request.write is True
    catalog = notify_update_request(ApiPaths(), "https://cdn.example.com/c.json", store_id="s1")
    assert catalog.query == {"storeId": "s1"}


# -- onboarding --------------------------------------------------------------------------

ONBOARDING_JSON: dict[str, Any] = {
    "onboardingId": ONBOARDING_ID,
    "partnerStoreId": "p-1",
    "status": "pending_catalog",
    "storeId": None,
    "createdAt": "2026-01-13T13:30:00.250Z",
    "queuePosition": 3,
}


async def test_onboarding_register_wire_and_parse(mocked: Any) -> None:
    mocked.post(ONBOARDING_URL, status=201, payload=ONBOARDING_JSON)
    async with make_client() as gett:
        onboarding = await gett.onboarding.register(
            partner_store_id="p-1",
            name="Pizza Uno",
            catalog_callback_url="https://cdn.example.com/catalogsets/p-1.json",
            webhook_url="https://partner.example.com/gett",
            extra={"phone": "+972-3-555-0100"},
        )
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("POST", ONBOARDING_URL)
    assert_headers(kwargs, write=True)
    assert kwargs["data"] == (
        b'{"phone":"+972-3-555-0100","partnerStoreId":"p-1","name":"Pizza Uno",'
        b'"catalogCallbackUrl":"https://cdn.example.com/catalogsets/p-1.json",'
        b'"webhookUrl":"https://partner.example.com/gett"}'
    )
    assert onboarding == Onboarding(
        onboarding_id=ONBOARDING_ID,
        partner_store_id="p-1",
        status=OnboardingStatus.PENDING_CATALOG,
        store_id=None,
        created_at=datetime(2026, 1, 13, 13, 30, 0, 250000, tzinfo=timezone.utc),
        extra={"queuePosition": 3},
    )
    assert onboarding.status is OnboardingStatus.PENDING_CATALOG
    assert not onboarding.is_terminal


async def test_onboarding_get_wire_and_unknown_status(mocked: Any) -> None:
    mocked.get(ONBOARDING_ITEM_URL, payload={**ONBOARDING_JSON, "status": "awaiting_review"})
    async with make_client() as gett:
        onboarding = await gett.onboarding.get(ONBOARDING_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("GET", ONBOARDING_ITEM_URL)
    assert_headers(kwargs, write=False)
    assert onboarding.status == "awaiting_review"
    assert not isinstance(onboarding.status, OnboardingStatus)
    assert not onboarding.is_terminal


async def test_onboarding_cancel_wire(mocked: Any) -> None:
    mocked.delete(ONBOARDING_ITEM_URL, status=204)
    async with make_client() as gett:
        receipt = await gett.onboarding.cancel(ONBOARDING_ID)
    method, url, kwargs = only_call(mocked)
    assert (method, url) == ("DELETE", ONBOARDING_ITEM_URL)
    assert kwargs.get("data") is None
    assert_headers(kwargs, write=False)
    assert receipt == Receipt(204, 1, None)


async def test_onboarding_activate_wire_with_and_without_body(mocked: Any) -> None:
    url = f"{ONBOARDING_ITEM_URL}/activate"
    mocked.post(url, payload={**ONBOARDING_JSON, "status": "active", "storeId": STORE_ID})
    mocked.post(url, status=204)
    async with make_client() as gett:
        first = await gett.onboarding.activate(ONBOARDING_ID)
        second = await gett.onboarding.activate(ONBOARDING_ID)
    calls = mocked.requests[("POST", URL(url))]
    assert len(calls) == 2 and total_calls(mocked) == 2
    assert calls[0].kwargs["data"] is None
    assert_headers(calls[0].kwargs, write=False)
    assert first is not None and first.status is OnboardingStatus.ACTIVE and first.store_id == STORE_ID
    assert first.is_terminal
    assert second is None


def _poll_answers(mocked: Any, statuses: list[str]) -> None:
    for status in statuses:
        extra = {"error": "dangling item id i9"} if status == "catalog_failed" else {}
        mocked.get(ONBOARDING_ITEM_URL, payload={**ONBOARDING_JSON, "status": status, **extra})


async def test_onboarding_watch_yields_changes_until_terminal(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _poll_answers(mocked, ["pending_catalog", "pending_catalog", "catalog_ingesting", "ready_to_activate", "active"])
    slept = record_sleeps(monkeypatch)
    async with make_client() as gett:
        seen = [o.status async for o in gett.onboarding.watch(ONBOARDING_ID, interval=7.5)]
    assert seen == ["pending_catalog", "catalog_ingesting", "ready_to_activate", "active"]
    assert slept == [7.5] * 4
    assert total_calls(mocked) == 5
    assert only_one_url(mocked) == ("GET", ONBOARDING_ITEM_URL)


def only_one_url(mocked: Any) -> tuple[str, str]:
    [(method, url)] = mocked.requests
    return method, str(url)


async def test_onboarding_wait_until_ready(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _poll_answers(mocked, ["pending_catalog", "catalog_ingesting", "ready_to_activate"])
    record_sleeps(monkeypatch)
    async with make_client() as gett:
        ready = await gett.onboarding.wait_until_ready(ONBOARDING_ID, interval=1)
    assert ready.status is OnboardingStatus.READY_TO_ACTIVATE
    assert total_calls(mocked) == 3


async def test_onboarding_wait_until_ready_raises_on_catalog_failed(
    mocked: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _poll_answers(mocked, ["catalog_ingesting", "catalog_failed"])
    record_sleeps(monkeypatch)
    async with make_client() as gett:
        with pytest.raises(OnboardingFailedError, match="dangling item id i9") as info:
            await gett.onboarding.wait_until_ready(ONBOARDING_ID, interval=1)
    assert info.value.onboarding.status is OnboardingStatus.CATALOG_FAILED


async def test_onboarding_wait_until_ready_times_out(mocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _poll_answers(mocked, ["catalog_ingesting"])
    record_sleeps(monkeypatch)
    async with make_client() as gett:
        # The next poll would end after the deadline, so it gives up after the first one.
        with pytest.raises(OnboardingTimeoutError, match="still catalog_ingesting") as info:
            await gett.onboarding.wait_until_ready(ONBOARDING_ID, interval=60, timeout=30)
    assert isinstance(info.value, TimeoutError)
    assert info.value.last is not None and info.value.last.status is OnboardingStatus.CATALOG_INGESTING
    assert total_calls(mocked) == 1



# -- refusals: GettValidationError naming the field, before any request -----------------

Call = Callable[[Any], Coroutine[Any, Any, Any]]
PAST = datetime(2020, 1, 1, tzinfo=timezone.utc)
FUTURE = datetime(2099, 1, 1, tzinfo=timezone.utc)
NAIVE = datetime(2026, 1, 15, 13, 30)


async def assert_refused(mocked: Any, call: Call, field: str) -> GettValidationError:
    async with make_client() as gett:
        with pytest.raises(GettValidationError) as info:
            await call(gett)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert isinstance(info.value, ValueError)
    assert mocked.requests == {}
    return info.value


def _anext(iterator: Any) -> Coroutine[Any, Any, Any]:
    return iterator.__anext__()  # type: ignore[no-any-return]


REFUSALS: list[tuple[str, Call, str]] = [
    # orders
    ("status-pending", lambda g: g.orders.update_status(ORDER_ID, status="pending"), "status"),
    ("status-pending-enum", lambda g: g.orders.update_status(ORDER_ID, status=OrderStatus.PENDING), "status"),
    ("state-open", lambda g: g.orders.update_status(ORDER_ID, state="open"), "state"),
    ("state-open-enum", lambda g: g.orders.update_status(ORDER_ID, state=OrderState.OPEN), "state"),
    ("status-unknown", lambda g: g.orders.update_status(ORDER_ID, status="delivered"), "status"),
    ("status-wrong-case", lambda g: g.orders.update_status(ORDER_ID, status="Confirmed"), "status"),
    ("status-legacy", lambda g: g.orders.update_status(ORDER_ID, status="picked_up"), "status"),
    ("status-wrong-enum", lambda g: g.orders.update_status(ORDER_ID, status=OrderState.COMPLETED), "status"),
    ("state-unknown", lambda g: g.orders.update_status(ORDER_ID, state="closed"), "state"),
    ("empty-update", lambda g: g.orders.update_status(ORDER_ID), "status"),
    ("cancel-no-reason", lambda g: g.orders.update_status(ORDER_ID, state="cancelled"), "cancel_reason"),
    ("cancel-empty-reason", lambda g: g.orders.cancel(ORDER_ID, reason=""), "cancel_reason"),
    ("cancel-blank-reason", lambda g: g.orders.cancel(ORDER_ID, reason=" \t\n"), "cancel_reason"),
    ("cancel-reason-not-text", lambda g: g.orders.cancel(ORDER_ID, reason=42), "cancel_reason"),
    ("cancel-reason-oversized", lambda g: g.orders.cancel(ORDER_ID, reason="x" * 1001), "cancel_reason"),
    (
        "reason-without-cancel",
        lambda g: g.orders.update_status(ORDER_ID, status="ready", cancel_reason="late"),
        "cancel_reason",
    ),
    (
        "reason-with-complete",
        lambda g: g.orders.update_status(ORDER_ID, state="completed", cancel_reason="late"),
        "cancel_reason",
    ),
    (
        "naive-eta",
        lambda g: g.orders.update_status(ORDER_ID, status="confirmed", estimated_ready_at=NAIVE),
        "estimated_ready_at",
    ),
    ("naive-eta-only", lambda g: g.orders.update_status(ORDER_ID, estimated_ready_at=NAIVE), "estimated_ready_at"),
    (
        "eta-not-a-datetime",
        lambda g: g.orders.update_status(ORDER_ID, status="confirmed", estimated_ready_at="2026-01-15T13:30:00Z"),
        "estimated_ready_at",
    ),
    (
        "eta-with-close",
        lambda g: g.orders.update_status(ORDER_ID, state="completed", estimated_ready_at=FUTURE),
        "estimated_ready_at",
    ),
    (
        "status-and-closing-state",
        lambda g: g.orders.update_status(ORDER_ID, status="ready", state="completed"),
        "status",
    ),
    (
        "status-and-cancel",
        lambda g: g.orders.update_status(ORDER_ID, status="ready", state="cancelled", cancel_reason="x"),
        "status",
    ),
    ("order-id-int", lambda g: g.orders.complete(12345), "order_id"),
    ("order-id-none", lambda g: g.orders.complete(None), "order_id"),
    ("timeout-zero", lambda g: g.orders.complete(ORDER_ID, timeout=0), "timeout"),
    ("timeout-negative", lambda g: g.stores.list(timeout=-1.0), "timeout"),
    # store status
    ("paused-no-reason", lambda g: g.store_status.update(STORE_ID, status="paused"), "reason"),
    ("paused-enum-no-reason", lambda g: g.store_status.update(STORE_ID, status=StoreStatusValue.PAUSED), "reason"),
    ("reason-with-online", lambda g: g.store_status.update(STORE_ID, status="online", reason="too_busy"), "reason"),
    (
        "resume-at-with-online",
        lambda g: g.store_status.update(STORE_ID, status="online", resume_at=FUTURE),
        "resume_at",
    ),
    ("resume-at-past", lambda g: g.store_status.pause(STORE_ID, "too_busy", resume_at=PAST), "resume_at"),
    (
        "resume-at-just-past",
        lambda g: g.store_status.pause(
            STORE_ID, "too_busy", resume_at=datetime.now(timezone.utc) - timedelta(seconds=1)
        ),
        "resume_at",
    ),
    ("resume-at-naive", lambda g: g.store_status.pause(STORE_ID, "too_busy", resume_at=NAIVE), "resume_at"),
    ("store-status-closed", lambda g: g.store_status.update(STORE_ID, status="closed"), "status"),
    ("pause-reason-unknown", lambda g: g.store_status.pause(STORE_ID, "lunch"), "reason"),
    # stores
    ("store-update-empty", lambda g: g.stores.update(STORE_ID), "store"),
    ("store-update-blank-name", lambda g: g.stores.update(STORE_ID, name="  "), "name"),
    ("store-update-blank-phone", lambda g: g.stores.update(STORE_ID, phone=""), "phone"),
    ("store-update-long-description", lambda g: g.stores.update(STORE_ID, description="d" * 1001), "description"),
    # catalog
    ("catalog-url-not-text", lambda g: g.catalog.notify_update(None, store_id="s1"), "callback_url"),
    (
        "catalog-blank-store",
        lambda g: g.catalog.notify_update("https://cdn.example.com/c.json", store_id=" "),
        "store_id",
    ),
    (
        "catalog-long-store",
        lambda g: g.catalog.notify_update("https://cdn.example.com/c.json", store_id="s" * 129),
        "store_id",
    ),
    # onboarding
    (
        "onboarding-blank-name",
        lambda g: g.onboarding.register(
            partner_store_id="p-1", name="", catalog_callback_url="https://c.example.com/c.json",
            webhook_url="https://p.example.com/h",
        ),
        "name",
    ),
    (
        "onboarding-blank-partner-id",
        lambda g: g.onboarding.register(
            partner_store_id=" ", name="n", catalog_callback_url="https://c.example.com/c.json",
            webhook_url="https://p.example.com/h",
        ),
        "partner_store_id",
    ),
    (
        "onboarding-extra-clash",
        lambda g: g.onboarding.register(
            partner_store_id="p-1", name="n", catalog_callback_url="https://c.example.com/c.json",
            webhook_url="https://p.example.com/h", extra={"webhookUrl": "https://evil.example.com"},
        ),
        "extra",
    ),
    ("onboarding-watch-interval", lambda g: _anext(g.onboarding.watch("ok", interval=0)), "interval"),
    ("onboarding-watch-timeout", lambda g: _anext(g.onboarding.watch("ok", timeout=-1)), "timeout"),
]


@pytest.mark.parametrize(("call", "field"), [(c, f) for _, c, f in REFUSALS], ids=[n for n, _, _ in REFUSALS])
async def test_refused_before_any_request(mocked: Any, call: Call, field: str) -> None:
    await assert_refused(mocked, call, field)


BAD_IDS = [
    "../../admin",
    "%2e%2e%2f",
    f"{ORDER_ID}/../x",
    f"{ORDER_ID[:-1]}/",
    "not-a-uuid",
    "",
    f"{{{ORDER_ID}}}",
    f"{ORDER_ID}?x=1",
    "1b4e28ba-2fa1-11d2-883f-0016d3cca42g",
    f" {ORDER_ID}",
]
ORDER_ID_CALLS: dict[str, Callable[[Any, Any], Coroutine[Any, Any, Any]]] = {
    "update_status": lambda g, oid: g.orders.update_status(oid, status="confirmed"),
    "complete": lambda g, oid: g.orders.complete(oid),
    "cancel": lambda g, oid: g.orders.cancel(oid, reason="Out of stock"),
}
STORE_ID_CALLS: dict[str, Callable[[Any, Any], Coroutine[Any, Any, Any]]] = {
    "stores.get": lambda g, sid: g.stores.get(sid),
    "stores.update": lambda g, sid: g.stores.update(sid, name="n"),
    "store_status.get": lambda g, sid: g.store_status.get(sid),
    "store_status.update": lambda g, sid: g.store_status.update(sid, status="online"),
    "store_status.pause": lambda g, sid: g.store_status.pause(sid, "too_busy"),
    "store_status.resume": lambda g, sid: g.store_status.resume(sid),
}


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("endpoint", ORDER_ID_CALLS)
async def test_unsafe_order_ids_refused(mocked: Any, endpoint: str, bad: str) -> None:
    error = await assert_refused(mocked, lambda g: ORDER_ID_CALLS[endpoint](g, bad), "order_id")
    assert "UUID" in error.reason


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("endpoint", STORE_ID_CALLS)
async def test_unsafe_store_ids_refused(mocked: Any, endpoint: str, bad: str) -> None:
    await assert_refused(mocked, lambda g: STORE_ID_CALLS[endpoint](g, bad), "store_id")


BAD_URLS = [
    "ftp://cdn.example.com/c.json",
    "/catalogs/c.json",
    "cdn.example.com/c.json",
    "https://",
    "https://cdn.example.com/a b.json",
    "https://cdn.example.com/a\nb.json",
    "javascript:alert(1)",
    "https://cdn.example.com/" + "x" * 2048,
    "",
]
URL_CALLS: dict[str, tuple[Callable[[Any, Any], Coroutine[Any, Any, Any]], str]] = {
    "catalog": (lambda g, u: g.catalog.notify_update(u, store_id="s1"), "callback_url"),
    "onboarding-catalog": (
        lambda g, u: g.onboarding.register(
            partner_store_id="p-1", name="n", catalog_callback_url=u, webhook_url="https://p.example.com/h"
        ),
        "catalog_callback_url",
    ),
    "onboarding-webhook": (
        lambda g, u: g.onboarding.register(
            partner_store_id="p-1", name="n", catalog_callback_url="https://c.example.com/c.json", webhook_url=u
        ),
        "webhook_url",
    ),
    "store-logo": (lambda g, u: g.stores.update(STORE_ID, logo_url=u), "logo_url"),
}


@pytest.mark.parametrize("bad", BAD_URLS)
@pytest.mark.parametrize("endpoint", URL_CALLS)
async def test_bad_urls_refused(mocked: Any, endpoint: str, bad: str) -> None:
    call, field = URL_CALLS[endpoint]
    await assert_refused(mocked, lambda g: call(g, bad), field)


UNSAFE_SEGMENTS = ["../x", "a/b", "", ".", "..", "a%2Fb", "%2e%2e", "a?b=1", "a b", "a#b", "x" * 129, 7]
ONBOARDING_ID_CALLS: dict[str, Callable[[Any, Any], Coroutine[Any, Any, Any]]] = {
    "get": lambda g, oid: g.onboarding.get(oid),
    "cancel": lambda g, oid: g.onboarding.cancel(oid),
    "activate": lambda g, oid: g.onboarding.activate(oid),
    "watch": lambda g, oid: _anext(g.onboarding.watch(oid)),
    "wait_until_ready": lambda g, oid: g.onboarding.wait_until_ready(oid),
}


@pytest.mark.parametrize("bad", UNSAFE_SEGMENTS)
@pytest.mark.parametrize("endpoint", ONBOARDING_ID_CALLS)
async def test_unsafe_onboarding_ids_refused(mocked: Any, endpoint: str, bad: Any) -> None:
    await assert_refused(mocked, lambda g: ONBOARDING_ID_CALLS[endpoint](g, bad), "onboarding_id")
