"""Memory of ``gett.orders.stream``: flat in the number of events, growing with open orders only.

Two measurements, each in a fresh interpreter (``python -m benchmarks.memory ...`` prints one
JSON line), so they do not mix:

- ``--events N``: peak RSS while streaming N events. The transport is a fake that answers
  204 at once, the events are full lifecycles (confirmed -> ready -> completed per order) of
  a few orders at a time, interleaved, and the consumer keeps only counts. Closed orders'
  trackers are released and only ``closed_memory`` ids stay; ``open_orders_left`` counts the
  orders still open at the end (those of a last, incomplete block).
- ``--open-orders K``: K orders each confirmed once, so all stay open and idle (parked).
  Reported: traced bytes and garbage-collector-tracked objects per open order, next to what
  one `OrderTracker` per order would cost (why the book parks plain values, not trackers).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from gett_async import ApiResponse, GettClient, OrderTracker
from gett_async.orders.stream import OrderEvent, OrderStream

LIFECYCLE = ("confirmed", "ready", "completed")
INTERLEAVE = 8  # orders in flight together in the input
CLOSED_MEMORY = 50_000  # the stream's default, named here because the growth depends on it
OPEN_ORDERS = 20_000


class FakeTransport:
    """Answers every request with 204 at once."""

    async def send(self, request: object, timeout: object = None) -> ApiResponse:
        return ApiResponse(204, {}, b"")

    async def aclose(self) -> None:
        pass


def _client() -> GettClient:
    return GettClient(api_key="zpka_memory_bench", transport=FakeTransport(), max_retries=0)


def lifecycles(events: int) -> Iterator[OrderEvent]:
    """``events`` events: blocks of INTERLEAVE orders, each block walking its orders through LIFECYCLE."""
    sent = 0
    while sent < events:
        block = [str(uuid.uuid4()) for _ in range(INTERLEAVE)]
        for step in LIFECYCLE:
            for order_id in block:
                if sent == events:
                    return
                if step == "completed":
                    yield OrderEvent(order_id=order_id, state=step)
                else:
                    yield OrderEvent(order_id=order_id, status=step)
                sent += 1


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _hwm_mb() -> float | None:
    """VmHWM (this process's own peak RSS) from /proc, as a cross-check; None elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


async def _stream(events: int, concurrency: int) -> dict[str, Any]:
    gett = _client()
    counts: Counter[str] = Counter()
    before = _rss_mb()
    started = time.perf_counter()
    async with gett.orders.stream(lifecycles(events), concurrency=concurrency, closed_memory=CLOSED_MEMORY) as stream:
        async for outcome in stream:
            counts[outcome.kind.value] += 1
    seconds = time.perf_counter() - started
    return {
        "events": events,
        "seconds": seconds,
        "events_per_s": events / seconds,
        "rss_before_mb": before,
        "peak_rss_mb": _rss_mb(),
        "vm_hwm_mb": _hwm_mb(),
        "counts": dict(counts),
        "open_orders_left": len(stream.snapshots()),
    }


async def _cost(orders: int, build: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Traced bytes and GC-tracked objects per order of what ``build`` returns, while it is kept."""
    gc.collect()
    objects = len(gc.get_objects())
    tracemalloc.start()
    kept = await build()
    gc.collect()  # CPython stops tracking a tuple of atoms when a collection first sees it, as a long run would
    traced = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tracked = len(gc.get_objects()) - objects
    del kept
    return traced / orders, tracked / orders


async def _open_orders(orders: int) -> dict[str, Any]:
    """Bytes and GC-tracked objects per idle open order: in a stream, and as bare trackers."""
    gett = _client()
    ids = [str(uuid.uuid4()) for _ in range(orders)]
    events = [OrderEvent(order_id=order_id, status="confirmed") for order_id in ids]  # not counted

    async def streamed() -> OrderStream[OrderEvent]:
        stream = gett.orders.stream(events, concurrency=64)
        async with stream:
            async for _ in stream:
                pass
        return stream  # every order open and idle: parked

    async def trackers() -> dict[str, OrderTracker]:
        return {order_id: OrderTracker(gett.orders, order_id, status="confirmed") for order_id in ids}

    await streamed()  # warm-up: first-use allocations are not per order
    stream_bytes, stream_objects = await _cost(orders, streamed)
    tracker_bytes, tracker_objects = await _cost(orders, trackers)
    return {
        "open_orders": orders,
        "stream_bytes_per_open_order": stream_bytes,
        "stream_gc_objects_per_open_order": stream_objects,
        "tracker_bytes_per_order": tracker_bytes,
        "tracker_gc_objects_per_order": tracker_objects,
    }


def measure(events: int, concurrency: int = 64, *, open_orders: bool = False) -> dict[str, Any]:
    """Run one size (of events, or of open orders) in a fresh interpreter and return its JSON.

    On Linux a child's ru_maxrss starts at its parent's RSS (fork copies the high-water mark and
    exec keeps it), so the interpreter is started by a small ``sh`` that forks it: its peak is then
    its own, not the benchmark runner's.
    """
    size = ["--open-orders", str(events)] if open_orders else ["--events", str(events)]
    what = [*size, "--concurrency", str(concurrency)]
    command = [sys.executable, "-m", "benchmarks.memory", *what]
    if Path("/bin/sh").exists():
        command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *command]
    done = subprocess.run(
        command, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(small: int, large: int, open_orders: int = OPEN_ORDERS) -> dict[str, Any]:
    first, second = measure(small), measure(large)
    return {
        "runs": [first, second],
        "growth_mb": second["peak_rss_mb"] - first["peak_rss_mb"],
        "idle_open_orders": measure(open_orders, open_orders=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--events", type=int)
    size.add_argument("--open-orders", type=int)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    if args.open_orders is not None:
        print(json.dumps(asyncio.run(_open_orders(args.open_orders))))
    else:
        print(json.dumps(asyncio.run(_stream(args.events, args.concurrency))))


if __name__ == "__main__":
    main()
