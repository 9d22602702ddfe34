"""The emulator places orders: signed validateOrder / placeOrder webhooks, retried, recorded."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import STORE_ID
from helpers_webhooks import SECRET, assert_no_secret

from gett_async import GettValidationError, cli
from gett_async.testing import RETRY_SCHEDULE, GettEmulator
from gett_async.webhooks import WebhookHandlerError, WebhookKind, WebhookReceiver, WebhookRequest


class Partner:
    """A partner service on loopback: a WebhookReceiver whose handlers record and answer as told."""

    def __init__(self) -> None:
        self.received: list[WebhookRequest] = []
        self.failures: dict[WebhookKind, list[BaseException]] = {WebhookKind.VALIDATE: [], WebhookKind.PLACE: []}
        self.placed = asyncio.Event()
        self.receiver = WebhookReceiver(SECRET, on_validate=self.handle, on_place=self.handle)
        self.server: TestServer | None = None

    async def handle(self, request: WebhookRequest) -> Any:
        self.received.append(request)
        assert request.kind is not None
        failures = self.failures[request.kind]
        if failures:
            raise failures.pop(0)
        if request.kind is WebhookKind.PLACE:
            self.placed.set()
        return {"partnerOrderId": f"pos-{request.order_id}"}

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/gett"))


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    service = Partner()
    app = web.Application()
    app.add_routes(service.receiver.aiohttp_routes("/gett"))
    service.server = TestServer(app, host="127.0.0.1")
    await service.server.start_server()
    try:
        yield service
    finally:
        await service.server.close()


def emulator(partner: Partner, **options: Any) -> GettEmulator:
    options.setdefault("webhook_retry_scale", 0)  # Gett's waits, recorded, but not waited for
    return GettEmulator(webhook_url=partner.url, webhook_secret=SECRET, **options)


async def test_place_order_sends_validate_then_place(partner: Partner) -> None:
    async with emulator(partner) as emu:
        order_id = await emu.place_order(STORE_ID, fulfillmentType="pickup", note="extra napkins")
        assert emu.order(order_id).position == "pending"
    assert [r.kind for r in partner.received] == [WebhookKind.VALIDATE, WebhookKind.PLACE]
    assert {r.order_id for r in partner.received} == {order_id}
    payload = partner.received[1].payload
    assert (payload["storeId"], payload["fulfillmentType"], payload["note"]) == (STORE_ID, "pickup", "extra napkins")
    assert payload["amounts"]["total"] == 15.75
    deliveries = emu.webhook_deliveries
    assert [(d.kind, d.attempt, d.status, d.retry_in) for d in deliveries] == [
        ("validateOrder", 1, 200, None), ("placeOrder", 1, 200, None),
    ]
    assert deliveries[1].response == {"partnerOrderId": f"pos-{order_id}"}
    assert deliveries[1].url == partner.url + "/placeOrder"
    assert all(d.ok for d in deliveries)


async def test_a_failed_place_is_retried_and_the_handler_runs_again(partner: Partner) -> None:
    partner.failures[WebhookKind.PLACE] += [RuntimeError("POS down"), WebhookHandlerError(503, "busy")]
    async with emulator(partner) as emu:
        order_id = await emu.place_order()
        assert emu.order(order_id).position == "pending"
    place = [d for d in emu.webhook_deliveries if d.kind == "placeOrder"]
    assert [(d.attempt, d.status, d.retry_in) for d in place] == [(1, 500, 30.0), (2, 503, 120.0), (3, 200, None)]
    assert sum(r.kind is WebhookKind.PLACE for r in partner.received) == 3


async def test_a_refused_validation_is_final_and_the_order_is_not_placed(partner: Partner) -> None:
    partner.failures[WebhookKind.VALIDATE].append(WebhookHandlerError(422, "sold out", error_code="ITEM_UNAVAILABLE"))
    async with emulator(partner) as emu:
        order_id = await emu.place_order()
        order = emu.order(order_id)
    assert [(d.kind, d.status, d.retry_in) for d in emu.webhook_deliveries] == [("validateOrder", 422, None)]
    assert emu.webhook_deliveries[0].response["errorCode"] == "ITEM_UNAVAILABLE"
    assert (order.position, order.history) == ("cancelled", ())
    assert order.cancel_reason == "validateOrder was not accepted by the partner (HTTP 422)"


async def test_no_answer_is_retried_on_gett_schedule_then_given_up() -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GettEmulator(webhook_url=f"http://127.0.0.1:{port}", webhook_secret=SECRET,
                            webhook_retry_scale=0) as emu:
        order_id = await emu.place_order()
        assert emu.order(order_id).cancel_reason == "validateOrder was not accepted by the partner (no answer)"
    assert [d.retry_in for d in emu.webhook_deliveries] == [*RETRY_SCHEDULE, None]
    assert RETRY_SCHEDULE == (30.0, 120.0, 600.0, 3600.0)
    assert all(d.status is None and d.error for d in emu.webhook_deliveries)


async def test_a_wrong_secret_is_refused_by_the_partner_and_not_retried(partner: Partner) -> None:
    async with GettEmulator(webhook_url=partner.url, webhook_secret="whsec_other", webhook_retry_scale=0) as emu:
        await emu.place_order()
    assert [(d.status, d.retry_in) for d in emu.webhook_deliveries] == [(401, None)]
    assert partner.received == []


async def test_orders_are_placed_at_a_rate_while_running(partner: Partner) -> None:
    async with emulator(partner, orders_per_minute=6000) as emu:
        await asyncio.wait_for(partner.placed.wait(), timeout=30)
    assert emu.orders and any(d.kind == "placeOrder" and d.ok for d in emu.webhook_deliveries)


async def test_the_target_can_be_set_after_start(partner: Partner) -> None:
    async with GettEmulator(webhook_retry_scale=0) as emu:
        assert emu.webhook_url is None
        with pytest.raises(RuntimeError, match="webhook_url"):
            await emu.place_order()
        emu.set_webhook(partner.url + "/", SECRET)
        assert emu.webhook_url == partner.url
        await emu.place_order()
    assert len(partner.received) == 2


@pytest.mark.parametrize(
    "options",
    [
        {"webhook_url": "https://partner.example.com/gett", "webhook_secret": SECRET},
        {"webhook_url": "http://10.0.0.7/gett", "webhook_secret": SECRET},
        {"webhook_url": "ftp://127.0.0.1/gett", "webhook_secret": SECRET},
        {"webhook_url": "http://user:pw@127.0.0.1/gett", "webhook_secret": SECRET},
        {"webhook_url": "http://127.0.0.1/gett"},
        {"webhook_url": "http://127.0.0.1/gett", "webhook_secret": ""},
        {"webhook_secret": SECRET},
        {"orders_per_minute": 5},
        {"webhook_url": "http://127.0.0.1/gett", "webhook_secret": SECRET, "webhook_retry_scale": -1},
    ],
)
def test_webhook_options_are_checked(options: dict[str, Any]) -> None:
    with pytest.raises(GettValidationError):
        GettEmulator(**options)


async def test_place_order_needs_a_running_emulator(partner: Partner) -> None:
    emu = emulator(partner)
    with pytest.raises(RuntimeError, match="running"):
        await emu.place_order()


async def test_the_secret_shows_nowhere(partner: Partner) -> None:
    partner.failures[WebhookKind.PLACE].append(RuntimeError("boom"))
    async with emulator(partner) as emu:
        await emu.place_order()
        shown = [repr(emu), repr(vars(emu)), repr(emu.webhook_deliveries)]
    for text in shown:
        assert_no_secret(text)


# -- the command line ---------------------------------------------------------------------------------


async def test_emulator_subcommand_places_orders_at_a_rate(partner: Partner) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gett_async", "emulator", "--port", "0", "--webhook-url", partner.url,
        "--orders-per-minute", "600",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("GETT_")}, "GETT_WEBHOOK_SECRET": SECRET},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [(await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode() for _ in range(3)]
        assert re.fullmatch(r"Webhooks: http://127\.0\.0\.1:\d+/gett/\{validateOrder,placeOrder\} "
                            r"\(600 orders a minute\)\n", lines[2]), lines
        await asyncio.wait_for(partner.placed.wait(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()
    assert proc.stderr is not None
    err = (await proc.stderr.read()).decode()
    assert "Traceback" not in err
    for text in (*lines, err):
        assert_no_secret(text)
    assert partner.received[0].kind is WebhookKind.VALIDATE


@pytest.mark.parametrize(
    "argv",
    [
        ["--webhook-url", "https://partner.example.com/gett", "--webhook-secret", "s"],
        ["--webhook-url", "http://127.0.0.1:9/gett"],
        ["--orders-per-minute", "5"],
    ],
)
def test_emulator_subcommand_refuses_bad_webhook_options_in_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GETT_WEBHOOK_SECRET", raising=False)
    assert cli.main(["emulator", "--port", "0", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "webhook" in err and "Traceback" not in err
