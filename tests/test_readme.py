"""The README's examples run (against the emulator), and its lifecycle diagram is the table's."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gett_async import GettClient, lifecycle
from gett_async.testing import GettEmulator

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def example(name: str) -> str:
    match = re.search(rf"<!-- example: {name} -->\n```python\n(.*?)```", README, re.S)
    assert match, f"README has no example {name!r}"
    return match.group(1)


#: Examples written as statements inside an open client (top-level await), and the names the
#: README says they are given; type-checked as the body of a coroutine taking those names.
GIVEN = {
    "resources": "gett: GettClient, store_id: str, in_30_minutes: datetime",
}


def typed_module(name: str) -> str:
    """An example as a module mypy can check on its own."""
    code = example(name)
    if name not in GIVEN:
        return code
    preamble = "from datetime import datetime\n\nfrom gett_async import GettClient\n\n\n"
    return preamble + f"async def example({GIVEN[name]}) -> None:\n" + textwrap.indent(code, "    ")


def test_every_readme_example_passes_mypy_strict(tmp_path: Path) -> None:
    """As a user's project would see the package (mypy runs outside the repository)."""
    names = re.findall(r"<!-- example: ([\w-]+) -->", README)
    assert len(names) >= 5
    for name in names:
        (tmp_path / f"readme_{name.replace('-', '_')}.py").write_text(typed_module(name), encoding="utf-8")
    cache = Path(__file__).resolve().parent.parent / ".mypy_cache"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(cache), "."],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def load(name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": f"readme_{name}"}
    exec(compile(example(name), f"README:{name}", "exec"), namespace)
    return namespace


@pytest.fixture
async def emu(monkeypatch: pytest.MonkeyPatch) -> Any:
    async with GettEmulator(writes_per_window=0, reads_per_window=0) as emulator:
        monkeypatch.setenv("GETT_API_KEY", emulator.api_key)
        monkeypatch.setenv("GETT_BASE_URL", emulator.url)
        yield emulator


def test_the_readme_diagram_is_the_transition_table() -> None:
    match = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert match is not None
    assert match.group(1).strip() == lifecycle.mermaid().strip()


async def test_one_update_example(emu: GettEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = emu.create_order()
    await load("one-update")["confirm"](order_id)
    assert emu.order(order_id).position == "confirmed"
    assert emu.order(order_id).estimated_ready_at is not None
    assert "'pending' may not be sent" in capsys.readouterr().out
    assert len(emu.requests) == 1  # the refused update never reached the server


async def test_handler_example(emu: GettEmulator) -> None:
    namespace = load("handler")
    order_id = emu.create_order()
    async with TestClient(TestServer(namespace["make_app"]())) as http:
        replies = []
        for wanted in ("preparing", "confirmed", "completed", "ready", "completed"):
            response = await http.post(f"/orders/{order_id}/progress", json={"status": wanted})
            replies.append((wanted, response.status, await response.json()))
    assert [status for _, status, _ in replies] == [200, 409, 409, 200, 200]
    assert "progress only moves forward" in replies[1][2]["error"]
    assert [u.position for u in emu.order(order_id).history] == ["preparing", "ready", "completed"]
    assert namespace["saved"][order_id]["state"] == "completed"


async def test_batch_example(emu: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = load("batch")
    orders = [emu.create_order() for _ in range(3)]
    lines = [{"orderId": oid, "status": "confirmed"} for oid in orders]
    lines += [{"orderId": orders[0], "status": "pending"}, {"orderId": orders[1], "state": "cancelled"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert await namespace["replay"](str(path)) is True
    printed = capsys.readouterr().out
    assert printed.count("refused:") == 2
    assert all(emu.order(oid).position == "confirmed" for oid in orders)
    # A fresh stream starts each order at pending: the confirms go again, and Gett (here the
    # emulator) takes an exact repeat as a no-op.
    counts = await namespace["replay_summary"](str(path))
    assert counts == {"sent": 3, "refused": 2, "failed": 0, "superseded": 0, "blocked": 0, "aborted": 0}
    assert all(len(emu.order(oid).history) == 1 for oid in orders)


async def test_queue_example(emu: GettEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consume = load("queue")["consume"]
    orders = [emu.create_order() for _ in range(3)]
    bodies = [{"orderId": o, "status": s} for s in ("confirmed", "preparing") for o in orders]
    bodies.insert(2, {"orderId": orders[0], "status": "pending"})  # refused: still final, still committed
    committed: list[int] = []

    async def messages() -> Any:
        for offset, body in enumerate(bodies, start=100):
            yield offset, body

    async def commit(offset: int) -> None:
        committed.append(offset)

    await consume(messages(), commit, str(tmp_path / "queue.db"))
    assert committed == sorted(committed) and committed[-1] == 100 + len(bodies) - 1
    assert "refused: offset 102" in capsys.readouterr().out
    assert all(emu.order(oid).position == "preparing" for oid in orders)
    requests = emu.stats.requests
    await consume(messages(), commit, str(tmp_path / "queue.db"))  # redelivered: nothing sent again
    assert emu.stats.requests == requests


async def test_resources_example(emu: GettEmulator) -> None:
    store_id = emu.add_store()

    class Polling(GettClient):
        async def sleep(self, seconds: float) -> None:  # the emulator's pipeline moves when we poll
            emu.advance_onboarding()

    async with Polling() as gett:
        namespace = {
            "gett": gett,
            "store_id": store_id,
            "in_30_minutes": datetime.now(timezone.utc) + timedelta(minutes=30),
            "print": lambda *args: None,
        }
        code = compile(example("resources"), "README:resources", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(code, namespace)
    assert namespace["status"].status == "online"
    assert [s.description for s in emu.stores if s.store_id == store_id] == ["Open late on Fridays"]
    assert len(emu.catalog_notifications) == 1
    onboarding_id = namespace["onboarding"].onboarding_id
    assert emu.onboarding(onboarding_id).status == "active"


async def test_mock_example() -> None:
    body = await load("mock")["confirm_offline"]("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert body == b'{"status":"confirmed"}'


async def test_fixture_example(emu: GettEmulator) -> None:
    await load("fixture")["test_kitchen_confirms"](emu)
    assert len(emu.orders) == 1


async def test_receiving_example(emu: GettEmulator) -> None:
    namespace = load("receiving")
    secret = "whsec_readme_example"
    async with TestClient(TestServer(namespace["make_app"](secret), host="127.0.0.1")) as http:
        emu.set_webhook(str(http.make_url("/gett")), secret)
        emu.webhook_retry_scale = 0
        order_id = await emu.place_order()
        assert namespace["saved"][order_id]["status"] == "pending"
        for wanted in ("confirmed", "preparing", "ready", "completed"):
            response = await http.post(f"/orders/{order_id}/progress", json={"status": wanted})
            assert response.status == 200
    assert [u.position for u in emu.order(order_id).history] == ["confirmed", "preparing", "ready", "completed"]
    assert [(d.kind, d.status) for d in emu.webhook_deliveries] == [("validateOrder", 200), ("placeOrder", 200)]
