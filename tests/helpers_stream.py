"""Helpers for the tracker and stream tests: a recording mock server, transports made with
`MockTransport`, and an independent re-simulation of the lifecycle (plain functions and
classes, no fixtures)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import attrs
from aioresponses import CallbackResult
from conftest import API_KEY

from gett_async import ApiRequest, ApiResponse, GettClient, GettValidationError, RetryPolicy, lifecycle
from gett_async.orders.stream import parse_event
from gett_async.testing import MockTransport

BASE = "https://api.gett-tech.com"
STATUS_URL = re.compile(r"^https://api\.gett-tech\.com/v1/commerce/orders/([^/?]+)/status$")
NO_RETRY = RetryPolicy(max_retries=0)


def status_url(order_id: str) -> str:
    return f"{BASE}/v1/commerce/orders/{order_id}/status"


def oid(n: int) -> str:
    """A valid, readable order id: ``00000000-0000-0000-0000-00000000000n``."""
    return str(uuid.UUID(int=n))


def make_client(**options: Any) -> GettClient:
    options.setdefault("retry", NO_RETRY)
    if "transport" not in options and "session" not in options:
        options["transport"] = "aiohttp"  # these tests mock the wire with aioresponses
    return GettClient(API_KEY, **options)


def iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@attrs.define
class Seen:
    order_id: str
    body: dict[str, Any]
    attempt: int  # 1 for the first request of this (order, body), 2 for its retry, ...


Answer = Callable[[Seen], int]


class Server:
    """An aioresponses callback for the order-status endpoint.

    Records each request as it starts (order id, JSON body) in arrival order, tracks how
    many are in flight, and answers with ``answer(seen)`` (default 204) after ``delay()``
    seconds of simulated latency. ``hold``, when given, is awaited by every request before
    answering; ``started`` is set each time a request arrives.
    """

    def __init__(
        self,
        *,
        answer: Answer | None = None,
        delay: Callable[[], float] | None = None,
        hold: Callable[[Seen], Awaitable[None] | None] | None = None,
    ) -> None:
        self.answer = answer or (lambda seen: 204)
        self.delay = delay
        self.hold = hold
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.started = asyncio.Event()
        self.attempts: dict[tuple[str, str], int] = {}  # (order id, body) -> requests seen

    def install(self, mocked: Any) -> Server:
        mocked.post(STATUS_URL, callback=self.callback, repeat=True)
        return self

    async def callback(self, url: Any, **kwargs: Any) -> CallbackResult:
        match = STATUS_URL.match(str(url))
        assert match, url
        data = kwargs.get("data")
        body = json.loads(data) if data else {}
        key = (match[1], json.dumps(body, sort_keys=True))
        self.attempts[key] = self.attempts.get(key, 0) + 1
        seen = Seen(match[1], body, self.attempts[key])
        self.seen.append(seen)
        self.started.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                waiting = self.hold(seen)
                if waiting is not None:
                    await waiting
            if self.delay is not None:
                await asyncio.sleep(self.delay())  # simulated server latency, not synchronisation
        finally:
            self.in_flight -= 1
        status = self.answer(seen)
        return CallbackResult(status=status, body=b"" if status < 300 else b'{"title": "nope"}')

    @property
    def count(self) -> int:
        return len(self.seen)

    def bodies(self, order_id: str | None = None) -> list[dict[str, Any]]:
        return [s.body for s in self.seen if order_id is None or s.order_id == order_id]

    def by_order(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for s in self.seen:
            out.setdefault(s.order_id, []).append(s.body)
        return out


def latency(seed: int, most: float = 0.002) -> Callable[[], float]:
    rng = random.Random(seed)
    return lambda: rng.uniform(0.0, most)


def accepting_client(**options: Any) -> tuple[GettClient, MockTransport]:
    """A client whose transport answers every request 204 at once, and that transport."""
    transport = MockTransport(lambda request: ApiResponse(204, {}, b""))
    return make_client(transport=transport, **options), transport


class Held:
    """A `MockTransport` handler: every request waits until the test answers it (`answer`)."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[None]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, request: ApiRequest) -> ApiResponse:
        answer = asyncio.get_running_loop().create_future()
        self.waiting.append(answer)
        self.arrived.set()
        await answer
        return ApiResponse(204, {}, b"")

    def answer(self, n: int = 0) -> None:
        self.waiting[n].set_result(None)


def held_client() -> tuple[GettClient, MockTransport, Held]:
    """A client whose requests wait for the test to answer them."""
    held = Held()
    transport = MockTransport(held)
    return make_client(transport=transport), transport, held


# -- an independent re-simulation of the lifecycle ------------------------------------------


@attrs.define
class SimOrder:
    """What a tracker should hold: the acknowledged position and ETA."""

    position: str = "pending"
    eta: datetime | None = None

    def try_move(
        self, target: str | None, eta: datetime | None, reason: str | None, *, strict: bool
    ) -> dict[str, Any] | None:
        """Apply a move if lifecycle.check allows it and return its expected body, else None."""
        target = self.position if target is None else target
        try:
            lifecycle.check(self.position, target, strict=strict, eta_changed=eta is not None and eta != self.eta)
        except GettValidationError:
            return None
        self.position = target
        if lifecycle.is_closed(target):
            return {"state": target, **({"cancelReason": reason} if reason is not None else {})}
        if eta is not None:
            self.eta = eta
        return {"status": target, **({"estimatedReadyAt": eta} if eta is not None else {})}

    def apply_body(self, body: dict[str, Any], *, strict: bool) -> None:
        """Check that a body the server saw is a legal move from here, and apply it."""
        if "state" in body:
            assert set(body) <= {"state", "cancelReason"}, body
            target, eta, reason = body["state"], None, body.get("cancelReason")
        else:
            assert set(body) <= {"status", "estimatedReadyAt"}, body
            target, reason = body["status"], None
            eta = iso(body["estimatedReadyAt"]) if "estimatedReadyAt" in body else None
        if target == "cancelled":
            assert isinstance(reason, str) and reason.strip(), body  # a cancel always names a reason
        lifecycle.check(  # raises if the stream sent an illegal move
            self.position, target, strict=strict, eta_changed=eta is not None and eta != self.eta
        )
        self.position = target
        if eta is not None:
            self.eta = eta


def parsed(event: object) -> tuple[str, str | None, datetime | None, str | None] | None:
    """(order id, target, ETA, reason) of a well-formed event, else None."""
    try:
        update = parse_event(event)
    except GettValidationError:
        return None
    return update.order_id, update.target, update.estimated_ready_at, update.cancel_reason


def same_body(seen: dict[str, Any], expected: dict[str, Any]) -> bool:
    """``expected`` holds datetimes where ``seen`` holds their wire strings."""
    if set(seen) != set(expected):
        return False
    return all(
        iso(seen[key]) == value if isinstance(value, datetime) else seen[key] == value
        for key, value in expected.items()
    )
