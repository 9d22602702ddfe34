"""One process of the multi-process shared-gate test (tests/test_redis_gate_processes.py).

``interactive``: after one warm-up read, one awaited ETA update at a time on its own order, a pause between calls,
until a line (or the end) arrives on stdin or ``--count`` calls are made; prints each call's
start time. ``batch``: ``--count`` ETA updates over its orders from ``--concurrency`` tasks,
each sent with ``priority="batch"``. Both end by printing the gate's state as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import datetime, timedelta, timezone

from gett_async import GettClient, RetryPolicy
from gett_async._core.updates import Update, parse_update
from gett_async.redis import RedisRateLimitGate

BASE = datetime(2030, 1, 1, tzinfo=timezone.utc)


def update(order_id: str, n: int) -> Update:
    return parse_update(order_id, estimated_ready_at=BASE + timedelta(seconds=n))


async def interactive(gett: GettClient, order_id: str, count: int, think: float) -> list[float]:
    stop = asyncio.ensure_future(asyncio.to_thread(sys.stdin.readline))
    # Warm up (a read: its own budget): the first call opens the HTTP connection and the Redis
    # connection and loads the script; what is measured is the calls after it.
    await gett.stores.list()
    started: list[float] = []
    for n in range(count):
        if stop.done():
            break
        started.append(time.time())
        await gett.orders.send_update(update(order_id, n))
        await asyncio.wait({stop}, timeout=think)  # the pause between a user's calls
    return started


async def batch(gett: GettClient, gate: RedisRateLimitGate, orders: list[str], count: int, concurrency: int) -> int:
    """Send the work; return the most processes the gate saw sharing the key."""
    work = iter(range(count))
    seen = 1

    async def lane() -> None:
        nonlocal seen
        for n in work:
            await gett.orders.send_update(update(orders[n % len(orders)], n), priority="batch")
            seen = max(seen, gate.state("write").processes)

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return seen


async def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("role", "url", "api_key", "redis", "key", "orders"):
        parser.add_argument(f"--{name.replace('_', '-')}", required=True)
    parser.add_argument("--writes", type=int, required=True)
    parser.add_argument("--window", type=float, required=True)
    parser.add_argument("--margin", type=float, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--think", type=float, default=0.0)
    args = parser.parse_args()
    gate = RedisRateLimitGate(
        args.redis, key=args.key, writes=args.writes, window=args.window, margin=args.margin,
        probe_interval=0.2, max_wait=30.0,
    )
    retry = RetryPolicy(max_retries=10, base=0.01, cap=0.2)
    orders = args.orders.split(",")
    started: list[float] = []
    seen = 0
    async with gate, GettClient(api_key=args.api_key, base_url=args.url, gate=gate, retry=retry) as gett:
        if args.role == "interactive":
            started = await interactive(gett, orders[0], args.count, args.think)
        else:
            seen = await batch(gett, gate, orders, args.count, args.concurrency)
    state = gate.state("write")
    print(json.dumps({"started": started, "fallbacks": state.fallbacks, "fallback_active": state.fallback_active,
                      "processes": seen}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
