"""The SDK's own CPU cost per update, without any I/O (microseconds per call).

Three timed pieces that do not overlap, which together are what the stream spends on one
update outside the sender:

- ``parse_event``: the stream's per-event check of an ``OrderEvent`` with an ETA (order id,
  enum and ETA validation; the `Update` it asks for)
- ``tracker_cycle``: ``tracker.check(update)`` + ``tracker.acknowledge(update)`` on a fresh
  tracker (the lifecycle check and the history entry)
- ``request_build``: ``update_request(paths, update)`` (the body model, JSON serialisation and
  the ``ApiRequest``), from the sans-I/O core

``sum`` is the three added: the issue's "SDK CPU cost per update".

Three informational figures time whole public code paths on a `MockTransport` that answers
204 at once (``GettClient(transport=MockTransport(...))``: everything above the transport is
real):

- ``update_status_path``: ``gett.orders.update_status(order_id, status="confirmed")`` end to
  end, minus the mock's own ``send``
- ``sender_overhead``: what that path adds to parsing and building the request: headers, the
  rate-limit gate, the retry loop, response decoding, logging checks, the hook, the receipt
- ``stream_path``: ``gett.orders.stream`` per event (confirm-only events, concurrency 64), the
  mock included
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from gett_async import ApiPaths, ApiRequest, ApiResponse, GettClient, OrderEvent, OutcomeKind
from gett_async._core.updates import parse_update, update_request  # the core's pure request builder
from gett_async.client import DEFAULT_TIMEOUT
from gett_async.orders.stream import parse_event
from gett_async.testing import MockTransport

ETA = datetime.now(timezone.utc).replace(microsecond=250_000) + timedelta(minutes=25)
API_KEY = "zpka_cpu_bench"
NO_CONTENT = ApiResponse(204)


def _per_call(loop: Callable[[], float], n: int, repeat: int) -> float:
    """Median over ``repeat`` runs of (seconds for n calls) / n, in µs."""
    return statistics.median(loop() for _ in range(repeat)) / n * 1e6


def _answer(request: ApiRequest) -> ApiResponse:
    return NO_CONTENT


def _mock_client() -> tuple[GettClient, MockTransport]:
    transport = MockTransport(_answer)
    return GettClient(API_KEY, environment="production", transport=transport), transport


def bench_parse_event(n: int, repeat: int) -> float:
    events = [OrderEvent(order_id=str(uuid.uuid4()), status="confirmed", estimated_ready_at=ETA) for _ in range(n)]

    def loop() -> float:
        started = time.perf_counter()
        for event in events:
            parse_event(event)
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


def bench_tracker_cycle(n: int, repeat: int) -> float:
    gett, _ = _mock_client()
    ids = [str(uuid.uuid4()) for _ in range(n)]
    updates = [parse_update(order_id, status="confirmed", estimated_ready_at=ETA) for order_id in ids]

    def loop() -> float:
        trackers = [gett.orders.track(order_id) for order_id in ids]  # built outside the clock
        started = time.perf_counter()
        for tracker, update in zip(trackers, updates, strict=True):
            tracker.acknowledge(tracker.check(update))
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


def bench_request_build(n: int, repeat: int) -> float:
    paths = ApiPaths()
    updates = [parse_update(str(uuid.uuid4()), status="confirmed", estimated_ready_at=ETA) for _ in range(n)]

    def loop() -> float:
        started = time.perf_counter()
        for update in updates:
            update_request(paths, update)
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


def bench_parse_and_build(n: int, repeat: int) -> float:
    """What ``update_status`` does before the sender: parse the arguments, build the request."""
    paths = ApiPaths()
    ids = [str(uuid.uuid4()) for _ in range(n)]

    def loop() -> float:
        started = time.perf_counter()
        for order_id in ids:
            update_request(paths, parse_update(order_id, status="confirmed"))
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


async def _paths_on_mock(n: int, repeat: int) -> dict[str, float]:
    """``update_status`` on a MockTransport, minus the mock's own ``send`` (median µs per call)."""
    gett, transport = _mock_client()
    ids = [str(uuid.uuid4()) for _ in range(n)]
    request = update_request(ApiPaths(), parse_update(ids[0], status="confirmed"))
    bare, update = [], []
    async with gett:
        for _ in range(repeat):
            transport.requests.clear()  # the mock records every attempt: start each run empty
            transport.timeouts.clear()
            started = time.perf_counter()
            for _order_id in ids:
                await transport.send(request, timeout=DEFAULT_TIMEOUT)
            bare.append(time.perf_counter() - started)
            transport.requests.clear()
            transport.timeouts.clear()
            started = time.perf_counter()
            for order_id in ids:
                await gett.orders.update_status(order_id, status="confirmed")
            update.append(time.perf_counter() - started)
    mock = statistics.median(bare) / n * 1e6
    return {"update_status_path": statistics.median(update) / n * 1e6 - mock}


async def _stream_path(n: int) -> float:
    gett, _ = _mock_client()
    events = [OrderEvent(order_id=str(uuid.uuid4()), status="confirmed") for _ in range(n)]
    async with gett:
        started = time.perf_counter()
        async with gett.orders.stream(events, concurrency=64) as stream:
            async for outcome in stream:
                if outcome.kind is not OutcomeKind.SENT:
                    raise RuntimeError(f"event not sent: {outcome}")
        return (time.perf_counter() - started) / n * 1e6


def run(n: int, repeat: int) -> dict[str, Any]:
    """All CPU figures in µs per update; ``sum`` is the issue's "SDK CPU cost per update"."""
    parts = {
        "request_build": bench_request_build(n, repeat),
        "tracker_cycle": bench_tracker_cycle(n, repeat),
        "parse_event": bench_parse_event(n, repeat),
    }
    result: dict[str, Any] = {"iterations": n, "repeat": repeat, "us": dict(parts)}
    result["us"]["sum"] = sum(parts.values())
    paths = asyncio.run(_paths_on_mock(n, repeat))
    result["us"]["update_status_path"] = paths["update_status_path"]
    result["us"]["sender_overhead"] = paths["update_status_path"] - bench_parse_and_build(n, repeat)
    result["us"]["stream_path"] = statistics.median(asyncio.run(_stream_path(n)) for _ in range(repeat))
    return result
