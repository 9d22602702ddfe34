"""examples/receive_orders.py against the emulator, over loopback: webhook in, tracker, completed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from aiohttp.test_utils import TestServer
from helpers_webhooks import SECRET

from gett_async.testing import GettEmulator

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "receive_orders.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("receive_orders", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_placed_orders_are_cooked_to_completion(monkeypatch: pytest.MonkeyPatch) -> None:
    example = load_example()
    async with GettEmulator(webhook_retry_scale=0, writes_per_window=0) as emu:
        monkeypatch.setenv("GETT_API_KEY", emu.api_key)
        monkeypatch.setenv("GETT_BASE_URL", emu.url)
        app = example.make_app(secret=SECRET, step_seconds=0)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            emu.set_webhook(str(server.make_url("/gett")), SECRET)
            orders = [await emu.place_order() for _ in range(3)]
            kitchen = app[example.KITCHEN]
            await kitchen.drain()
            trackers = dict(kitchen.trackers)
        finally:
            await server.close()
    for order_id in orders:
        assert [u.position for u in emu.order(order_id).history] == ["confirmed", "preparing", "ready", "completed"]
        assert trackers[order_id].state == "completed"
    places = [d for d in emu.webhook_deliveries if d.kind == "placeOrder"]
    assert [d.response["partnerOrderId"] for d in places] == [f"kitchen-{oid[:8]}" for oid in orders]
    assert all(d.ok and d.attempt == 1 for d in emu.webhook_deliveries)
