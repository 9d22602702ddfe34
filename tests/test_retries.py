"""The retry policy end to end: what is retried, how long it waits, when it stops.

The retry loop's sleeps are recorded instead of slept (see `record_sleeps`), so the
waits the SDK computes are asserted exactly and no test waits for real.
"""

from __future__ import annotations

import asyncio
import email.utils
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import backoff
import pytest
from helpers_core import (
    FAST,
    ORDER_ID,
    ORDER_URL,
    STORE_ID,
    RecordingGate,
    make_client,
    record_sleeps,
    total_calls,
)

from gett_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryBudget,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from gett_async._core.problem import parse_retry_after
from gett_async._core.retry import TokenBucket, is_retryable, next_wait

STATUS_URL = f"https://api.gett-tech.com/v1/commerce/stores/{STORE_ID}/status"


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    return record_sleeps(monkeypatch)


def problem(status: int, **members: Any) -> dict[str, Any]:
    return {"type": "https://developer.gett-tech.com/errors/X", "title": "T", "status": status, **members}


# -- server-asked waits ------------------------------------------------------------------


async def test_429_with_body_retry_after_then_success(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=429, payload=problem(429, errorCode="RATE_LIMITED", retryable=True, retryAfter=1))
    mocked.post(ORDER_URL, status=204)
    gate = RecordingGate()
    async with make_client(gate=gate) as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert receipt.attempts == 2
    assert waits == [1.0]
    assert total_calls(mocked) == 2
    # The gate hears about the server's wait too, so other requests of the class hold back.
    assert [retry_after for _, _, retry_after in gate.settled] == [1.0, None]


async def test_retry_after_header_in_seconds(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, headers={"Retry-After": "1"})
    mocked.post(ORDER_URL, status=204)
    async with make_client(gate=RecordingGate()) as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert receipt.attempts == 2
    assert waits == [1.0]


async def test_retry_after_header_as_http_date(mocked: Any, waits: list[float]) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    mocked.post(ORDER_URL, status=503, headers={"Retry-After": email.utils.format_datetime(when, usegmt=True)})
    mocked.post(ORDER_URL, status=204)
    async with make_client(gate=RecordingGate()) as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert receipt.attempts == 2
    [wait] = waits
    # Far above the policy's 2 ms cap: the wait came from the date, which is at most 30 s away.
    assert FAST.cap < wait <= 30.0


async def test_retry_after_http_date_in_the_past_retries_at_once(mocked: Any, waits: list[float]) -> None:
    past = email.utils.format_datetime(datetime(2020, 1, 1, tzinfo=timezone.utc), usegmt=True)
    mocked.post(ORDER_URL, status=429, headers={"Retry-After": past})
    mocked.post(ORDER_URL, status=204)
    async with make_client(gate=RecordingGate()) as gett:
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2
    assert waits == [0.0]


async def test_body_retry_after_wins_over_the_header(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, payload=problem(503, retryAfter=2), headers={"Retry-After": "5"})
    mocked.post(ORDER_URL, status=204)
    async with make_client(gate=RecordingGate()) as gett:
        await gett.orders.complete(ORDER_ID)
    assert waits == [2.0]


def test_parse_retry_after() -> None:
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    at = datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc).timestamp()
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 3.5 ") == 3.5
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(date, now=at - 90) == 90.0
    assert parse_retry_after(date, now=at + 90) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 -0000", now=at - 5) == 5.0
    assert parse_retry_after(email.utils.format_datetime(datetime.fromtimestamp(at, timezone.utc)), now=at) == 0.0
    for unreadable in (None, "", "-1", "soon", "Someday, 99 Foo 20xx"):
        assert parse_retry_after(unreadable) is None


async def test_server_wait_above_max_retry_wait_fails_fast(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=429, payload=problem(429, errorCode="RATE_LIMITED", retryAfter=60), repeat=True)
    async with make_client(retry=RetryPolicy(base=0.001, cap=0.002, max_retry_wait=30), gate=RecordingGate()) as gett:
        with pytest.raises(RateLimitError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.retry_after == 60.0
    assert info.value.attempts == 1
    assert total_calls(mocked) == 1
    assert waits == []


async def test_retry_after_header_above_default_max_wait_fails_fast(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, headers={"Retry-After": "3600"}, repeat=True)
    async with make_client(gate=RecordingGate()) as gett:
        with pytest.raises(ServerError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.retry_after == 3600.0
    assert total_calls(mocked) == 1


# -- what is retried ---------------------------------------------------------------------


async def test_503_then_success(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, payload=problem(503, errorCode="SERVICE_UNAVAILABLE", retryable=True))
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert receipt.attempts == 2
    assert total_calls(mocked) == 2
    [wait] = waits
    assert 0.0 <= wait <= FAST.base  # first backoff step: full jitter over [0, base]


async def test_reads_are_retried_too(mocked: Any, waits: list[float]) -> None:
    mocked.get(STATUS_URL, status=500)
    mocked.get(STATUS_URL, payload={"status": "online"})
    async with make_client() as gett:
        status = await gett.store_status.get(STORE_ID)
    assert status.status == "online"
    assert total_calls(mocked) == 2


@pytest.mark.parametrize(
    ("status", "cls", "body"),
    [
        (500, ServerError, {}),
        (502, ServerError, {}),
        (503, ServerError, {"payload": problem(503, retryable=True)}),
        (504, ServerError, {"body": b""}),
        (429, RateLimitError, {"payload": problem(429, retryAfter=0)}),
        (429, RateLimitError, {}),
    ],
)
@pytest.mark.parametrize("max_retries", [3, 1])
async def test_retries_exhausted_raise_the_status_class(
    mocked: Any, waits: list[float], status: int, cls: type[APIError], body: dict[str, Any], max_retries: int
) -> None:
    mocked.post(ORDER_URL, status=status, repeat=True, **body)
    policy = RetryPolicy(max_retries=max_retries, base=0.001, cap=0.002)
    async with make_client(retry=policy, gate=RecordingGate()) as gett:
        with pytest.raises(cls) as info:
            await gett.orders.complete(ORDER_ID)
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.attempts == max_retries + 1
    assert str(info.value).endswith(f"(after {max_retries + 1} attempts)")
    assert total_calls(mocked) == max_retries + 1
    assert len(waits) == max_retries


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (418, APIError),
    ],
)
@pytest.mark.parametrize("retryable", [None, True], ids=["plain", "body-says-retryable"])
async def test_client_errors_are_not_retried(
    mocked: Any, waits: list[float], status: int, cls: type[APIError], retryable: bool | None
) -> None:
    members = {} if retryable is None else {"retryable": retryable, "retryAfter": 1}
    mocked.post(ORDER_URL, status=status, payload=problem(status, **members), repeat=True)
    async with make_client() as gett:
        with pytest.raises(cls) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 1
    assert total_calls(mocked) == 1
    assert waits == []


async def test_retryable_false_on_503_is_not_retried(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, payload=problem(503, retryable=False), repeat=True)
    async with make_client() as gett:
        with pytest.raises(ServerError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.retryable is False
    assert total_calls(mocked) == 1


async def test_other_5xx_retried_only_when_the_body_says_so(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=501, repeat=True)
    async with make_client() as gett:
        with pytest.raises(ServerError):
            await gett.orders.complete(ORDER_ID)
    assert total_calls(mocked) == 1
    mocked.requests.clear()
    mocked.clear()
    mocked.post(ORDER_URL, status=507, payload=problem(507, retryable=True))
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2


async def test_connection_errors_are_retried_then_raised(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, exception=aiohttp.ClientConnectionError("connection reset"), repeat=True)
    async with make_client() as gett:
        with pytest.raises(APIConnectionError) as info:
            await gett.orders.complete(ORDER_ID)
    assert type(info.value) is APIConnectionError
    assert info.value.attempts == 4
    assert "connection reset" in str(info.value)
    assert total_calls(mocked) == 4


async def test_connection_error_then_success(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, exception=aiohttp.ServerDisconnectedError())
    mocked.post(ORDER_URL, status=204)
    async with make_client() as gett:
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2


@pytest.mark.parametrize("exc", [asyncio.TimeoutError(), aiohttp.ServerTimeoutError("read timeout")])
async def test_timeouts_are_retried_then_raised(mocked: Any, waits: list[float], exc: Exception) -> None:
    mocked.post(ORDER_URL, exception=exc, repeat=True)
    async with make_client() as gett:
        with pytest.raises(APITimeoutError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 4
    assert "timed out" in str(info.value)
    assert total_calls(mocked) == 4


async def test_max_retries_zero_disables_retries(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, exception=asyncio.TimeoutError(), repeat=True)
    async with make_client(retry=RetryPolicy(max_retries=0)) as gett:
        with pytest.raises(APITimeoutError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 1
    assert total_calls(mocked) == 1


# -- the retry budget --------------------------------------------------------------------


async def test_retry_budget_stops_retrying_when_empty(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, repeat=True)
    policy = RetryPolicy(max_retries=5, base=0.001, cap=0.002, budget=RetryBudget(capacity=2))
    async with make_client(retry=policy) as gett:
        with pytest.raises(ServerError) as first:
            await gett.orders.complete(ORDER_ID)
        assert first.value.attempts == 3  # two retries spent the two tokens
        assert total_calls(mocked) == 3
        with pytest.raises(ServerError) as second:
            await gett.orders.complete(ORDER_ID)
        assert second.value.attempts == 1  # empty bucket: no retry at all
    assert total_calls(mocked) == 4


async def test_retry_budget_refills_on_success(mocked: Any, waits: list[float]) -> None:
    policy = RetryPolicy(max_retries=5, base=0.001, cap=0.002, budget=RetryBudget(capacity=1))
    mocked.post(ORDER_URL, status=503)
    mocked.post(ORDER_URL, status=204)  # the retry spends the only token; this success earns it back
    mocked.post(ORDER_URL, status=503)
    mocked.post(ORDER_URL, status=204)
    async with make_client(retry=policy) as gett:
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2


async def test_timeouts_cost_more_of_the_budget(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, exception=asyncio.TimeoutError(), repeat=True)
    policy = RetryPolicy(max_retries=5, base=0.001, cap=0.002, budget=RetryBudget(capacity=2, timeout_cost=2))
    async with make_client(retry=policy) as gett:
        with pytest.raises(APITimeoutError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 2


async def test_an_exhausted_call_spends_only_its_retries(mocked: Any, waits: list[float]) -> None:
    """The final failure of a call that ran out of retries is not a retry: it costs no token."""
    policy = RetryPolicy(max_retries=1, base=0.001, cap=0.002, budget=RetryBudget(capacity=2))
    mocked.post(ORDER_URL, status=503)
    mocked.post(ORDER_URL, status=503)
    mocked.post(ORDER_URL, status=503)
    mocked.post(ORDER_URL, status=204)
    async with make_client(retry=policy) as gett:
        with pytest.raises(ServerError) as info:
            await gett.orders.complete(ORDER_ID)
        assert info.value.attempts == 2  # one retry: one token spent, one left
        assert (await gett.orders.complete(ORDER_ID)).attempts == 2


async def test_no_budget_retries_up_to_max(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=502, repeat=True)
    policy = RetryPolicy(max_retries=6, base=0.001, cap=0.002, budget=None)
    async with make_client(retry=policy) as gett:
        with pytest.raises(ServerError) as info:
            await gett.orders.complete(ORDER_ID)
    assert info.value.attempts == 7


# -- the wait schedule and the retry decision, unit level --------------------------------


def _waits(policy: RetryPolicy, failures: list[Any], *, jitter: Any = lambda value: value) -> list[float | None]:
    """The waits `next_wait` gives for ``failures`` in a row (no budget, retries without end)."""
    return [next_wait(policy, failure, done, 100, None, jitter) for done, failure in enumerate(failures)]


def test_wait_schedule_is_exponential_and_capped() -> None:
    failure = ServerError("x", status=503)
    assert _waits(RetryPolicy(), [failure] * 7) == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # top of each range


def test_wait_schedule_jitters_within_the_step() -> None:
    steps = _waits(RetryPolicy(base=0.5, cap=3.0), [APIConnectionError("x")] * 6, jitter=backoff.full_jitter)
    for step, wait in zip([0.5, 1.0, 2.0, 3.0, 3.0, 3.0], steps, strict=True):
        assert wait is not None and 0.0 <= wait <= step


def test_wait_schedule_honours_the_server_wait_exactly() -> None:
    failures = [RateLimitError("x", status=429, retry_after=45.0), ServerError("x", status=503, retry_after=0.0)]
    assert _waits(RetryPolicy(cap=1.0), failures) == [45.0, 0.0]


def test_the_retry_decision_gives_up_where_the_policy_says() -> None:
    policy = RetryPolicy(max_retry_wait=60.0)
    assert next_wait(policy, ServerError("x", status=503), 3, 3, None, lambda v: v) is None  # out of retries
    assert next_wait(policy, RateLimitError("x", status=429, retry_after=61.0), 0, 3, None, lambda v: v) is None
    assert next_wait(policy, BadRequestError("x", status=400), 0, 3, None, lambda v: v) is None
    budget = TokenBucket(RetryBudget(capacity=1.0, cost=1.0))
    assert next_wait(policy, ServerError("x", status=503), 0, 3, budget, lambda v: v) == 1.0
    assert next_wait(policy, ServerError("x", status=503), 1, 3, budget, lambda v: v) is None  # budget spent


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (APIConnectionError("x"), True),
        (APITimeoutError("x"), True),
        (RateLimitError("x", status=429), True),
        (RateLimitError("x", status=429, retryable=False), False),
        (ServerError("x", status=500), True),
        (ServerError("x", status=503, retryable=False), False),
        (ServerError("x", status=501), False),
        (ServerError("x", status=501, retryable=True), True),
        (BadRequestError("x", status=400, retryable=True), False),
        (NotFoundError("x", status=404), False),
        (APIError("x", status=418), False),
        (ValueError("x"), False),
    ],
)
def test_is_retryable(error: BaseException, retried: bool) -> None:
    assert is_retryable(error) is retried


async def test_gate_is_acquired_and_settled_once_per_attempt(mocked: Any, waits: list[float]) -> None:
    mocked.post(ORDER_URL, status=503, headers={"X-RateLimit-Remaining": "5"})
    mocked.post(ORDER_URL, exception=aiohttp.ClientConnectionError())
    mocked.post(ORDER_URL, status=204, headers={"X-RateLimit-Remaining": "3"})
    mocked.get(STATUS_URL, payload={"status": "online"})
    gate = RecordingGate()
    async with make_client(gate=gate) as gett:
        await gett.orders.complete(ORDER_ID)
        await gett.store_status.get(STORE_ID)
    assert gate.acquired == ["write", "write", "write", "read"]
    assert [kind for kind, _, _ in gate.settled] == gate.acquired
    remaining = [None if h is None else h.get("X-RateLimit-Remaining") for _, h, _ in gate.settled]
    assert remaining == ["5", None, "3", None]
