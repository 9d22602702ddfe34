"""The four contenders, each sending N order-status POSTs at a given concurrency.

- ``aiohttp``: hand-written aiohttp POSTs, one shared ClientSession (the baseline), each with
  the SDK's default timeout (``Timeout(total=30, connect=5)``) so both arm the same timers
- ``update_status``: ``gett.orders.update_status`` with default settings (retries, gate)
- ``stream``: ``gett.orders.stream`` with trackers, one event per order
- ``httpx``: hand-written httpx.AsyncClient POSTs
- ``aiohttp_eta`` / ``update_status_eta``: the same two with an ETA in every body (the baseline
  formats the datetime per request, the SDK takes the datetime), so a cached constant body
  cannot flatter the SDK
- ``sdk_on_aiohttp_eta``: ``update_status_eta`` through ``transport="aiohttp"``, for reference:
  the SDK's own layers on the baseline's transport (the default `Http1Transport` is where the
  SDK's speed comes from, and this shows what it would be without it)

aiohttp, update_status and httpx run ``concurrency`` worker coroutines that each send
sequentially; the stream is given ``concurrency=`` itself. Each run opens its own client,
warms its connection pool up, then times N requests (ids generated before the clock starts).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timezone
from typing import Any, Literal

import aiohttp
import attrs
import httpx

from gett_async import GettClient, OrderEvent, OutcomeKind
from gett_async.client import DEFAULT_TIMEOUT

API_KEY = "zpka_benchmark_0123456789abcdef"
PATH = "/v1/commerce/orders/{}/status"
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
BODY = {"status": "confirmed"}
NAMES = ("aiohttp", "update_status", "stream", "httpx", "aiohttp_eta", "update_status_eta", "sdk_on_aiohttp_eta")
#: The ETA every ``*_eta`` request carries (formatted per request by both sides).
ETA = datetime(2026, 1, 15, 13, 30, 15, 250000, tzinfo=timezone.utc)
#: What the SDK's transport gives aiohttp for each attempt by default. The baseline passes the
#: same per request, so neither side is faster for skipping a deadline the other keeps.
TIMEOUT = aiohttp.ClientTimeout(
    total=DEFAULT_TIMEOUT.total, sock_connect=DEFAULT_TIMEOUT.connect, sock_read=DEFAULT_TIMEOUT.read
)


@attrs.frozen
class Run:
    requests: int
    seconds: float
    latencies: list[float]  # seconds, one per request
    cpu_seconds: float  # this process's CPU time over the run (other processes' load does not count)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def new_ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


async def _workers(concurrency: int, ids: list[str], one: Callable[[str], Awaitable[object]]) -> Run:
    latencies = [0.0] * len(ids)
    jobs = iter(enumerate(ids))  # shared: each worker takes the next id when it is free

    async def worker() -> None:
        clock = time.perf_counter
        for i, order_id in jobs:
            started = clock()
            await one(order_id)
            latencies[i] = clock() - started

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(len(ids), time.perf_counter() - started, latencies, time.process_time() - cpu)


async def _timed(concurrency: int, n: int, one: Callable[[str], Awaitable[object]]) -> Run:
    await _workers(concurrency, new_ids(max(2 * concurrency, 50)), one)  # warm-up: fill the pool
    return await _workers(concurrency, new_ids(n), one)


def _eta_body() -> dict[str, str]:
    # What a hand-written client does: the wire form of a UTC datetime, milliseconds, Z.
    return {"status": "confirmed", "estimatedReadyAt": ETA.isoformat(timespec="milliseconds")[:-6] + "Z"}


async def run_aiohttp(url: str, concurrency: int, n: int, *, eta: bool = False) -> Run:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector, headers=HEADERS) as session:

        async def one(order_id: str) -> None:
            body = _eta_body() if eta else BODY
            async with session.post(url + PATH.format(order_id), json=body, timeout=TIMEOUT) as response:
                await response.read()
                if response.status >= 300:
                    raise RuntimeError(f"HTTP {response.status}")

        return await _timed(concurrency, n, one)


async def run_update_status(url: str, concurrency: int, n: int, *, eta: bool = False, on_aiohttp: bool = False) -> Run:
    transport: Literal["aiohttp"] | None = "aiohttp" if on_aiohttp else None
    async with GettClient(api_key=API_KEY, base_url=url, max_connections=concurrency, transport=transport) as gett:

        async def one(order_id: str) -> None:
            await gett.orders.update_status(order_id, status="confirmed", estimated_ready_at=ETA if eta else None)

        return await _timed(concurrency, n, one)


async def run_stream(url: str, concurrency: int, n: int) -> Run:
    async with GettClient(api_key=API_KEY, base_url=url, max_connections=concurrency) as gett:

        async def stream(events: list[OrderEvent]) -> Run:
            latencies = []
            cpu, started = time.process_time(), time.perf_counter()
            async with gett.orders.stream(events, concurrency=concurrency) as outcomes:
                async for outcome in outcomes:
                    if outcome.kind is not OutcomeKind.SENT:
                        raise RuntimeError(f"event not sent: {outcome}")
                    latencies.append(outcome.latency)
            return Run(len(events), time.perf_counter() - started, latencies, time.process_time() - cpu)

        await stream([OrderEvent(order_id=i, status="confirmed") for i in new_ids(max(2 * concurrency, 50))])
        return await stream([OrderEvent(order_id=i, status="confirmed") for i in new_ids(n)])


async def run_httpx(url: str, concurrency: int, n: int) -> Run:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # httpx has no total deadline: 30 s for each phase and 5 s to connect is the nearest match.
    timeout = httpx.Timeout(DEFAULT_TIMEOUT.total, connect=DEFAULT_TIMEOUT.connect)
    async with httpx.AsyncClient(headers=HEADERS, limits=limits, timeout=timeout) as client:

        async def one(order_id: str) -> None:
            response = await client.post(url + PATH.format(order_id), json=BODY)
            if response.status_code >= 300:
                raise RuntimeError(f"HTTP {response.status_code}")

        return await _timed(concurrency, n, one)


RUNNERS: dict[str, Callable[[str, int, int], Coroutine[Any, Any, Run]]] = {
    "aiohttp": run_aiohttp,
    "update_status": run_update_status,
    "stream": run_stream,
    "httpx": run_httpx,
    "aiohttp_eta": functools.partial(run_aiohttp, eta=True),
    "update_status_eta": functools.partial(run_update_status, eta=True),
    "sdk_on_aiohttp_eta": functools.partial(run_update_status, eta=True, on_aiohttp=True),
}


#: The event loop every cell runs on: "asyncio" (the default loop) or "uvloop" (``--loop uvloop``).
LOOP = "asyncio"


def run_cell(name: str, url: str, concurrency: int, n: int) -> Run:
    """One contender at one concurrency, in a fresh event loop."""
    run: Callable[[Coroutine[Any, Any, Run]], Run] = asyncio.run
    if LOOP == "uvloop":
        run = importlib.import_module("uvloop").run
    return run(RUNNERS[name](url, concurrency, n))
