"""The SDK's own CPU cost per update, without any I/O (microseconds per call).

Three timed pieces, as the issue defines them, and the cost of one update through a tracker:

- ``request_build``: ``status_update_request(paths, id, status="confirmed", estimated_ready_at=eta)``
  (validation + body model + JSON serialisation + the ApiRequest)
- ``tracker_cycle``: ``tracker.prepare("confirmed", estimated_ready_at=eta)`` + ``acknowledge`` on a
  fresh tracker (lifecycle check + one request build + the history entry)
- ``parse_event``: the stream's per-event check of an ``OrderEvent`` with an ETA

``sum`` is ``tracker_cycle`` + ``parse_event`` (``tracker_cycle`` already contains one request build,
so ``request_build`` is shown on its own and not added again).
Three informational figures measure whole code paths with I/O replaced by no-op fakes:
``transport_overhead`` (``Transport.send`` around a fake aiohttp session, minus the fake itself),
``update_status_path`` (``gett.orders.update_status`` end to end on the same fake session) and
``stream_path`` (``gett.orders.stream`` per event, confirm-only events, on a fake transport).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from gett_async import ApiPaths, ApiRequest, GettClient, OrderTracker
from gett_async.orders.stream import OrderEvent, parse_event
from gett_async.resources.orders import status_update_request

from .memory import FakeTransport

ETA = datetime.now(timezone.utc).replace(microsecond=250_000) + timedelta(minutes=25)


def _per_call(loop: Callable[[], float], n: int, repeat: int) -> float:
    """Median over ``repeat`` runs of (seconds for n calls) / n, in µs."""
    return statistics.median(loop() for _ in range(repeat)) / n * 1e6


def bench_request_build(n: int, repeat: int) -> float:
    paths = ApiPaths()
    ids = [str(uuid.uuid4()) for _ in range(n)]

    def loop() -> float:
        started = time.perf_counter()
        for order_id in ids:
            status_update_request(paths, order_id, status="confirmed", estimated_ready_at=ETA)
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


def bench_tracker_cycle(n: int, repeat: int) -> float:
    gett = GettClient(api_key="zpka_cpu_bench", base_url="http://127.0.0.1:9")
    ids = [str(uuid.uuid4()) for _ in range(n)]

    def loop() -> float:
        trackers = [OrderTracker(gett.orders, order_id) for order_id in ids]  # built outside the clock
        started = time.perf_counter()
        for tracker in trackers:
            tracker.prepare("confirmed", estimated_ready_at=ETA)
            tracker.acknowledge("confirmed", ETA, None)
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


def bench_parse_event(n: int, repeat: int) -> float:
    events = [OrderEvent(order_id=str(uuid.uuid4()), status="confirmed", estimated_ready_at=ETA) for _ in range(n)]

    def loop() -> float:
        started = time.perf_counter()
        for event in events:
            parse_event(event)
        return time.perf_counter() - started

    return _per_call(loop, n, repeat)


class _FakeResponse:
    status = 204
    content_length = 0
    headers: dict[str, str] = {}

    async def read(self) -> bytes:
        return b""

    async def wait_for_close(self) -> None:
        return None

    def release(self) -> None:
        return None


async def _answer() -> _FakeResponse:
    return _RESPONSE


_RESPONSE = _FakeResponse()


class FakeSession:
    """Enough of aiohttp.ClientSession for the Transport: every request answers 204 at once."""

    closed = False

    def request(self, *args: Any, **kwargs: Any) -> Any:
        return _answer()


async def _paths_on_fake_session(n: int, repeat: int) -> dict[str, float]:
    session = FakeSession()
    ids = [str(uuid.uuid4()) for _ in range(n)]
    request = ApiRequest("POST", f"/v1/commerce/orders/{ids[0]}/status", "/v1/commerce/orders/{order_id}/status", b"{}")
    async with GettClient(api_key="zpka_cpu_bench", base_url="http://127.0.0.1:9", session=session) as gett:  # type: ignore[arg-type]
        orders, transport = gett.orders, gett._transport
        bare, send, update = [], [], []
        for _ in range(repeat):
            started = time.perf_counter()
            for _order_id in ids:
                response = await session.request("POST", "x", data=b"")
                await response.read()
                await response.wait_for_close()
                response.release()
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            for _order_id in ids:
                await transport.send(request)
            send.append(time.perf_counter() - started)
            started = time.perf_counter()
            for order_id in ids:
                await orders.update_status(order_id, status="confirmed")
            update.append(time.perf_counter() - started)
    fake = statistics.median(bare) / n * 1e6
    return {
        "transport_overhead": statistics.median(send) / n * 1e6 - fake,
        "update_status_path": statistics.median(update) / n * 1e6 - fake,
    }


async def _stream_path(n: int) -> float:
    gett = GettClient(api_key="zpka_cpu_bench", base_url="http://127.0.0.1:9")
    gett.orders._transport = FakeTransport()  # type: ignore[assignment]
    events = [OrderEvent(order_id=str(uuid.uuid4()), status="confirmed") for _ in range(n)]
    started = time.perf_counter()
    async with gett.orders.stream(events, concurrency=64) as stream:
        async for _outcome in stream:
            pass
    return (time.perf_counter() - started) / n * 1e6


def run(n: int, repeat: int) -> dict[str, Any]:
    """All CPU figures in µs per update; ``sum`` is the issue's "SDK CPU cost per update"."""
    parts = {
        "request_build": bench_request_build(n, repeat),
        "tracker_cycle": bench_tracker_cycle(n, repeat),
        "parse_event": bench_parse_event(n, repeat),
    }
    result: dict[str, Any] = {"iterations": n, "repeat": repeat, "us": dict(parts)}
    # One update through a tracker = parse the event + check, build (the request build is
    # inside tracker_cycle) and acknowledge: request_build alone is shown, not added again.
    result["us"]["sum"] = parts["tracker_cycle"] + parts["parse_event"]
    result["us"].update(asyncio.run(_paths_on_fake_session(n, repeat)))
    result["us"]["stream_path"] = statistics.median(asyncio.run(_stream_path(n)) for _ in range(repeat))
    return result
