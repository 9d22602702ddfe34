"""Total-time deadlines: shared per-second timers that time a call out, and only that.

The timers are fired by hand here (``_expire_all``), so no test waits for a clock; one
loopback test lets a real timer fire against a server that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aioresponses import CallbackResult
from helpers_core import ORDER_ID, ORDER_URL, make_client

from gett_async import APIConnectionError, APITimeoutError, GettClient, RetryPolicy, _deadline
from gett_async._deadline import Deadlines

pytestmark = pytest.mark.skipif(not _deadline.SUPPORTED, reason="Python 3.10: aiohttp enforces every total")

ONE_TRY = RetryPolicy(max_retries=0)


def _expire_all(deadlines: Deadlines) -> None:
    """What the loop does when each second's timer comes due."""
    for when in list(deadlines._buckets):
        deadlines._expire(when)


@contextlib.asynccontextmanager
async def hanging(mocked: Any, times: int | None = None, until: int = 1) -> AsyncIterator[asyncio.Event]:
    """The first ``times`` requests (None: all) never get an answer, later ones get 204;
    yields an event set once ``until`` of them are waiting."""
    waiting, never = asyncio.Event(), asyncio.Event()
    seen = 0

    async def hang(url: Any, **kwargs: Any) -> CallbackResult:
        nonlocal seen
        seen += 1
        if times is None or seen <= times:
            if seen >= until:
                waiting.set()
            await never.wait()
        return CallbackResult(status=204)

    mocked.post(ORDER_URL, callback=hang, repeat=True)
    yield waiting


async def test_a_call_past_its_deadline_times_out(mocked: Any) -> None:
    async with hanging(mocked) as waiting, make_client(retry=ONE_TRY) as gett:
        call = asyncio.create_task(gett.orders.complete(ORDER_ID))
        await waiting.wait()
        deadlines = gett._transport._deadlines
        assert len(deadlines) == 1
        _expire_all(deadlines)
        with pytest.raises(APITimeoutError, match=r"no answer within 30 s") as info:
            await call
        assert info.value.attempts == 1 and len(deadlines) == 0


async def test_a_timed_out_attempt_is_retried(mocked: Any) -> None:
    async with hanging(mocked, times=1) as waiting, make_client() as gett:
        call = asyncio.create_task(gett.orders.complete(ORDER_ID))
        await waiting.wait()
        _expire_all(gett._transport._deadlines)
        receipt = await call
    assert receipt.attempts == 2


async def _cancel_requests_left(gett: GettClient, waiting: asyncio.Event, error: type[Exception]) -> int:
    """Expire a call's deadline while it waits; the caller's task.cancelling() after ``error``."""

    async def caller() -> int:
        with pytest.raises(error):
            await gett.orders.complete(ORDER_ID)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    call = asyncio.create_task(caller())
    await waiting.wait()
    _expire_all(gett._transport._deadlines)
    return await call


async def test_the_task_is_left_uncancelled_after_a_timeout(mocked: Any) -> None:
    """Like asyncio.timeout: the cancellation that timed the call out is withdrawn."""
    async with hanging(mocked) as waiting, make_client(retry=ONE_TRY) as gett:
        assert await _cancel_requests_left(gett, waiting, APITimeoutError) == 0


async def test_somebody_elses_cancel_stays_a_cancel(mocked: Any) -> None:
    async with hanging(mocked) as waiting, make_client(retry=ONE_TRY) as gett:
        call = asyncio.create_task(gett.orders.complete(ORDER_ID))
        await waiting.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert len(gett._transport._deadlines) == 0


async def test_a_cancel_at_the_deadline_stays_a_cancel(mocked: Any) -> None:
    async with hanging(mocked) as waiting, make_client(retry=ONE_TRY) as gett:
        call = asyncio.create_task(gett.orders.complete(ORDER_ID))
        await waiting.wait()
        _expire_all(gett._transport._deadlines)
        call.cancel()  # in the same step as the deadline: the caller's cancel must win
        with pytest.raises(asyncio.CancelledError):
            await call


async def test_calls_in_the_same_second_share_one_timer(mocked: Any) -> None:
    async with hanging(mocked, until=50) as waiting, make_client(retry=ONE_TRY) as gett:
        calls = [asyncio.create_task(gett.orders.complete(ORDER_ID)) for _ in range(50)]
        await waiting.wait()
        deadlines = gett._transport._deadlines
        assert len(deadlines) == 50
        assert len(deadlines._buckets) <= 2  # the deadlines of calls started together span two seconds at most
        _expire_all(deadlines)
        results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, APITimeoutError) for r in results) and len(deadlines) == 0


async def test_answered_calls_leave_nothing_armed(mocked: Any) -> None:
    mocked.post(ORDER_URL, status=204, repeat=True)
    async with make_client() as gett:
        await asyncio.gather(*(gett.orders.complete(ORDER_ID) for _ in range(20)))
        assert len(gett._transport._deadlines) == 0


async def test_totals_aiohttp_keeps_exact_are_not_shared(mocked: Any) -> None:
    """Only totals aiohttp would round up to the second itself (over its ceil_threshold)."""
    async with make_client(timeout=5) as gett:
        assert gett._transport._total is None
    async with make_client(timeout=6) as gett:
        assert gett._transport._total == 6
    async with make_client(timeout=aiohttp.ClientTimeout(total=7, ceil_threshold=10)) as gett:
        assert gett._transport._total is None


async def test_a_replaced_cancellation_still_withdraws_the_deadlines_cancel(mocked: Any) -> None:
    """Code under the request may turn the CancelledError into another error; the cancel
    request the deadline made must be withdrawn all the same (as asyncio.timeout does)."""
    waiting = asyncio.Event()

    async def hang_then_fail(url: Any, **kwargs: Any) -> None:
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise aiohttp.ClientConnectionError("torn down") from None

    mocked.post(ORDER_URL, callback=hang_then_fail)
    async with make_client(retry=ONE_TRY) as gett:
        assert await _cancel_requests_left(gett, waiting, APIConnectionError) == 0


async def test_a_real_timer_times_out_a_server_that_never_answers() -> None:
    """Over a loopback socket, with the shared timers taking a half-second total."""
    timeout = aiohttp.ClientTimeout(total=0.5, ceil_threshold=0)  # rounded up: fires within a second
    connected, hung_up = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.set()
        await reader.read()  # reads the request, answers nothing, until the client hangs up
        writer.close()
        await writer.wait_closed()
        hung_up.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with GettClient("zpka_test", base_url=f"http://127.0.0.1:{port}", timeout=timeout, retry=ONE_TRY) as gett:
            assert gett._transport._total == 0.5
            with pytest.raises(APITimeoutError, match=r"no answer within 0.5 s"):
                await gett.orders.complete(ORDER_ID)
            assert connected.is_set() and len(gett._transport._deadlines) == 0
        await hung_up.wait()  # the timed-out attempt's connection was closed, not left open
    finally:
        server.close()
        await server.wait_closed()
