"""Non-2xx answers become typed errors carrying the problem+json members."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_core import ORDER_ID, ORDER_URL, STORE_ID, make_client, total_calls

from gett_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GettError,
    GettValidationError,
    IllegalTransitionError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from gett_async.errors import error_class_for

NO_RETRY = RetryPolicy(max_retries=0)
TEMPLATE = "/v1/commerce/orders/{order_id}/status"

STATUS_CLASSES = [
    (400, BadRequestError, "Bad Request"),
    (401, AuthenticationError, "Unauthorized"),
    (403, PermissionDeniedError, "Forbidden"),
    (404, NotFoundError, "Not Found"),
    (409, ConflictError, "Conflict"),
    (422, UnprocessableEntityError, "Unprocessable Entity"),
    (429, RateLimitError, "Too Many Requests"),
    (500, ServerError, "Internal Server Error"),
    (502, ServerError, "Bad Gateway"),
    (503, ServerError, "Service Unavailable"),
    (504, ServerError, "Gateway Timeout"),
    (418, APIError, "HTTP error"),
]


async def raised(mocked: Any, **response: Any) -> APIError:
    mocked.post(ORDER_URL, **response)
    async with make_client(retry=NO_RETRY) as gett:
        with pytest.raises(APIError) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed")
    assert total_calls(mocked) == 1
    return info.value


@pytest.mark.parametrize(("status", "cls", "title"), STATUS_CLASSES)
async def test_status_maps_to_class_with_problem_body(
    mocked: Any, status: int, cls: type[APIError], title: str
) -> None:
    error = await raised(
        mocked,
        status=status,
        content_type="application/problem+json",
        payload={"type": "https://developer.gett-tech.com/errors/X", "title": title, "status": status,
                 "errorCode": "X"},
    )
    assert type(error) is cls
    assert error.status == status
    assert error.error_code == "X"
    assert str(error) == f"POST {TEMPLATE} -> {status} {title} [X]"


@pytest.mark.parametrize(("status", "cls", "title"), STATUS_CLASSES)
async def test_status_maps_to_class_with_empty_body(mocked: Any, status: int, cls: type[APIError], title: str) -> None:
    error = await raised(mocked, status=status, body=b"", content_type="text/plain")
    assert type(error) is cls
    assert (error.error_code, error.detail, error.request_id, error.retryable) == (None, None, None, None)
    assert error.errors == ()
    assert str(error) == f"POST {TEMPLATE} -> {status} {title}"


@pytest.mark.parametrize(
    "body",
    [b"<html><body>502 Bad Gateway</body></html>", b"{not json", b'["a", "list"]', b'"text"', b"null"],
)
async def test_non_problem_bodies_still_give_the_class(mocked: Any, body: bytes) -> None:
    error = await raised(mocked, status=502, body=body, content_type="text/html")
    assert type(error) is ServerError
    assert error.error_code is None and error.detail is None
    assert str(error) == f"POST {TEMPLATE} -> 502 Bad Gateway"


async def test_bare_404_on_a_read(mocked: Any) -> None:
    mocked.get(f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}", status=404, body=b"")
    async with make_client(retry=NO_RETRY) as gett:
        with pytest.raises(NotFoundError) as info:
            await gett.stores.get(STORE_ID)
    assert info.value.method == "GET"
    assert info.value.path == "/v1/commerce/stores/{store_id}"
    assert str(info.value) == "GET /v1/commerce/stores/{store_id} -> 404 Not Found"


async def test_problem_members_become_attributes(mocked: Any) -> None:
    errors = [{"code": "MODIFIER_REQUIRED", "message": "Required modifier group 'Size' has no selection.",
               "itemId": "item_xyz"}]
    error = await raised(
        mocked,
        status=422,
        content_type="application/problem+json",
        payload={
            "type": "https://developer.gett-tech.com/errors/VALIDATION_FAILED",
            "title": "Unprocessable Entity",
            "status": 422,
            "detail": "Validation failed.",
            "instance": "/v1/commerce/orders/x/status",
            "requestId": "req_abc123",
            "timestamp": "2026-03-11T14:30:00.000Z",
            "errorCode": "VALIDATION_FAILED",
            "errorCategory": "validation",
            "retryable": False,
            "errors": [*errors, "not-an-object"],
        },
    )
    assert isinstance(error, UnprocessableEntityError)
    assert error.status == 422
    assert error.error_code == "VALIDATION_FAILED"
    assert error.category == "validation"
    assert error.retryable is False
    assert error.retry_after is None
    assert error.request_id == "req_abc123"
    assert error.detail == "Validation failed."
    assert error.errors == tuple(errors)
    assert error.attempts == 1
    assert (error.method, error.path) == ("POST", TEMPLATE)
    assert str(error) == (
        f"POST {TEMPLATE} -> 422 Unprocessable Entity [VALIDATION_FAILED]: Validation failed. (request_id=req_abc123)"
    )


async def test_rate_limit_problem_carries_retry_after(mocked: Any) -> None:
    error = await raised(
        mocked,
        status=429,
        payload={"title": "Too Many Requests", "status": 429, "errorCode": "RATE_LIMITED",
                 "errorCategory": "rate_limit", "retryable": True, "retryAfter": 60},
    )
    assert isinstance(error, RateLimitError)
    assert (error.retry_after, error.retryable, error.category) == (60.0, True, "rate_limit")


async def test_header_fallbacks_for_request_id_and_retry_after(mocked: Any) -> None:
    error = await raised(
        mocked, status=503, body=b"", headers={"X-Request-Id": "req_from_header", "Retry-After": "7"}
    )
    assert error.request_id == "req_from_header"
    assert error.retry_after == 7.0
    assert str(error).endswith("(request_id=req_from_header)")


async def test_body_request_id_wins_over_header(mocked: Any) -> None:
    error = await raised(mocked, status=500, payload={"requestId": "req_body"}, headers={"X-Request-Id": "req_hdr"})
    assert error.request_id == "req_body"


async def test_ill_typed_members_are_ignored(mocked: Any) -> None:
    error = await raised(
        mocked,
        status=400,
        payload={"title": 5, "errorCode": ["X"], "errorCategory": {}, "retryable": "yes", "retryAfter": -5,
                 "detail": None, "requestId": 12, "errors": "many"},
    )
    assert type(error) is BadRequestError
    assert (error.error_code, error.category, error.retryable, error.retry_after) == (None, None, None, None)
    assert (error.detail, error.request_id, error.errors) == (None, None, ())
    assert str(error) == f"POST {TEMPLATE} -> 400 Bad Request"


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (404, NotFoundError), (429, RateLimitError), (451, APIError), (499, APIError),
     (500, ServerError), (501, ServerError), (599, ServerError)],
)
def test_error_class_for(status: int, cls: type[APIError]) -> None:
    assert error_class_for(status) is cls


def test_hierarchy() -> None:
    for cls in (BadRequestError, AuthenticationError, PermissionDeniedError, NotFoundError, ConflictError,
                UnprocessableEntityError, RateLimitError, ServerError):
        assert issubclass(cls, APIError) and issubclass(cls, GettError)
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, GettError)
    assert issubclass(GettValidationError, ValueError) and issubclass(GettValidationError, GettError)
    assert issubclass(IllegalTransitionError, GettValidationError)


def test_messages_are_human_readable() -> None:
    validation = GettValidationError("cancel_reason", "must not be blank")
    assert str(validation) == "cancel_reason: must not be blank"
    assert (validation.field, validation.reason) == ("cancel_reason", "must not be blank")
    once = ServerError("POST /x -> 503 Service Unavailable", status=503)
    assert str(once) == "POST /x -> 503 Service Unavailable"
    thrice = ServerError("POST /x -> 503 Service Unavailable", status=503, attempts=3)
    assert str(thrice) == "POST /x -> 503 Service Unavailable (after 3 attempts)"
    timeout = APITimeoutError("GET /y timed out (TimeoutError)", attempts=2)
    assert str(timeout) == "GET /y timed out (TimeoutError) (after 2 attempts)"
    assert timeout.retry_after is None
    illegal = IllegalTransitionError("ready", "confirmed", ["inTransit", "completed"], "progress only moves forward")
    assert illegal.field == "status"
    assert str(illegal) == (
        "status: cannot go from ready to confirmed: progress only moves forward; allowed next: inTransit, completed"
    )
