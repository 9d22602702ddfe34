"""The README's examples run as written against a `gett-async emulator` process (as a newcomer
starts it from the shell), they pass mypy --strict, and its lifecycle diagram is the table's."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gett_async import ApiRequest, ApiResponse, ConflictError, GettClient, lifecycle
from gett_async.testing import GettEmulator, MockTransport

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


# -- a real `gett-async emulator`, started as the README says ---------------------------------


@attrs.frozen
class Shell:
    """A running `gett-async emulator` process and what it printed."""

    url: str
    api_key: str
    stores: tuple[str, ...]
    process: subprocess.Popen[str]


def command() -> list[str]:
    """``gett-async`` from the running environment (the console script when installed)."""
    script = Path(sys.executable).parent / "gett-async"
    return [str(script)] if script.exists() else [sys.executable, "-m", "gett_async"]


@attrs.frozen
class Started:
    shell: Shell

    def __enter__(self) -> Shell:
        return self.shell

    def __exit__(self, *exc: object) -> None:
        self.shell.process.terminate()
        _, err = self.shell.process.communicate(timeout=30)
        assert "Traceback" not in err


def start(*options: str, stores: int = 0, port: int = 0) -> Started:
    """``gett-async emulator --port PORT --stores STORES OPTIONS``, once it has printed its lines."""
    process = subprocess.Popen(
        [*command(), "emulator", "--port", str(port), "--stores", str(stores), *options],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(2 + stores)]
    if "--webhook-url" in options:
        lines.append(process.stdout.readline())
    url = re.search(r"listening on (\S+)", lines[0])
    key = re.search(r"API key: (\S+)", lines[1])
    assert url and key, lines
    ids = tuple(line.split()[1] for line in lines[2:2 + stores])
    return Started(Shell(url.group(1), key.group(1), ids, process))


@pytest.fixture(scope="module")
def shell() -> Iterator[Shell]:
    """The README's own command: two seeded stores, onboarding ready at the first read."""
    with start("--onboarding-step-seconds", "0", "--writes-per-minute", "0", "--reads-per-minute", "0",
               stores=2) as running:
        yield running


@pytest.fixture
def env(shell: Shell, monkeypatch: pytest.MonkeyPatch) -> Shell:
    """The README's `export GETT_API_KEY=... GETT_BASE_URL=...`."""
    monkeypatch.setenv("GETT_API_KEY", shell.api_key)
    monkeypatch.setenv("GETT_BASE_URL", shell.url)
    return shell


async def past_pending(order_id: str) -> bool:
    """Whether the emulator holds ``order_id`` past ``pending`` (it takes a new ETA only then)."""
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    async with GettClient() as gett:
        try:
            await gett.orders.update_status(order_id, estimated_ready_at=later)
        except ConflictError:
            return False
    return True


# -- the examples ------------------------------------------------------------------------------


def test_the_readme_diagram_is_the_transition_table() -> None:
    match = re.search(r"```mermaid\n(.*?)```", README, re.S)
    assert match is not None
    assert match.group(1).strip() == lifecycle.mermaid().strip()


def test_every_example_is_run_by_a_test() -> None:
    names = set(re.findall(r"<!-- example: ([\w-]+) -->", README))
    tested = {name.removeprefix("test_").removesuffix("_example").replace("_", "-")
              for name in globals() if name.startswith("test_") and name.endswith("_example")}
    assert names == tested


async def test_one_update_example(env: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    order_id = str(uuid.uuid4())  # the shell emulator creates an unknown order at pending
    await load("one-update")["confirm"](order_id)
    assert "'pending' may not be sent" in capsys.readouterr().out
    assert await past_pending(order_id)
    assert not await past_pending(str(uuid.uuid4()))  # the check itself: a new order is not


async def test_handler_example(env: Shell) -> None:
    namespace = load("handler")
    order_id = str(uuid.uuid4())
    async with TestClient(TestServer(namespace["make_app"]())) as http:
        replies = []
        for wanted in ("preparing", "confirmed", "completed", "ready", "completed"):
            response = await http.post(f"/orders/{order_id}/progress", json={"status": wanted})
            replies.append((wanted, response.status, await response.json()))
        malformed = await http.post("/orders/not-an-order/progress", json={"status": "ready"})
        no_status = await http.post(f"/orders/{uuid.uuid4()}/progress", data=b"{")
        statuses = (malformed.status, no_status.status)
    assert [status for _, status, _ in replies] == [200, 409, 409, 200, 200]
    assert "progress only moves forward" in replies[1][2]["error"]
    assert replies[-1][2] == {"status": "ready", "state": "completed"}
    assert statuses == (404, 400)
    assert namespace["saved"][order_id]["state"] == "completed"


async def test_handler_example_serialises_one_orders_requests() -> None:
    """A second request for an order that arrives while Gett still answers the first shares its
    tracker, so it is checked against the first's outcome (no MockTransport-free race)."""
    namespace = load("handler")
    order_id = str(uuid.uuid4())
    first_at_gett, second_has_tracker, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def gett_says(request: ApiRequest) -> ApiResponse:
        first_at_gett.set()
        await release.wait()
        return ApiResponse(204)

    lookups = []
    tracker_for = namespace["tracker_for"]

    def counted(app: web.Application, order: str) -> Any:
        lookups.append(tracker_for(app, order))
        if len(lookups) == 2:
            second_has_tracker.set()
        return lookups[-1]

    namespace["tracker_for"] = counted  # kitchen_progress looks it up in this namespace
    app = web.Application()
    app[namespace["TRACKERS"]] = {}
    app.router.add_post("/orders/{order_id}/progress", namespace["kitchen_progress"])
    async with GettClient("zpka_test", transport=MockTransport(gett_says)) as gett:
        app[namespace["GETT"]] = gett
        async with TestClient(TestServer(app)) as http:
            first = asyncio.ensure_future(http.post(f"/orders/{order_id}/progress", json={"status": "ready"}))
            await first_at_gett.wait()
            second = asyncio.ensure_future(http.post(f"/orders/{order_id}/progress", json={"status": "preparing"}))
            await second_has_tracker.wait()
            release.set()
            answers = [await first, await second]
            assert [a.status for a in answers] == [200, 409]
    assert lookups[0] is lookups[1]


async def test_batch_example(env: Shell, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = load("batch")
    orders = [str(uuid.uuid4()) for _ in range(3)]
    lines = [{"orderId": oid, "status": "confirmed"} for oid in orders]
    lines += [{"orderId": orders[0], "status": "pending"}, {"orderId": orders[1], "state": "cancelled"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert await namespace["replay"](str(path)) is True
    assert capsys.readouterr().out.count("refused:") == 2
    # A fresh stream starts each order at pending: the confirms go again, and Gett (here the
    # emulator) takes an exact repeat as a no-op.
    counts = await namespace["replay_summary"](str(path))
    assert counts == {"sent": 3, "refused": 2, "failed": 0, "superseded": 0, "blocked": 0, "aborted": 0}
    assert [await past_pending(oid) for oid in orders] == [True] * 3


async def test_queue_example(
    env: Shell, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    consume = load("queue")["consume"]
    orders = [str(uuid.uuid4()) for _ in range(3)]
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
    assert [await past_pending(oid) for oid in orders] == [True] * 3
    # Redelivered after a crash: every event has its final outcome in the state, so nothing is
    # sent. Against a port nobody listens on, any request would end failed or aborted.
    monkeypatch.setenv("GETT_BASE_URL", "http://127.0.0.1:9")
    await consume(messages(), commit, str(tmp_path / "queue.db"))
    out = capsys.readouterr().out
    assert "failed" not in out and "aborted" not in out, out
    assert committed[-1] == 100 + len(bodies) - 1


async def test_resources_example(env: Shell) -> None:
    store_id = env.stores[0]
    async with GettClient() as gett:  # a plain client: the onboarding is ready at its first poll
        namespace = {
            "gett": gett,
            "store_id": store_id,
            "in_30_minutes": datetime.now(timezone.utc) + timedelta(minutes=30),
            "print": lambda *args: None,
        }
        code = compile(example("resources"), "README:resources", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        await eval(code, namespace)
        assert namespace["status"].status == "online"
        assert (await gett.stores.get(store_id)).description == "Open late on Fridays"
        onboarding_id = namespace["onboarding"].onboarding_id
        assert namespace["ready"].status == "ready_to_activate"
        assert (await gett.onboarding.get(onboarding_id)).status == "active"


async def test_raw_example(env: Shell, capsys: pytest.CaptureFixture[str]) -> None:
    name = await load("raw")["stop_deliveries"](env.stores[1])
    assert name == "Store 2"
    status, request_id, remaining = capsys.readouterr().out.split()
    assert status == "200" and request_id.startswith("req_") and remaining.isdigit()
    async with GettClient() as gett:
        assert (await gett.stores.get(env.stores[1])).extra["deliveryAllowed"] is False


async def test_mock_example() -> None:
    body = await load("mock")["confirm_offline"]("1b4e28ba-2fa1-11d2-883f-0016d3cca427")
    assert body == b'{"status":"confirmed"}'


async def test_fixture_example() -> None:
    # The pytest fixture's own example: its emulator runs in the test's loop, as the fixture's does.
    async with GettEmulator() as emu:
        await load("fixture")["test_kitchen_confirms"](emu)
        assert len(emu.orders) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_receiving_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service of the example, and a `gett-async emulator` that places one order with it by webhook."""
    namespace = load("receiving")
    secret = "whsec_readme_example"
    port = free_port()  # the emulator's, known before the service starts (its client reads GETT_BASE_URL)
    monkeypatch.setenv("GETT_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("GETT_API_KEY", "local-key")
    placed = asyncio.Event()

    @web.middleware
    async def watch(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> Any:
        response = await handler(request)
        if request.path.endswith("/placeOrder") and response.status == 200:
            placed.set()
        return response

    app = namespace["make_app"](secret)
    app.middlewares.append(watch)
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        hook = str(http.make_url("/gett"))
        with start("--api-key", "local-key", "--webhook-url", hook, "--webhook-secret", secret,
                   "--orders-per-minute", "1", port=port):
            await asyncio.wait_for(placed.wait(), timeout=60)
            [order_id] = namespace["saved"]
            assert namespace["saved"][order_id]["status"] == "pending"
            for wanted in ("confirmed", "preparing", "ready", "completed"):
                response = await http.post(f"/orders/{order_id}/progress", json={"status": wanted})
                assert response.status == 200
                assert (await response.json())["position"] == wanted


def test_redis_gate_example(env: Shell, redis_server: Any) -> None:
    """Run as a script would (the example calls ``asyncio.run`` itself), on the test's Redis."""
    code = example("redis-gate").replace("redis://127.0.0.1:6379/0", redis_server.url)
    exec(compile(code, "README:redis-gate", "exec"), {"__name__": "readme_redis_gate"})
    assert asyncio.run(past_pending("1b4e28ba-2fa1-11d2-883f-0016d3cca427"))  # the update reached the emulator
