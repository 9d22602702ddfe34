"""Shared helpers for the SDK core tests (not fixtures: plain functions and classes)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from conftest import API_KEY, ORDER_ID, STORE_ID

from gett_async import ApiRequest, ApiResponse, GettClient, RetryPolicy
from gett_async.testing import MockTransport

__all__ = [
    "API_KEY",
    "BASE",
    "FAST",
    "ORDER_ID",
    "ORDER_URL",
    "STORE_ID",
    "FakeClock",
    "RecordingGate",
    "answering",
    "make_client",
    "only_call",
    "record_sleeps",
    "total_calls",
]

BASE = "https://api.gett-tech.com"
ORDER_URL = f"{BASE}/v1/commerce/orders/{ORDER_ID}/status"

#: Retries with millisecond waits, so a retried test takes no noticeable time.
FAST = RetryPolicy(base=0.001, cap=0.002)


def make_client(**options: Any) -> GettClient:
    """A client with the test key and the fast retry policy (production unless told otherwise)."""
    options.setdefault("retry", FAST)
    if "transport" not in options and "session" not in options:
        options["transport"] = "aiohttp"  # these tests mock the wire with aioresponses
    if "base_url" not in options:
        options.setdefault("environment", "production")
    return GettClient(API_KEY, **options)


def answering(*statuses: int) -> MockTransport:
    """A `MockTransport` answering ``statuses`` in turn, then the last one for ever (204 if none given)."""
    queue = list(statuses or (204,))

    def answer(request: ApiRequest) -> ApiResponse:
        return ApiResponse(queue.pop(0) if len(queue) > 1 else queue[0])

    return MockTransport(answer)


def total_calls(mocked: Any) -> int:
    """How many requests aioresponses saw, over every (method, URL)."""
    return sum(len(calls) for calls in mocked.requests.values())


def only_call(mocked: Any) -> tuple[str, str, Mapping[str, Any]]:
    """The one request aioresponses saw: (method, full URL with query, kwargs)."""
    assert total_calls(mocked) == 1, mocked.requests
    [((method, url), [call])] = mocked.requests.items()
    return method, str(url), call.kwargs


class RecordingGate:
    """A rate-limit gate that never waits and records what the transport tells it."""

    def __init__(self) -> None:
        self.acquired: list[str] = []
        self.priorities: list[str] = []
        self.settled: list[tuple[str, Mapping[str, str] | None, float | None]] = []

    async def acquire(self, kind: str, *, priority: str = "interactive") -> None:
        self.acquired.append(kind)
        self.priorities.append(priority)

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        self.settled.append((kind, None if headers is None else dict(headers), retry_after))


class FakeClock:
    """A wall clock that only moves when the fake ``sleep`` is awaited."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


_real_sleep = asyncio.sleep


def record_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Make every wait of clients made from here on instant (retry backoff, the default gate,
    onboarding polls all go through the public ``GettClient.sleep``) and return the list they
    are recorded in."""
    waits: list[float] = []

    async def sleep(self: GettClient, seconds: float) -> None:
        waits.append(seconds)
        await _real_sleep(0)

    monkeypatch.setattr(GettClient, "sleep", sleep)
    return waits
