"""The [uvloop] extra: the CLI's bulk commands run on uvloop when it is installed, other
commands (and every library call) on the loop asyncio gives; without it nothing changes."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Coroutine
from typing import Any

import pytest

from gett_async.cli import main


def fake_uvloop(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    ran: list[str] = []

    def run(coro: Coroutine[Any, Any, int]) -> int:
        ran.append("uvloop")
        return asyncio.run(coro)

    module = types.ModuleType("uvloop")
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "uvloop", module)
    return ran


def test_demo_runs_on_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    ran = fake_uvloop(monkeypatch)
    assert main(["demo", "--orders", "5", "--no-progress"]) == 0
    assert ran == ["uvloop"]
    assert "FAILED" not in capsys.readouterr().out


def test_other_commands_keep_asyncios_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    ran = fake_uvloop(monkeypatch)
    with pytest.raises(SystemExit):
        main(["send", "--help"])  # parsed before any loop; a refused send would not reach one either
    assert main(["send", "not-a-uuid", "--status", "confirmed"]) != 0
    assert ran == []


def test_without_uvloop_the_demo_runs_as_before(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop raises ImportError
    assert main(["demo", "--orders", "5", "--no-progress"]) == 0
    assert "FAILED" not in capsys.readouterr().out


def test_the_default_transport_works_on_a_real_uvloop() -> None:
    """Not the fake above: the SDK's own transport on uvloop's loop, over loopback."""
    uvloop = pytest.importorskip("uvloop")
    from gett_async import GettClient
    from gett_async.testing import GettEmulator

    order_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

    async def lifecycle() -> tuple[list[int], str]:
        async with GettEmulator(auto_create_orders=True) as emu, GettClient(emu.api_key, base_url=emu.url) as gett:
            receipts = [await gett.orders.update_status(order_id, status=status)
                        for status in ("confirmed", "preparing", "ready")]
            return [receipt.status for receipt in receipts], emu.order(order_id).position

    statuses, position = uvloop.run(lifecycle())
    assert statuses == [204, 204, 204]
    assert position == "ready"
