"""RedisRateLimitGate against a real redis-server (the ``redis_server`` fixture): no fakes of
Redis. Sleeps are recorded, not slept, so no test waits for a window to pass; what is
asserted is the shared log (read from Redis as docs/RATELIMITS.md names it) and the waits the
gate asked for."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis_server import RedisServer

from gett_async import GettValidationError, RateLimitError
from gett_async._core.ratelimit import MAX_SERVER_PAUSE
from gett_async._core.sharedlimit import first_free
from gett_async.redis import SCRIPT, RedisRateLimitGate

KEY = "org-1"


class Sleeps:
    """An injected sleep that records each wait and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_server.url)
    yield connection
    await connection.aclose()


async def log_of(client: aioredis.Redis, kind: str = "write", key: str = KEY) -> list[tuple[str, float]]:
    """The shared log: (member, slot time in seconds), by slot time."""
    entries = await client.zrange(f"gett-async:{{{key}}}:{kind}:log", 0, -1, withscores=True)
    return [(member.decode(), score / 1_000_000) for member, score in entries]


def within_limit(times: list[float], limit: int, span: float) -> bool:
    """No window [a, a + span) holds more than ``limit`` of ``times``."""
    times = sorted(times)
    return all(times[i + limit] - times[i] >= span for i in range(len(times) - limit))


async def test_slots_keep_every_rolling_window_within_the_limit_first_come_first_served(
    client: aioredis.Redis,
) -> None:
    sleeps = Sleeps()
    gate = RedisRateLimitGate(client, key=KEY, writes=10, window=1.0, margin=0.0, sleep=sleeps)
    for _ in range(30):
        await gate.acquire("write")
        gate.settle("write", None, None)
    log = await log_of(client)
    assert len(log) == 30
    assert within_limit([t for _, t in log], 10, 1.0)
    # Callers are served in the order they came: slot order is call order.
    assert [int(m.rpartition(":")[2]) for m, _ in log] == list(range(1, 31))
    # The first ten go at once; the other twenty wait for a slot, each asking for one sleep.
    assert len(sleeps.waits) == 20 and all(w > 0 for w in sleeps.waits)
    await gate.aclose()


async def test_concurrent_callers_of_two_gates_share_one_budget(client: aioredis.Redis) -> None:
    gates = [RedisRateLimitGate(client, key=KEY, writes=7, window=1.0, margin=0.0, sleep=Sleeps()) for _ in range(3)]
    await asyncio.gather(*(gates[i % 3].acquire("write") for i in range(40)))
    log = await log_of(client)
    assert len(log) == 40 and within_limit([t for _, t in log], 7, 1.0)
    assert gates[0].state("write").processes == 3


async def test_the_script_finds_the_slot_the_pure_rule_finds(client: aioredis.Redis) -> None:
    """One rule, two places: the Lua script and `first_free` agree on random logs."""
    script = client.register_script(SCRIPT)
    rng = random.Random(7)
    keys = ["t:log", "t:pause", "t:batch", "t:processes"]
    for case in range(150):
        await client.delete(*keys)
        [seconds, micros] = await client.time()
        now = seconds * 1_000_000 + micros
        span, limit = rng.randint(1, 40) * 100_000, rng.randint(1, 6)
        entries = [now + rng.randint(-span, 3 * span) for _ in range(rng.randint(0, 20))]
        if entries:
            await client.zadd("t:log", {f"e{i}": at for i, at in enumerate(entries)})
        reply = await script(keys=keys, args=["acquire", span, limit, limit, 0, -1, "p", f"new{case}"])
        start = int(reply[0])
        alive = sorted(e for e in entries if e > start - span)
        assert int(reply[1]) == first_free(alive, start, limit, span), (case, entries, start, span, limit)


async def test_batch_callers_leave_the_reserve_to_interactive_ones(client: aioredis.Redis) -> None:
    sleeps = Sleeps()
    gate = RedisRateLimitGate(client, key=KEY, writes=10, window=1.0, margin=0.0, reserve=0.2, sleep=sleeps)
    for _ in range(8):
        await gate.acquire("write", priority="batch")
    paced = len(sleeps.waits)
    assert paced == 7  # batch is paced evenly: only the first went at once
    for _ in range(2):
        await gate.acquire("write")  # interactive: into the reserve, no wait
    assert len(sleeps.waits) == paced
    await gate.acquire("write")  # the window is now full for everybody
    await gate.acquire("write", priority="batch")
    assert len(sleeps.waits) == paced + 2
    log = await log_of(client)
    assert within_limit([t for _, t in log], 10, 1.0)
    assert gate.state("write").remaining == 0


async def test_a_429_seen_by_one_process_pauses_every_process(client: aioredis.Redis) -> None:
    one = RedisRateLimitGate(client, key=KEY, sleep=Sleeps())
    other_sleeps = Sleeps()
    other = RedisRateLimitGate(client, key=KEY, sleep=other_sleeps)
    await one.acquire("write")
    one.settle("write", None, 30.0)
    await one.aclose()  # lets the pause reach Redis
    await other.acquire("write")
    assert len(other_sleeps.waits) == 1 and 29.0 < other_sleeps.waits[0] <= 30.0
    await other.acquire("read")  # reads have their own account
    assert len(other_sleeps.waits) == 1
    state = other.state("write")
    assert state.paused_until is not None and state.fallback_active is False


async def test_remaining_zero_pauses_until_the_reset_and_server_pauses_are_capped(client: aioredis.Redis) -> None:
    sleeps = Sleeps()
    gate = RedisRateLimitGate(client, key=KEY, max_wait=None, sleep=sleeps)
    [seconds, _] = await client.time()
    gate.settle("write", {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(seconds + 20)}, None)
    gate.settle("read", None, 3600.0)
    gate.settle("read", {"X-RateLimit-Remaining": "nan", "X-RateLimit-Reset": "inf"}, float("nan"))
    await gate.aclose()
    await gate.acquire("write")
    await gate.acquire("read")
    write_wait, read_wait = sleeps.waits
    assert 18.0 < write_wait <= 21.0
    assert MAX_SERVER_PAUSE - 1 < read_wait <= MAX_SERVER_PAUSE


async def test_a_slot_beyond_max_wait_fails_fast_and_reserves_nothing(client: aioredis.Redis) -> None:
    gate = RedisRateLimitGate(client, key=KEY, writes=2, window=60.0, max_wait=5.0, sleep=Sleeps())
    await gate.acquire("write")
    await gate.acquire("write")
    with pytest.raises(RateLimitError) as caught:
        await gate.acquire("write")
    assert caught.value.retry_after is not None and 55.0 < caught.value.retry_after <= 60.25
    log = await log_of(client)
    assert len(log) == 2


async def test_a_wait_over_a_second_is_logged_at_info(client: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    gate = RedisRateLimitGate(client, key=KEY, writes=1, window=10.0, sleep=Sleeps())
    with caplog.at_level(logging.INFO, logger="gett_async.redis"):
        await gate.acquire("write")
        await gate.acquire("write", priority="batch")
    [record] = [r for r in caplog.records if r.levelno == logging.INFO]
    message = record.getMessage()
    assert message.startswith("waiting 10.")
    assert "write slot" in message and "batch budget: 1 of 1 writes per 10 s" in message and "org-1" in message


async def test_a_cancelled_caller_gives_its_slot_back(client: aioredis.Redis) -> None:
    sleeping, never = asyncio.Event(), asyncio.Event()

    async def blocked(seconds: float) -> None:
        sleeping.set()
        await never.wait()

    gate = RedisRateLimitGate(client, key=KEY, writes=1, window=10.0, sleep=blocked)
    await gate.acquire("write")
    waiting = asyncio.ensure_future(gate.acquire("write"))
    await sleeping.wait()
    reserved = await log_of(client)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await gate.aclose()
    left = await log_of(client)
    assert len(reserved) == 2 and left == reserved[:1]


async def test_an_outage_falls_back_to_a_share_warns_once_and_comes_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    sleeps = Sleeps()
    gate = RedisRateLimitGate(
        redis_server.url, key=KEY, writes=8, window=10.0, probe_interval=0.0, fallback_processes=4, sleep=sleeps
    )
    with caplog.at_level(logging.WARNING, logger="gett_async.redis"):
        await gate.acquire("write")
        assert gate.state("write").fallback_active is False
        redis_server.stop()
        for _ in range(3):
            await gate.acquire("write")
            gate.settle("write", None, None)
        state = gate.state("write")
        assert state.fallback_active is True and state.fallbacks == 1 and state.remaining == 0
        # A share of 8 // 4 = 2 per window, the slot granted by Redis counted: of the three
        # local calls, the first goes at once and the others wait for the window to move.
        assert len(sleeps.waits) == 2 and all(w > 9.0 for w in sleeps.waits)
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1 and "at most 2 writes and 250 reads per 10 s" in warnings[0]

        redis_server.start()
        await gate.acquire("write")
        assert gate.state("write").fallback_active is False
        assert "Redis answers again" in caplog.records[-1].getMessage()
        async with aioredis.Redis.from_url(redis_server.url) as client:
            # What the process sent while Redis was away is in the shared log again.
            log = await log_of(client)
            assert len(log) == 5

        redis_server.stop()
        await gate.acquire("write")
        assert gate.state("write").fallbacks == 2
    redis_server.start()  # for the fixture's tidy stop
    await gate.aclose()


async def test_the_gate_serves_a_client_against_the_emulator(client: aioredis.Redis) -> None:
    from gett_async import GettClient
    from gett_async._core.updates import parse_update
    from gett_async.testing import GettEmulator

    async with GettEmulator() as emu:
        order = emu.create_order()
        gate = RedisRateLimitGate(client, key=KEY)
        async with GettClient(api_key=emu.api_key, base_url=emu.url, gate=gate) as gett:
            assert gett.gate is gate
            await gett.orders.send_update(parse_update(order, status="confirmed"), priority="batch")
            await gett.orders.send_update(parse_update(order, status="preparing"))
        log = await log_of(client)
        assert len(log) == 2
        assert gate.state("write").remaining == 98


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"redis": "http://127.0.0.1:6379"}, "redis"),
        ({"redis": 42}, "redis"),
        ({"key": ""}, "key"),
        ({"key": "org 1"}, "key"),
        ({"writes": 0}, "writes"),
        ({"reads": 1.5}, "reads"),
        ({"writes": True}, "writes"),
        ({"window": 0}, "window"),
        ({"window": float("inf")}, "window"),
        ({"reserve": 1.0}, "reserve"),
        ({"reserve": -0.1}, "reserve"),
        ({"reserve": float("nan")}, "reserve"),
        ({"margin": -1}, "margin"),
        ({"max_wait": float("nan")}, "max_wait"),
        ({"timeout": 0}, "timeout"),
        ({"fallback_processes": 0}, "fallback_processes"),
        ({"probe_interval": -1}, "probe_interval"),
    ],
)
def test_inputs_are_refused_naming_the_field(arguments: dict[str, Any], field: str) -> None:
    given: dict[str, Any] = {"redis": "redis://127.0.0.1:1/0", "key": KEY, **arguments}
    with pytest.raises(GettValidationError) as caught:
        RedisRateLimitGate(given.pop("redis"), **given)
    assert caught.value.field == field
    assert repr(RedisRateLimitGate.__new__(RedisRateLimitGate)) == "RedisRateLimitGate(<not built>)"


async def test_unknown_kinds_and_priorities_are_refused() -> None:
    gate = RedisRateLimitGate("redis://127.0.0.1:1/0", key=KEY)
    with pytest.raises(GettValidationError) as kind:
        await gate.acquire("delete")
    with pytest.raises(GettValidationError) as priority:
        await gate.acquire("write", priority="urgent")  # type: ignore[arg-type]
    assert (kind.value.field, priority.value.field) == ("kind", "priority")
    await gate.aclose()
