"""Peak RSS while streaming many events through ``gett.orders.stream`` (memory must stay flat).

Each size runs in a fresh interpreter (``python -m benchmarks.memory --events N`` prints one
JSON line), so peaks do not mix. The transport is a fake that answers 204 at once, the
events are full lifecycles (confirmed -> ready -> completed per order) of a few orders at a
time, interleaved, and the consumer keeps only counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gett_async import ApiResponse, GettClient
from gett_async.orders.stream import OrderEvent

LIFECYCLE = ("confirmed", "ready", "completed")
INTERLEAVE = 8  # orders in flight together in the input


class FakeTransport:
    """Answers every request with 204 at once."""

    async def send(self, request: object, timeout: object = None) -> ApiResponse:
        return ApiResponse(204, {}, b"")


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
    gett = GettClient(api_key="zpka_memory_bench", base_url="http://127.0.0.1:9")
    gett.orders._transport = FakeTransport()  # type: ignore[assignment]
    counts: Counter[str] = Counter()
    before = _rss_mb()
    started = time.perf_counter()
    async with gett.orders.stream(lifecycles(events), concurrency=concurrency) as stream:
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
    }


def measure(events: int, concurrency: int = 64) -> dict[str, Any]:
    """Run one size in a fresh interpreter and return its JSON.

    On Linux a child's ru_maxrss starts at its parent's RSS (fork copies the high-water mark and
    exec keeps it), so the interpreter is started by a small ``sh`` that forks it: its peak is then
    its own, not the benchmark runner's.
    """
    command = [sys.executable, "-m", "benchmarks.memory", "--events", str(events), "--concurrency", str(concurrency)]
    if Path("/bin/sh").exists():
        command = ["/bin/sh", "-c", '"$@"; exit $?', "sh", *command]
    done = subprocess.run(
        command, cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(small: int, large: int) -> dict[str, Any]:
    first, second = measure(small), measure(large)
    return {"runs": [first, second], "growth_mb": second["peak_rss_mb"] - first["peak_rss_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_stream(args.events, args.concurrency))))


if __name__ == "__main__":
    main()
