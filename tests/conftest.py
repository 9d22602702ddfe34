"""Shared fixtures.

aioresponses 0.7.9 (the latest release) predates aiohttp 3.14, whose ClientResponse
requires a ``stream_writer``. aiohttp 3.14 is a security release, so instead of pinning
aiohttp back we give aioresponses a response class that supplies one.
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import aiohttp
import aioresponses.core
import pytest


class _NoWriter:
    output_size = 0


if "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters:

    class _CompatResponse(aiohttp.ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", _NoWriter())
            super().__init__(*args, **kwargs)

    aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[misc]


ORDER_ID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
STORE_ID = "6f1c1c6e-9c61-4b0e-9f55-2b8f2f6b8f10"
API_KEY = "zpka_test_5ecret_DO_NOT_LEAK_0123456789"


@pytest.fixture(params=[None, "aiohttp"], ids=["http1", "aiohttp"])
def built_in(request: pytest.FixtureRequest) -> str | None:
    """Each transport GettClient can make itself: ``transport=built_in`` (None: the default)."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def mocked() -> Any:
    with aioresponses.aioresponses() as mock:
        yield mock


@pytest.fixture
def redis_server(tmp_path: Any) -> Any:
    """A real redis-server on a free 127.0.0.1 port (tests/redis_server.py). Skipped where it
    is not installed, except in CI (CI=true), which installs it: there its absence fails."""
    from redis_server import RedisServer, redis_server_path

    if redis_server_path() is None:
        reason = "redis-server is not installed (apt-get install redis-server; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
