"""The total timeout as the transport's shared deadline, over real loopback sockets: attempts
due together all time out, an attempt that ends in time leaves no cancel behind, and a cancel
or an outer timeout of somebody else's stays theirs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from helpers_core import ORDER_ID

from gett_async import APITimeoutError, GettClient, RetryPolicy

ONE_TRY = RetryPolicy(max_retries=0)
NO_CONTENT = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
BODY = b'{"state":"completed"}'


class Server:
    """Answers 204 at once, or never when ``silent``."""

    def __init__(self) -> None:
        self.silent = False
        self.arrived = 0
        self.first = asyncio.Event()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(len(BODY))
                self.arrived += 1
                self.first.set()
                if self.silent:
                    await reader.read()  # until the client hangs up
                    return
                writer.write(NO_CONTENT)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Server]]:
    behaviour = Server()
    server = await asyncio.start_server(behaviour, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", behaviour
    finally:
        server.close()
        await server.wait_closed()


async def test_attempts_due_together_all_time_out(served: tuple[str, Server], built_in: str | None) -> None:
    url, server = served
    server.silent = True
    async with GettClient("zpka_test", base_url=url, transport=built_in,
                          timeout=0.3, retry=ONE_TRY, max_connections=20) as gett:
        outcomes = await asyncio.gather(*(gett.orders.complete(ORDER_ID) for _ in range(20)), return_exceptions=True)
    assert all(isinstance(outcome, APITimeoutError) for outcome in outcomes), outcomes
    assert server.arrived == 20


async def test_an_attempt_that_ends_in_time_leaves_no_cancel_behind(
    served: tuple[str, Server], built_in: str | None,
) -> None:
    url, server = served
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=0.2, retry=ONE_TRY) as gett:
        receipts = [await gett.orders.complete(ORDER_ID) for _ in range(3)]
        server.silent = True
        # Deadlines fire in time order: once this later one has, so have those of the answered
        # attempts. Had one stayed armed, it would have cancelled this task (CancelledError).
        with pytest.raises(APITimeoutError):
            await gett.orders.complete(ORDER_ID)
        server.silent = False
        receipts.append(await gett.orders.complete(ORDER_ID))
    assert [receipt.status for receipt in receipts] == [204] * 4


async def test_after_a_timeout_the_client_goes_on(served: tuple[str, Server], built_in: str | None) -> None:
    url, server = served
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=0.3, retry=ONE_TRY) as gett:
        server.silent = True
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            await gett.orders.complete(ORDER_ID)
        assert time.monotonic() - started >= 0.3  # never early
        server.silent = False
        assert (await gett.orders.complete(ORDER_ID)).status == 204


async def test_somebody_elses_cancel_stays_a_cancel(served: tuple[str, Server], built_in: str | None) -> None:
    url, server = served
    server.silent = True
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=0.3, retry=ONE_TRY) as gett:
        call = asyncio.ensure_future(gett.orders.complete(ORDER_ID))
        await server.first.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        # A later attempt's deadline fires after the cancelled one's: that one passed harmlessly.
        with pytest.raises(APITimeoutError):
            await gett.orders.complete(ORDER_ID)


async def test_an_outer_timeout_shorter_than_the_total_is_the_outer_ones(
    served: tuple[str, Server], built_in: str | None,
) -> None:
    url, server = served
    server.silent = True
    async with GettClient("zpka_test", base_url=url, transport=built_in, timeout=30, retry=ONE_TRY) as gett:
        with pytest.raises(asyncio.TimeoutError) as caught:
            await asyncio.wait_for(gett.orders.complete(ORDER_ID), 0.2)
    assert not isinstance(caught.value, APITimeoutError)
