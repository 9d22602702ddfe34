"""Timeouts over real loopback sockets: what they bound, how they end, what they leave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from helpers_core import ORDER_ID

from gett_async import APITimeoutError, GettClient, RetryPolicy, Timeout

ONE_TRY = RetryPolicy(max_retries=0)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]]
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


async def _serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


class SilentThenAnswering:
    """The first ``silent`` connections read the request and answer nothing; later ones say 204."""

    def __init__(self, silent: int) -> None:
        self.silent = silent
        self.connections = 0
        self.hung_up = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.connections <= self.silent:
            await reader.read()  # until the client hangs up
            self.hung_up.set()
        else:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(len(b'{"state":"completed"}'))
            writer.write(NO_CONTENT)
            await writer.drain()
        writer.close()


@pytest.fixture
async def silent_server() -> AsyncIterator[tuple[str, SilentThenAnswering]]:
    behaviour = SilentThenAnswering(silent=1)
    async for url in _serve(behaviour):
        yield url, behaviour


async def test_a_server_that_never_answers_times_out_and_the_connection_is_closed(
    silent_server: tuple[str, SilentThenAnswering], built_in: str | None,
) -> None:
    url, server = silent_server
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=0.3, retry=ONE_TRY) as gett:
        with pytest.raises(APITimeoutError, match=r"timed out \(total 0.3 s"):
            await gett.orders.complete(ORDER_ID)
    await server.hung_up.wait()  # the timed-out attempt's connection was closed, not left open


async def test_a_timed_out_attempt_is_retried(
    silent_server: tuple[str, SilentThenAnswering], built_in: str | None,
) -> None:
    url, server = silent_server
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=Timeout(total=0.3), retry=RetryPolicy(
        max_retries=1, base=0.001, cap=0.001
    )) as gett:
        receipt = await gett.orders.complete(ORDER_ID)
    assert (receipt.status, receipt.attempts, server.connections) == (204, 2, 2)


async def test_a_per_call_timeout_overrides_the_clients(
    silent_server: tuple[str, SilentThenAnswering], built_in: str | None,
) -> None:
    url, _ = silent_server
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=None, retry=ONE_TRY) as gett:
        with pytest.raises(APITimeoutError, match=r"total 0.2 s"):
            await gett.orders.complete(ORDER_ID, timeout=0.2)
