"""Models and the one converter: camelCase, omitted unset fields, UTC ``Z`` datetimes, tolerant parsing."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers_core import STORE_ID, make_client
from hypothesis import given, settings
from hypothesis import strategies as st

from gett_async import (
    Address,
    CatalogSetNotification,
    GettError,
    GettValidationError,
    Onboarding,
    OnboardingRequest,
    OnboardingStatus,
    OrderState,
    OrderStatus,
    OrderStatusUpdate,
    PauseReason,
    Problem,
    Store,
    StoreStatus,
    StoreStatusUpdate,
    StoreStatusValue,
    StoreUpdate,
)
from gett_async._core.serde import camel, converter, decode, decode_optional, encode, format_datetime, parse_datetime

UTC = timezone.utc


def test_camel() -> None:
    assert camel("estimated_ready_at") == "estimatedReadyAt"
    assert camel("store_id") == "storeId"
    assert camel("name") == "name"
    assert camel("logo_url") == "logoUrl"


@pytest.mark.parametrize(
    ("model", "wire"),
    [
        (OrderStatusUpdate(status=OrderStatus.CONFIRMED), b'{"status":"confirmed"}'),
        (OrderStatusUpdate(status=OrderStatus.IN_TRANSIT), b'{"status":"inTransit"}'),
        (OrderStatusUpdate(state=OrderState.CANCELLED, cancel_reason="x"), b'{"state":"cancelled","cancelReason":"x"}'),
        (OrderStatusUpdate(), b"{}"),
        (
            OrderStatusUpdate(estimated_ready_at=datetime(2026, 1, 15, 8, 30, tzinfo=timezone(timedelta(hours=-5)))),
            b'{"estimatedReadyAt":"2026-01-15T13:30:00Z"}',
        ),
        (StoreStatusUpdate(StoreStatusValue.ONLINE), b'{"status":"online"}'),
        (
            StoreStatusUpdate(StoreStatusValue.PAUSED, PauseReason.OPERATIONAL_ISSUES),
            b'{"status":"paused","reason":"operational_issues"}',
        ),
        (StoreUpdate(logo_url="https://x.example/l.png"), b'{"logoUrl":"https://x.example/l.png"}'),
        (StoreUpdate(description=""), b'{"description":""}'),
        (CatalogSetNotification("https://x.example/c.json"), b'{"callbackUrl":"https://x.example/c.json"}'),
    ],
)
def test_encode_camel_case_and_omits_unset(model: Any, wire: bytes) -> None:
    assert encode(model) == wire


def test_request_extra_is_merged_but_cannot_override_documented_fields() -> None:
    body = OnboardingRequest("p-1", "Pizza", "https://c.example/c.json", "https://w.example/h",
                             extra={"timezone": "Asia/Jerusalem", "name": "shadow"})
    assert json.loads(encode(body)) == {
        "timezone": "Asia/Jerusalem",
        "partnerStoreId": "p-1",
        "name": "Pizza",
        "catalogCallbackUrl": "https://c.example/c.json",
        "webhookUrl": "https://w.example/h",
    }


@pytest.mark.parametrize(
    "model",
    [
        Store(
            store_id=STORE_ID, name="Pizza", address=Address(city="Haifa", postal_code="31000", extra={"floor": 2}),
            status=StoreStatusValue.PAUSED, logo_url="https://x.example/l.png", extra={"deliveryAllowed": True},
        ),
        Store(status="closed_for_holiday"),
        StoreStatus(
            StoreStatusValue.PAUSED, PauseReason.TOO_BUSY, paused_at=datetime(2026, 1, 13, 12, tzinfo=UTC),
            resume_at=datetime(2026, 1, 13, 14, 30, 0, 250000, tzinfo=UTC), extra={"by": "ops"},
        ),
        Onboarding("onb_1", "p-1", OnboardingStatus.ACTIVE, STORE_ID, None, datetime(2026, 1, 1, tzinfo=UTC)),
        Onboarding(status="awaiting_review", error="x", extra={"queue": [1, 2]}),
    ],
)
def test_response_models_round_trip(model: Any) -> None:
    data = converter.unstructure(model)
    assert all(not key or not re.search(r"_[a-z]", key) for key in data)  # camelCase on the wire
    assert converter.structure(json.loads(json.dumps(data)), type(model)) == model


def test_unstructure_uses_wire_names_and_utc_z() -> None:
    status = StoreStatus(StoreStatusValue.PAUSED, PauseReason.MAINTENANCE,
                         resume_at=datetime(2026, 1, 13, 16, tzinfo=timezone(timedelta(hours=2))))
    assert converter.unstructure(status) == {"status": "paused", "reason": "maintenance",
                                              "resumeAt": "2026-01-13T14:00:00Z"}


def test_unknown_members_and_values_are_kept() -> None:
    store = converter.structure({"storeId": "s", "status": "archived", "newField": {"a": 1}}, Store)
    assert store.status == "archived" and not isinstance(store.status, StoreStatusValue)
    assert store.extra == {"newField": {"a": 1}}
    known = converter.structure({"status": "paused", "reason": "other"}, StoreStatus)
    assert known.status is StoreStatusValue.PAUSED and known.reason is PauseReason.OTHER
    assert known.extra == {}


def test_problem_model_parses_every_member() -> None:
    problem = converter.structure(
        {"type": "t", "title": "Too Many Requests", "status": 429, "detail": "d", "instance": "/i",
         "requestId": "req_1", "timestamp": "2026-03-11T14:30:00.000Z", "errorCode": "RATE_LIMITED",
         "errorCategory": "rate_limit", "retryable": True, "retryAfter": 60, "errors": [{"code": "c"}],
         "traceId": "abc"},
        Problem,
    )
    assert (problem.status, problem.error_code, problem.error_category) == (429, "RATE_LIMITED", "rate_limit")
    assert (problem.retryable, problem.retry_after, problem.request_id) == (True, 60.0, "req_1")
    assert problem.errors == ({"code": "c"},)
    assert problem.extra == {"traceId": "abc"}


# -- datetimes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 15, 13, 30, tzinfo=UTC), "2026-01-15T13:30:00Z"),
        (datetime(2026, 1, 15, 15, 30, tzinfo=timezone(timedelta(hours=2))), "2026-01-15T13:30:00Z"),
        (datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2025-12-31T19:30:00Z"),
        (datetime(2026, 1, 15, 13, 30, 0, 250000, tzinfo=UTC), "2026-01-15T13:30:00.250Z"),
        (datetime(2026, 1, 15, 13, 30, 0, 123999, tzinfo=UTC), "2026-01-15T13:30:00.123Z"),
        (datetime(2026, 1, 15, 13, 30, 0, 999, tzinfo=UTC), "2026-01-15T13:30:00Z"),
    ],
)
def test_format_datetime(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(GettValidationError, match="timezone-aware"):
        format_datetime(datetime(2026, 1, 15, 13, 30))
    with pytest.raises(GettValidationError):
        encode(OrderStatusUpdate(estimated_ready_at=datetime(2026, 1, 15, 13, 30)))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2026-01-15T13:30:00Z", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T13:30:00z", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T13:30:00.000Z", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T13:30:00.250Z", datetime(2026, 1, 15, 13, 30, 0, 250000, tzinfo=UTC)),
        ("2026-01-15T15:30:00+02:00", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T08:30:00-05:00", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T13:30:00+00:00", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
        ("2026-01-15T13:30:00", datetime(2026, 1, 15, 13, 30, tzinfo=UTC)),
    ],
)
def test_parse_datetime(text: str, value: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == value
    assert parsed.tzinfo is not None


def test_parse_datetime_keeps_the_offset() -> None:
    assert parse_datetime("2026-01-15T15:30:00+02:00").utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize("bad", [12, None, "yesterday", "2026-13-01T00:00:00Z"])
def test_parse_datetime_refuses_garbage(bad: Any) -> None:
    with pytest.raises(ValueError):
        parse_datetime(bad)


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_datetime_round_trip(moment: datetime, offset_minutes: int) -> None:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = format_datetime(local)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", text)
    assert ("." in text) == (moment.microsecond >= 1000)
    assert parse_datetime(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# -- unreadable answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>oops</html>", "JSONDecodeError"),
        (b"", "JSONDecodeError"),
        (b"[1, 2]", "expected a JSON object for StoreStatus, got list"),
        (b'{"pausedAt": 5}', "expected an ISO 8601 string, got int"),
        (b'{"pausedAt": "yesterday"}', "yesterday"),
        (b'{"status": 7}', "7 is not a valid StoreStatusValue"),
    ],
)
def test_decode_failures_are_one_readable_gett_error(body: bytes, why: str) -> None:
    with pytest.raises(GettError) as info:
        decode(body, StoreStatus)
    message = str(info.value)
    assert message.startswith("could not parse StoreStatus from the response: ")
    assert why in message
    assert "\n" not in message
    assert info.value.__cause__ is None


def test_decode_optional() -> None:
    assert decode_optional(b"", StoreStatus) is None
    assert decode_optional(b"  \n", StoreStatus) is None
    assert decode_optional(b"not json", StoreStatus) is None
    assert decode_optional(b"[]", StoreStatus) is None
    assert decode_optional(b"null", StoreStatus) is None
    assert decode_optional(b'{"status": "online"}', StoreStatus) == StoreStatus(StoreStatusValue.ONLINE)
    with pytest.raises(GettError, match="could not parse StoreStatus"):
        decode_optional(b'{"resumeAt": []}', StoreStatus)


async def test_malformed_response_body_raises_gett_error(mocked: Any) -> None:
    mocked.get(f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}/status", status=200,
               body=b"<html>maintenance</html>", content_type="text/html")
    async with make_client() as gett:
        with pytest.raises(GettError, match=r"^could not parse StoreStatus from the response: JSONDecodeError"):
            await gett.store_status.get(STORE_ID)


async def test_wrong_shape_response_raises_gett_error(mocked: Any) -> None:
    mocked.get(f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}", payload={"address": "Main St 1"})
    async with make_client() as gett:
        with pytest.raises(GettError, match="expected a JSON object for Address, got str"):
            await gett.stores.get(STORE_ID)


# -- enums -------------------------------------------------------------------------------


def test_enums_print_their_wire_value() -> None:
    assert str(OrderStatus.IN_TRANSIT) == "inTransit"
    assert f"{OrderState.CANCELLED}" == "cancelled"
    assert str(PauseReason.TOO_BUSY) == "too_busy"
    assert str(StoreStatusValue.PAUSED) == "paused"
    assert str(OnboardingStatus.READY_TO_ACTIVATE) == "ready_to_activate"
    assert [s.value for s in OrderStatus] == ["pending", "confirmed", "preparing", "ready", "inTransit"]
    assert [s.value for s in OrderState] == ["open", "completed", "cancelled"]
    assert [s.value for s in PauseReason] == [
        "operational_issues", "staff_shortage", "too_busy", "maintenance", "other"
    ]


def test_onboarding_terminal_states() -> None:
    terminal = {s for s in OnboardingStatus if s.is_terminal}
    assert terminal == {OnboardingStatus.ACTIVE, OnboardingStatus.CATALOG_FAILED}
    assert Onboarding(status=OnboardingStatus.CATALOG_FAILED).is_terminal
    assert not Onboarding(status="active_v2").is_terminal
    assert not Onboarding().is_terminal


def test_models_are_frozen() -> None:
    status = StoreStatus(StoreStatusValue.ONLINE)
    with pytest.raises(AttributeError):
        status.status = StoreStatusValue.PAUSED  # type: ignore[misc]
