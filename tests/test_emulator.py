"""The emulator over real loopback sockets, driven by a plain aiohttp.ClientSession."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest

from gett_async import GettValidationError
from gett_async.testing import FaultConfig, GettEmulator

ORDERS = "/v1/commerce/orders/{}/status"
ONBOARDING = "/v1/commerce/onboarding/stores"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Api:
    """A thin client: one call returns (status, headers, parsed body or raw text)."""

    def __init__(self, emu: GettEmulator, session: aiohttp.ClientSession) -> None:
        self.emu = emu
        self.session = session
        self.auth = {"Authorization": f"Bearer {emu.api_key}"}

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, Any]:
        kwargs: dict[str, Any] = {"headers": self.auth if headers is None else headers, "params": params}
        if raw is not None:
            kwargs["data"] = raw
        elif body is not None:
            kwargs["json"] = body
        async with self.session.request(method, self.emu.url + path, **kwargs) as response:
            text = await response.text()
            if response.content_type in ("application/json", "application/problem+json") and text:
                return response.status, response.headers, await response.json(content_type=None)
            return response.status, response.headers, text

    async def order(self, order_id: str, body: Any) -> tuple[int, Any, Any]:
        return await self.call("POST", ORDERS.format(order_id), body)


async def _api(**options: Any) -> AsyncIterator[Api]:
    async with GettEmulator(**options) as emu, aiohttp.ClientSession() as session:
        yield Api(emu, session)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async for each in _api():
        yield each


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- server, fixture, auth -------------------------------------------------------------------


async def test_start_stop_binds_loopback_on_a_free_port() -> None:
    emu = GettEmulator()
    assert emu.api_key.startswith("zpka_test_")
    await emu.start()
    try:
        assert emu.url.startswith("http://127.0.0.1:") and emu.port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                emu.url + "/v1/commerce/stores", headers={"Authorization": f"Bearer {emu.api_key}"}
            ) as response,
        ):
            assert response.status == 200
            assert await response.json() == {"stores": []}
    finally:
        await emu.stop()
    assert not emu.running
    await emu.stop()  # idempotent


async def test_pytest_fixture_yields_a_running_emulator(gett_emulator: GettEmulator) -> None:
    assert gett_emulator.running
    store_id = gett_emulator.add_store("Fixture Store")
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{gett_emulator.url}/v1/commerce/stores/{store_id}",
            headers={"Authorization": f"Bearer {gett_emulator.api_key}"},
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["name"] == "Fixture Store"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "zpka_test_x"}, {"Authorization": "bearer KEY"}],
)
async def test_bad_or_missing_key_is_401_problem(api: Api, headers: dict[str, str]) -> None:
    headers = {k: v.replace("KEY", api.emu.api_key) for k, v in headers.items()}
    status, response_headers, body = await api.call("GET", "/v1/commerce/stores", headers=headers)
    assert status == 401
    assert response_headers["Content-Type"] == "application/problem+json"
    assert "X-RateLimit-Remaining" in response_headers and "X-RateLimit-Reset" in response_headers
    assert body["errorCode"] == "UNAUTHENTICATED" and body["errorCategory"] == "authentication"
    assert body["type"] == "https://developer.gett-tech.com/errors/UNAUTHENTICATED"
    assert body["title"] == "Unauthorized" and body["status"] == 401 and body["retryable"] is False
    assert body["instance"] == "/v1/commerce/stores" and body["requestId"].startswith("req_")
    assert body["timestamp"].endswith("Z")
    assert api.emu.stats.unauthenticated == 1


async def test_custom_key_and_unknown_route() -> None:
    async for api in _api(api_key="zpka_test_fixed"):
        assert api.emu.api_key == "zpka_test_fixed"
        status, _, body = await api.call("GET", "/v1/commerce/nothing")
        assert status == 404 and body["errorCode"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/"), ("GET", "/v1/commerce/nothing"), ("PATCH", "/v1/commerce/stores"),
                         ("GET", f"/v1/commerce/orders/{uuid.uuid4()}/status")],
)
@pytest.mark.parametrize("authenticated", [True, False])
async def test_unknown_routes_are_a_problem_404_before_auth_and_spend_nothing(
    api: Api, method: str, path: str, authenticated: bool
) -> None:
    status, headers, body = await api.call(method, path, headers=None if authenticated else {})
    assert status == 404 and headers["Content-Type"] == "application/problem+json"
    assert body["errorCode"] == "NOT_FOUND" and f"No operation {method} {path}." in body["detail"]
    assert headers["X-Request-Id"] == body["requestId"]
    assert api.emu.stats.unauthenticated == 0
    assert headers["X-RateLimit-Remaining"] == ("1000" if method == "GET" else "100")  # the window untouched


async def test_every_answer_carries_its_request_id(api: Api) -> None:
    store_id = api.emu.add_store()
    answers = [
        await api.call("GET", "/v1/commerce/stores"),
        await api.call("GET", f"/v1/commerce/stores/{store_id}/status"),
        await api.call("GET", "/v1/commerce/stores/not-a-uuid"),
        await api.call("GET", "/v1/commerce/stores", headers={}),
    ]
    ids = [headers["X-Request-Id"] for _, headers, _ in answers]
    assert all(i.startswith("req_") for i in ids) and len(set(ids)) == 4
    assert answers[3][2]["requestId"] == ids[3]


async def test_seeded_stores_and_undocumented_store_flags() -> None:
    async for api in _api(stores=2):
        first, second = api.emu.stores
        assert (first.name, second.name, first.status) == ("Store 1", "Store 2", "online")
        path = f"/v1/commerce/stores/{first.store_id}"
        status, _, body = await api.call("PUT", path, {"description": "Late", "deliveryAllowed": False})
        assert status == 200 and (body["description"], body["deliveryAllowed"]) == ("Late", False)
        status, _, body = await api.call("GET", path)
        assert body["deliveryAllowed"] is False and body["name"] == "Store 1"
        status, _, body = await api.call("PUT", path, {"pickupAllowed": "yes"})
        assert status == 422 and body["errors"][0]["jsonPath"] == "$.pickupAllowed"


@pytest.mark.parametrize(("option", "value"), [("stores", -1), ("onboarding_step_seconds", -1.0),
                                               ("onboarding_step_seconds", float("nan"))])
def test_seeding_options_are_checked(option: str, value: Any) -> None:
    with pytest.raises(GettValidationError) as info:
        GettEmulator(**{option: value})
    assert info.value.field == option


async def test_an_onboarding_step_of_zero_is_ready_at_the_first_read() -> None:
    async for api in _api(onboarding_step_seconds=0):
        body = {"partnerStoreId": "p", "name": "n", "catalogCallbackUrl": "https://c.example",
                "webhookUrl": "https://w.example"}
        status, _, created = await api.call("POST", "/v1/commerce/onboarding/stores", body)
        assert (status, created["status"]) == (201, "pending_catalog")
        _, _, read = await api.call("GET", f"/v1/commerce/onboarding/stores/{created['onboardingId']}")
        assert read["status"] == "ready_to_activate"


# -- catalog and stores ----------------------------------------------------------------------


async def test_catalog_notification(api: Api) -> None:
    status, headers, body = await api.call(
        "POST",
        "/v1/commerce/catalogset-notification",
        {"callbackUrl": "https://cdn.example.com/c.json"},
        params={"storeId": "store-1"},
    )
    assert (status, body) == (202, "")
    assert headers["X-RateLimit-Remaining"] == "99"
    [note] = api.emu.catalog_notifications
    assert (note.store_id, note.callback_url) == ("store-1", "https://cdn.example.com/c.json")

    status, _, body = await api.call("POST", "/v1/commerce/catalogset-notification", {"callbackUrl": "ftp://x"})
    assert status == 422
    assert {e["code"] for e in body["errors"]} == {"INVALID_FORMAT", "REQUIRED"}
    assert {"code": "REQUIRED", "message": "query parameter storeId is required", "parameter": "storeId"} in body[
        "errors"
    ]


async def test_store_reads_and_update(api: Api) -> None:
    store_id = api.emu.add_store("Pizza", phone="+100", address={"city": "Berlin"}, extra={"pickupAllowed": True})
    status, _, body = await api.call("GET", "/v1/commerce/stores")
    assert status == 200
    assert body == {
        "stores": [
            {
                "storeId": store_id,
                "name": "Pizza",
                "phone": "+100",
                "address": {"city": "Berlin"},
                "status": "online",
                "pickupAllowed": True,
            }
        ]
    }
    status, _, body = await api.call("PUT", f"/v1/commerce/stores/{store_id}", {"description": "Best", "name": "P2"})
    assert status == 200
    assert (body["name"], body["description"], body["phone"]) == ("P2", "Best", "+100")  # merged, not replaced
    assert api.emu.store(store_id).name == "P2"

    status, _, body = await api.call("PUT", f"/v1/commerce/stores/{store_id}", {"name": "", "website": "x"})
    assert status == 422
    assert {(e["code"], e["jsonPath"]) for e in body["errors"]} == {("BLANK", "$.name"), ("UNKNOWN_FIELD", "$.website")}

    status, _, body = await api.call("GET", f"/v1/commerce/stores/{uuid.uuid4()}")
    assert status == 404 and body["errorCode"] == "NOT_FOUND"


@pytest.mark.parametrize("method,suffix", [("GET", ""), ("PUT", ""), ("GET", "/status"), ("POST", "/status")])
async def test_malformed_store_id_is_a_bare_404(api: Api, method: str, suffix: str) -> None:
    status, headers, body = await api.call(method, f"/v1/commerce/stores/not-a-uuid{suffix}", {"status": "online"})
    assert (status, body) == (404, "")
    assert "X-RateLimit-Remaining" in headers


async def test_store_status_pause_resume_and_auto_resume(clock: Clock) -> None:
    async for api in _api(clock=clock):
        store_id = api.emu.add_store()
        path = f"/v1/commerce/stores/{store_id}/status"
        assert (await api.call("GET", path))[2] == {"status": "online"}

        status, _, body = await api.call("POST", path, {"status": "paused"})
        assert status == 422 and body["errors"][0]["jsonPath"] == "$.reason"
        status, _, body = await api.call("POST", path, {"status": "closed", "reason": "lunch"})
        assert status == 422 and {e["jsonPath"] for e in body["errors"]} == {"$.status", "$.reason"}

        resume = "2030-01-01T00:00:00Z"
        status, _, body = await api.call("POST", path, {"status": "paused", "reason": "too_busy", "resumeAt": resume})
        assert status == 200
        assert body["status"] == "paused" and body["reason"] == "too_busy" and body["resumeAt"] == resume
        assert body["pausedAt"].endswith("Z")

        clock.now = 1_900_000_000.0  # past 2030-01-01: Gett resumes the store by itself
        assert (await api.call("GET", path))[2] == {"status": "online"}

        await api.call("POST", path, {"status": "paused", "reason": "maintenance"})
        status, _, body = await api.call("POST", path, {"status": "online"})
        assert (status, body) == (200, {"status": "online"})


# -- orders ----------------------------------------------------------------------------------


async def test_order_happy_path_and_history(api: Api) -> None:
    order_id = api.emu.create_order()
    eta = "2026-01-15T13:30:00Z"
    for body in (
        {"status": "confirmed", "estimatedReadyAt": eta},
        {"status": "preparing"},
        {"status": "ready"},
        {"state": "completed"},
    ):
        status, headers, text = await api.order(order_id, body)
        assert (status, text) == (204, "")
        assert "X-RateLimit-Reset" in headers
    order = api.emu.order(order_id)
    assert order.position == "completed" and order.state == "completed" and order.status == "ready"
    assert [u.position for u in order.history] == ["confirmed", "preparing", "ready", "completed"]
    assert order.history[0].estimated_ready_at is not None
    assert order.history[0].estimated_ready_at.isoformat() == "2026-01-15T13:30:00+00:00"
    assert api.emu.stats.applied_updates == 4


async def test_cancel_from_any_open_status_with_a_reason(api: Api) -> None:
    order_id = api.emu.create_order("preparing")
    status, _, _ = await api.order(order_id, {"state": "cancelled", "cancelReason": "Out of stock"})
    assert status == 204
    order = api.emu.order(order_id)
    assert (order.position, order.cancel_reason) == ("cancelled", "Out of stock")


async def test_unknown_and_malformed_order_ids(api: Api) -> None:
    status, _, body = await api.order(str(uuid.uuid4()), {"status": "confirmed"})
    assert status == 404 and body["errorCode"] == "NOT_FOUND" and body["errorCategory"] == "not_found"
    status, _, body = await api.order("12345", {"status": "confirmed"})
    assert (status, body) == (404, "")


async def test_auto_create_orders() -> None:
    async for api in _api(auto_create_orders=True):
        order_id = str(uuid.uuid4())
        assert (await api.order(order_id, {"status": "confirmed"}))[0] == 204
        order = api.emu.order(order_id)
        assert order.position == "confirmed" and [u.position for u in order.history] == ["confirmed"]
        assert (await api.order("not-a-uuid", {"status": "confirmed"}))[0] == 404


@pytest.mark.parametrize(
    "body,code,path",
    [
        ({"status": "pending"}, "NOT_ALLOWED", "$.status"),
        ({"state": "open"}, "NOT_ALLOWED", "$.state"),
        ({"status": "delivered"}, "INVALID_VALUE", "$.status"),
        ({"status": 3}, "INVALID_TYPE", "$.status"),
        ({"status": "confirmed", "state": "completed"}, "CONFLICTING_FIELDS", "$.state"),
        ({"state": "cancelled"}, "REQUIRED", "$.cancelReason"),
        ({"state": "cancelled", "cancelReason": "   "}, "BLANK", "$.cancelReason"),
        ({"status": "confirmed", "cancelReason": "why"}, "NOT_ALLOWED", "$.cancelReason"),
        ({"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00"}, "INVALID_FORMAT", "$.estimatedReadyAt"),
        ({"status": "confirmed", "estimatedReadyAt": "tomorrow"}, "INVALID_FORMAT", "$.estimatedReadyAt"),
        (
            {"status": "confirmed", "estimated_ready_at": "2026-01-15T13:30:00Z"},
            "UNKNOWN_FIELD",
            "$.estimated_ready_at",
        ),
        ({}, "REQUIRED", "$"),
        ([{"status": "confirmed"}], "INVALID_TYPE", "$"),
    ],
)
async def test_invalid_order_updates_are_422(api: Api, body: Any, code: str, path: str) -> None:
    order_id = api.emu.create_order()
    status, headers, problem = await api.order(order_id, body)
    assert status == 422
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["errorCode"] == "VALIDATION_FAILED" and problem["errorCategory"] == "validation"
    assert {"code": code, "jsonPath": path} in [
        {"code": e["code"], "jsonPath": e["jsonPath"]} for e in problem["errors"]
    ]
    assert api.emu.order(order_id).history == ()
    assert api.emu.stats.validation_failures == 1


async def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    headers = {**api.auth, "Content-Type": "application/json"}
    status, _, problem = await api.call("POST", ORDERS.format(api.emu.create_order()), raw=b"{nope", headers=headers)
    assert status == 422 and problem["errors"][0]["code"] == "INVALID_JSON"


async def test_offset_datetimes_are_accepted(api: Api) -> None:
    order_id = api.emu.create_order()
    status, _, _ = await api.order(order_id, {"status": "confirmed", "estimatedReadyAt": "2026-01-15T15:30:00.5+02:00"})
    assert status == 204
    eta = api.emu.order(order_id).estimated_ready_at
    assert eta is not None and eta.utcoffset() is not None


@pytest.mark.parametrize(
    "start,body",
    [
        ("preparing", {"status": "confirmed"}),  # backwards
        ("confirmed", {"state": "completed"}),  # completed only after ready
        ("completed", {"state": "cancelled", "cancelReason": "late"}),  # closed
        ("cancelled", {"status": "ready"}),
        ("pending", {"estimatedReadyAt": "2026-01-15T13:30:00Z"}),  # no ETA while pending
    ],
)
async def test_illegal_transitions_are_409(api: Api, start: str, body: dict[str, str]) -> None:
    order_id = api.emu.create_order(start)
    status, _, problem = await api.order(order_id, body)
    assert status == 409
    assert problem["errorCode"] == "ORDER_TRANSITION_NOT_ALLOWED" and problem["errorCategory"] == "conflict"
    assert problem["currentPosition"] == start and problem["retryable"] is False
    assert api.emu.order(order_id).position == start and api.emu.order(order_id).history == ()
    assert api.emu.stats.illegal_transitions == 1


async def test_restating_a_status_without_its_eta_is_409(api: Api) -> None:
    order_id = api.emu.create_order("ready", estimated_ready_at=datetime(2026, 1, 15, 13, 30, tzinfo=timezone.utc))
    status, _, problem = await api.order(order_id, {"status": "ready"})
    assert status == 409 and problem["allowedNext"] == ["inTransit", "completed", "cancelled"]


async def test_exact_repeats_succeed_without_a_second_history_entry(api: Api) -> None:
    order_id = api.emu.create_order()
    confirm = {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00Z"}
    assert (await api.order(order_id, confirm))[0] == 204
    assert (await api.order(order_id, confirm))[0] == 204
    # Same instant, different spelling: still the same position.
    assert (await api.order(order_id, {**confirm, "estimatedReadyAt": "2026-01-15T14:30:00+01:00"}))[0] == 204
    assert len(api.emu.order(order_id).history) == 1

    new_eta = {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:45:00Z"}
    assert (await api.order(order_id, new_eta))[0] == 204  # a real ETA move is applied
    cancel = {"state": "cancelled", "cancelReason": "closed early"}
    assert (await api.order(order_id, cancel))[0] == 204
    assert (await api.order(order_id, cancel))[0] == 204
    order = api.emu.order(order_id)
    assert [u.position for u in order.history] == ["confirmed", "confirmed", "cancelled"]
    assert api.emu.stats.idempotent_repeats == 3 and api.emu.stats.applied_updates == 3


# -- onboarding ------------------------------------------------------------------------------


REGISTRATION = {
    "partnerStoreId": "p-1",
    "name": "Corner Deli",
    "catalogCallbackUrl": "https://cdn.example.com/catalog.json",
    "webhookUrl": "https://partner.example.com/hooks",
    "phone": "+49 30 1234",
    "deliveryAllowed": True,
}


async def test_onboarding_walks_to_active_on_the_manual_clock(api: Api) -> None:
    status, headers, created = await api.call("POST", ONBOARDING, REGISTRATION)
    assert status == 201
    onboarding_id = created["onboardingId"]
    assert headers["Location"] == f"{ONBOARDING}/{onboarding_id}"
    assert created["status"] == "pending_catalog" and created["partnerStoreId"] == "p-1"
    assert "storeId" not in created and created["createdAt"].endswith("Z")

    item = f"{ONBOARDING}/{onboarding_id}"
    status, _, problem = await api.call("POST", item + "/activate")
    assert status == 409 and problem["errorCode"] == "CONFLICT"

    seen = []
    for _ in range(3):
        seen.append((await api.call("GET", item))[2]["status"])
        api.emu.advance_onboarding()
    assert seen == ["pending_catalog", "catalog_ingesting", "ready_to_activate"]

    status, _, activated = await api.call("POST", item + "/activate")
    assert status == 200 and activated["status"] == "active"
    store_id = activated["storeId"]
    status, _, store = await api.call("GET", f"/v1/commerce/stores/{store_id}")
    assert status == 200
    assert store == {
        "storeId": store_id,
        "name": "Corner Deli",
        "phone": "+49 30 1234",
        "status": "online",
        "deliveryAllowed": True,
    }
    assert (await api.call("POST", item + "/activate"))[0] == 409
    assert (await api.call("DELETE", item))[0] == 409


async def test_onboarding_catalog_failure_and_cancel(api: Api) -> None:
    body = {**REGISTRATION, "catalogCallbackUrl": "https://cdn.example.com/fail.json"}
    onboarding_id = (await api.call("POST", ONBOARDING, body))[2]["onboardingId"]
    api.emu.advance_onboarding(onboarding_id, steps=5)
    _, _, failed = await api.call("GET", f"{ONBOARDING}/{onboarding_id}")
    assert failed["status"] == "catalog_failed" and "fail.json" in failed["error"]
    assert (await api.call("POST", f"{ONBOARDING}/{onboarding_id}/activate"))[0] == 409

    status, _, text = await api.call("DELETE", f"{ONBOARDING}/{onboarding_id}")
    assert (status, text) == (204, "")
    status, _, problem = await api.call("GET", f"{ONBOARDING}/{onboarding_id}")
    assert status == 404 and problem["errorCode"] == "NOT_FOUND"


async def test_onboarding_progresses_with_the_clock(clock: Clock) -> None:
    async for api in _api(clock=clock, onboarding_step_seconds=5):
        onboarding_id = (await api.call("POST", ONBOARDING, REGISTRATION))[2]["onboardingId"]
        clock.now += 5
        assert api.emu.onboarding(onboarding_id).status == "catalog_ingesting"
        clock.now += 60
        assert (await api.call("GET", f"{ONBOARDING}/{onboarding_id}"))[2]["status"] == "ready_to_activate"


@pytest.mark.parametrize(
    "change,code,path",
    [
        ({"partnerStoreId": None}, "REQUIRED", "$.partnerStoreId"),
        ({"webhookUrl": "/relative"}, "INVALID_FORMAT", "$.webhookUrl"),
        ({"deliveryAllowed": "yes"}, "INVALID_TYPE", "$.deliveryAllowed"),
        ({"deliveryAllowed": False, "pickupAllowed": False}, "NOT_ALLOWED", "$.pickupAllowed"),
        ({"address": {"zip": "1"}}, "UNKNOWN_FIELD", "$.address.zip"),
    ],
)
async def test_invalid_registrations_are_422(api: Api, change: dict[str, Any], code: str, path: str) -> None:
    status, _, problem = await api.call("POST", ONBOARDING, {**REGISTRATION, **change})
    assert status == 422
    assert [(e["code"], e["jsonPath"]) for e in problem["errors"]] == [(code, path)]


# -- rate limits -----------------------------------------------------------------------------


async def test_write_budget_429_and_window_reset(clock: Clock) -> None:
    clock.now = 1000.0
    async for api in _api(clock=clock, writes_per_window=2, reads_per_window=5, window_seconds=60):
        order_id = api.emu.create_order()
        # Window 16 runs from 960 to 1020.
        status, headers, _ = await api.order(order_id, {"status": "confirmed"})
        assert (status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == (204, "1", "1020")
        status, headers, _ = await api.order(order_id, {"status": "preparing"})
        assert (status, headers["X-RateLimit-Remaining"]) == (204, "0")
        clock.now = 1000.5
        for _ in range(2):  # refused requests spend nothing, so the second is refused alike
            status, headers, problem = await api.order(order_id, {"status": "ready"})
            assert status == 429
            assert problem["errorCode"] == "RATE_LIMITED" and problem["retryable"] is True
            assert problem["retryAfter"] == 20 and headers["Retry-After"] == "20"
            assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Reset"] == "1020"
        status, headers, _ = await api.call("GET", "/v1/commerce/stores")  # reads have their own budget
        assert (status, headers["X-RateLimit-Remaining"]) == (200, "4")

        clock.now = 1020.0
        status, headers, _ = await api.order(order_id, {"status": "ready"})
        assert (status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == (204, "1", "1080")
        assert api.emu.stats.rate_limited == 2
        assert [u.position for u in api.emu.order(order_id).history] == ["confirmed", "preparing", "ready"]


async def test_a_sliding_window_counts_every_rolling_window(clock: Clock) -> None:
    """With ``sliding_window`` a request is refused while the last ``window_seconds`` hold the
    budget, however the windows are aligned; the reset is when the oldest one leaves."""
    clock.now = 1019.0
    async for api in _api(clock=clock, writes_per_window=2, window_seconds=60, sliding_window=True):
        order_id = api.emu.create_order()
        status, headers, _ = await api.order(order_id, {"status": "confirmed"})
        assert (status, headers["X-RateLimit-Remaining"], headers["X-RateLimit-Reset"]) == (204, "1", "1079")
        clock.now = 1021.0  # a fixed window would have reset at 1020
        status, headers, _ = await api.order(order_id, {"status": "preparing"})
        assert (status, headers["X-RateLimit-Remaining"]) == (204, "0")
        clock.now = 1078.5
        status, headers, problem = await api.order(order_id, {"status": "ready"})
        assert status == 429 and problem["retryAfter"] == 0.5 and headers["X-RateLimit-Reset"] == "1079"
        clock.now = 1079.0  # the first request leaves the window: one more fits
        assert (await api.order(order_id, {"status": "ready"}))[0] == 204
        assert (await api.order(order_id, {"status": "inTransit"}))[0] == 429
        assert api.emu.stats.rate_limited == 2


async def test_fractional_window_reports_exact_seconds(clock: Clock) -> None:
    clock.now = 100.1
    async for api in _api(clock=clock, reads_per_window=1, window_seconds=0.5):
        assert (await api.call("GET", "/v1/commerce/stores"))[0] == 200
        status, headers, problem = await api.call("GET", "/v1/commerce/stores")
        assert status == 429
        assert headers["X-RateLimit-Reset"] == "100.5"
        assert problem["retryAfter"] == pytest.approx(0.4)
        assert headers["Retry-After"] == "1"


async def test_unlimited_budgets() -> None:
    async for api in _api(reads_per_window=None, writes_per_window=0):
        for _ in range(3):
            status, headers, _ = await api.call("GET", "/v1/commerce/stores")
            assert status == 200 and int(headers["X-RateLimit-Remaining"]) > 1000


# -- fault injection -------------------------------------------------------------------------


async def _fault_statuses(seed: int) -> list[Any]:
    faults = FaultConfig(error_500=0.2, error_502=0.1, error_503=0.1, error_429=0.1)
    async for api in _api(faults=faults, seed=seed, auto_create_orders=True):
        order_id = str(uuid.uuid4())
        for _ in range(30):
            await api.order(order_id, {"status": "confirmed"})
        for _ in range(5):  # reads are never faulted by default
            assert (await api.call("GET", "/v1/commerce/stores"))[0] == 200
        return [(record.status, record.fault) for record in api.emu.requests]
    raise AssertionError


async def test_same_seed_same_faults() -> None:
    first = await _fault_statuses(7)
    assert first == await _fault_statuses(7)
    assert first != await _fault_statuses(8)
    statuses = {status for status, _ in first}
    assert {500, 502, 503, 429, 204} <= statuses


async def test_injected_errors_are_retryable_problems_and_429s_cost_nothing(clock: Clock) -> None:
    faults = FaultConfig(error_429=1.0, fault_retry_after=2)
    async for api in _api(faults=faults, clock=clock, writes_per_window=1):
        order_id = api.emu.create_order()
        for _ in range(3):
            status, headers, problem = await api.order(order_id, {"status": "confirmed"})
            assert status == 429 and problem["retryable"] is True and problem["retryAfter"] == 2
            assert headers["Retry-After"] == "2" and headers["X-RateLimit-Remaining"] == "1"
        assert api.emu.stats.faults == {"error_429": 3} and api.emu.stats.rate_limited == 0

        api.emu.set_faults(FaultConfig(error_503=1.0))
        status, _, problem = await api.order(order_id, {"status": "confirmed"})
        assert status == 503 and problem["errorCode"] == "SERVICE_UNAVAILABLE" and problem["retryable"] is True
        assert api.emu.order(order_id).history == ()


async def test_faults_skip_requests_that_fail_auth_or_validation() -> None:
    async for api in _api(faults=FaultConfig(error_500=1.0)):
        order_id = api.emu.create_order()
        assert (await api.order(order_id, {"status": "pending"}))[0] == 422
        assert (await api.call("POST", ORDERS.format(order_id), {"status": "confirmed"}, headers={}))[0] == 401
        assert (await api.order(order_id, {"status": "confirmed"}))[0] == 500
        assert api.emu.stats.faults == {"error_500": 1}


async def test_drop_before_is_not_applied_and_the_client_sees_a_connection_error() -> None:
    async for api in _api(faults=FaultConfig(drop_before=1.0)):
        order_id = api.emu.create_order()
        with pytest.raises(aiohttp.ClientConnectionError):
            await api.order(order_id, {"status": "confirmed"})
        assert api.emu.order(order_id).position == "pending"
        assert api.emu.requests[-1].status == "dropped" and api.emu.requests[-1].fault == "drop_before"


async def test_drop_after_is_applied_and_a_retry_is_an_idempotent_success() -> None:
    async for api in _api(faults=FaultConfig(drop_after=1.0)):
        order_id = api.emu.create_order()
        update = {"status": "confirmed", "estimatedReadyAt": "2026-01-15T13:30:00Z"}
        with pytest.raises(aiohttp.ClientConnectionError):
            await api.order(order_id, update)
        assert api.emu.order(order_id).position == "confirmed"

        api.emu.set_faults(None)
        assert (await api.order(order_id, update))[0] == 204  # the client's retry
        assert len(api.emu.order(order_id).history) == 1
        assert [r.status for r in api.emu.requests] == ["dropped", 204]
        assert api.emu.stats.idempotent_repeats == 1


async def test_latency_and_reads_when_not_writes_only() -> None:
    faults = FaultConfig(latency=(0.0, 0.001), writes_only=False)
    async for api in _api(faults=faults, seed=1):
        for _ in range(3):
            assert (await api.call("GET", "/v1/commerce/stores"))[0] == 200
        assert api.emu.stats.faults.get("latency", 0) == 3


def test_fault_config_is_validated() -> None:
    with pytest.raises(ValueError):
        FaultConfig(error_500=0.6, drop_after=0.6)
    with pytest.raises(ValueError):
        FaultConfig(error_502=1.5)
    with pytest.raises(ValueError):
        FaultConfig(latency=(0.2, 0.1))
    assert FaultConfig(latency=[0.1, 0.2]).latency == (0.1, 0.2)


# -- records and the serve helper ------------------------------------------------------------


async def test_records_and_reset(api: Api) -> None:
    order_id = api.emu.create_order()
    await api.order(order_id, {"status": "confirmed"})
    await api.call("GET", "/v1/commerce/stores", params={"limit": "5"})
    first, second = api.emu.requests
    assert (first.method, first.path, first.operation, first.body, first.status) == (
        "POST",
        ORDERS.format(order_id),
        "order_status",
        {"status": "confirmed"},
        204,
    )
    assert (second.operation, second.query, second.body, second.status) == ("stores", {"limit": "5"}, None, 200)
    assert api.emu.stats.requests == 2
    api.emu.reset_records()
    assert api.emu.requests == [] and api.emu.stats.requests == 0
    assert len(api.emu.order(order_id).history) == 1  # state is kept


async def test_serve_forever_prints_url_and_key() -> None:
    from gett_async.testing import serve_forever

    lines: list[str] = []
    ready = asyncio.Event()

    def out(line: str) -> None:
        lines.append(line)
        if len(lines) == 2:
            ready.set()

    task = asyncio.create_task(serve_forever("127.0.0.1", 0, out=out, api_key="zpka_test_cli"))
    await ready.wait()
    url = lines[0].rsplit(" ", 1)[1]
    assert lines[1] == "API key: zpka_test_cli"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + "/v1/commerce/stores", headers={"Authorization": "Bearer zpka_test_cli"}) as response,
    ):
        assert response.status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
