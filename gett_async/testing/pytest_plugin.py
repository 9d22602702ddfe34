"""pytest plugin (entry point ``pytest11``): the ``gett_emulator`` fixture.

Loaded in every pytest run once gett-async is installed, so it imports nothing heavy at
module level; the emulator (and aiohttp.web) is imported when the fixture is first used.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .emulator import GettEmulator

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - depends on the environment
    pytest_asyncio = None  # type: ignore[assignment]


async def _emulator() -> AsyncIterator[GettEmulator]:
    from .emulator import GettEmulator

    async with GettEmulator() as emu:
        yield emu


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def gett_emulator() -> AsyncIterator[GettEmulator]:
        """A started GettEmulator with default settings, stopped after the test."""
        async for emu in _emulator():
            yield emu

else:  # pragma: no cover - without pytest-asyncio, e.g. under anyio's plugin

    @pytest.fixture
    async def gett_emulator() -> AsyncIterator[GettEmulator]:
        """A started GettEmulator with default settings, stopped after the test."""
        async for emu in _emulator():
            yield emu
