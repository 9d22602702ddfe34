"""Malformed inputs are refused before the wire: a GettValidationError naming the field, and
not one request at a running emulator. Plus the same promise for `gett-async replay` lines.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gett_async import GettClient, GettValidationError
from gett_async.cli import main
from gett_async.testing import GettEmulator

ORDER = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
STORE = "6f1c1c6e-9c61-4b0e-9f55-2b8f2f6b8f10"
NAIVE = datetime(2030, 1, 1, 12, 0)
AWARE = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
GOOD_URL = "https://partner.example.com/catalog.json"

Call = Callable[[GettClient], Awaitable[Any]]


def _status(order_id: object = ORDER, **fields: Any) -> Call:
    return lambda gett: gett.orders.update_status(order_id, **fields)  # type: ignore[arg-type]


def _register(**fields: Any) -> Call:
    body = {
        "partner_store_id": "store-1",
        "name": "Pizza Place",
        "catalog_callback_url": GOOD_URL,
        "webhook_url": "https://partner.example.com/hooks/gett",
        **fields,
    }
    return lambda gett: gett.onboarding.register(**body)


async def _track_then(gett: GettClient, order_id: object, move: str, *args: Any, **kwargs: Any) -> Any:
    tracker = gett.orders.track(order_id, status="confirmed")  # type: ignore[arg-type]
    return await getattr(tracker, move)(*args, **kwargs)


# (id, call, the field the error must name)
CASES: list[tuple[str, Call, str]] = [
    # order ids: path traversal, encodings, blanks, sizes, wrong types
    ("order-id-traversal", _status("../../admin", status="confirmed"), "order_id"),
    ("order-id-encoded-traversal", _status("..%2F..%2F", status="confirmed"), "order_id"),
    ("order-id-uuid-then-traversal", _status(f"{ORDER}/../x", status="confirmed"), "order_id"),
    ("order-id-empty", _status("", status="confirmed"), "order_id"),
    ("order-id-space", _status(" ", status="confirmed"), "order_id"),
    ("order-id-10k", _status("a" * 10_000, status="confirmed"), "order_id"),
    ("order-id-int", _status(12345, status="confirmed"), "order_id"),
    ("order-id-none", _status(None, status="confirmed"), "order_id"),
    ("order-id-query", _status(ORDER[:-2] + "?x", status="confirmed"), "order_id"),
    ("order-id-bytes", _status(ORDER.encode(), status="confirmed"), "order_id"),
    # statuses and states
    ("status-cooking", _status(status="cooking"), "status"),
    ("status-PENDING", _status(status="PENDING"), "status"),
    ("status-in_transit", _status(status="in_transit"), "status"),
    ("status-pending", _status(status="pending"), "status"),
    ("status-int", _status(status=5), "status"),
    ("status-list", _status(status=["confirmed"]), "status"),
    ("state-open", _status(state="open"), "state"),
    ("state-unknown", _status(state="closed"), "state"),
    ("status-and-state", _status(status="ready", state="completed"), "status"),
    ("empty-update", _status(), "status"),
    # times
    ("eta-naive", _status(status="confirmed", estimated_ready_at=NAIVE), "estimated_ready_at"),
    ("eta-string", _status(status="confirmed", estimated_ready_at="tomorrow"), "estimated_ready_at"),
    ("eta-on-complete", _status(state="completed", estimated_ready_at=AWARE), "estimated_ready_at"),
    # cancel reasons
    ("cancel-without-reason", _status(state="cancelled"), "cancel_reason"),
    ("cancel-reason-empty", lambda g: g.orders.cancel(ORDER, reason=""), "cancel_reason"),
    ("cancel-reason-whitespace", lambda g: g.orders.cancel(ORDER, reason=" \t\n "), "cancel_reason"),
    ("cancel-reason-5000", lambda g: g.orders.cancel(ORDER, reason="x" * 5000), "cancel_reason"),
    ("cancel-reason-int", _status(state="cancelled", cancel_reason=7), "cancel_reason"),
    ("cancel-reason-without-cancel", _status(status="ready", cancel_reason="Out of stock"), "cancel_reason"),
    ("cancel-reason-with-complete", _status(state="completed", cancel_reason="Out of stock"), "cancel_reason"),
    # the tracker refuses the same, and illegal moves, before any I/O
    ("tracker-bad-id", lambda g: _track_then(g, "../../admin", "mark_ready"), "order_id"),
    ("tracker-backward", lambda g: _track_then(g, ORDER, "advance", "pending"), "status"),
    ("tracker-complete-before-ready", lambda g: _track_then(g, ORDER, "complete"), "status"),
    ("tracker-cancel-blank", lambda g: _track_then(g, ORDER, "cancel", "  "), "cancel_reason"),
    ("tracker-eta-naive", lambda g: _track_then(g, ORDER, "update_eta", NAIVE), "estimated_ready_at"),
    # catalog
    (
        "catalog-ftp",
        lambda g: g.catalog.notify_update("ftp://partner.example.com/c.json", store_id="s1"),
        "callback_url",
    ),
    ("catalog-relative", lambda g: g.catalog.notify_update("/catalog.json", store_id="s1"), "callback_url"),
    ("catalog-javascript", lambda g: g.catalog.notify_update("javascript:alert(1)", store_id="s1"), "callback_url"),
    ("catalog-scheme-relative", lambda g: g.catalog.notify_update("//evil.example/c", store_id="s1"), "callback_url"),
    ("catalog-space", lambda g: g.catalog.notify_update("https://exa mple.com/c", store_id="s1"), "callback_url"),
    ("catalog-bad-ipv6", lambda g: g.catalog.notify_update("http://[::1/c.json", store_id="s1"), "callback_url"),
    ("catalog-url-3000", lambda g: g.catalog.notify_update(GOOD_URL + "?" + "x" * 3000, store_id="s1"), "callback_url"),
    ("catalog-blank-store", lambda g: g.catalog.notify_update(GOOD_URL, store_id="  "), "store_id"),
    ("catalog-long-store", lambda g: g.catalog.notify_update(GOOD_URL, store_id="s" * 129), "store_id"),
    # store status
    ("pause-without-reason", lambda g: g.store_status.update(STORE, status="paused"), "reason"),
    ("store-status-unknown", lambda g: g.store_status.update(STORE, status="closed"), "status"),
    ("pause-reason-unknown", lambda g: g.store_status.pause(STORE, "lunch"), "reason"),
    ("online-with-reason", lambda g: g.store_status.update(STORE, status="online", reason="other"), "reason"),
    ("pause-resume-naive", lambda g: g.store_status.pause(STORE, "other", resume_at=NAIVE), "resume_at"),
    (
        "pause-resume-past",
        lambda g: g.store_status.pause(STORE, "other", resume_at=datetime.now(timezone.utc) - timedelta(hours=1)),
        "resume_at",
    ),
    ("store-status-traversal", lambda g: g.store_status.pause("../../admin", "other"), "store_id"),
    # stores
    ("store-get-traversal", lambda g: g.stores.get(f"{STORE}/../x"), "store_id"),
    ("store-update-empty", lambda g: g.stores.update(STORE), "store"),
    ("store-update-logo-js", lambda g: g.stores.update(STORE, logo_url="javascript:alert(1)"), "logo_url"),
    ("store-update-blank-name", lambda g: g.stores.update(STORE, name="   "), "name"),
    # onboarding: ids whose format is undocumented must still be one safe path segment
    ("onboarding-traversal", lambda g: g.onboarding.get("../../admin"), "onboarding_id"),
    ("onboarding-dotdot", lambda g: g.onboarding.activate(".."), "onboarding_id"),
    ("onboarding-slash", lambda g: g.onboarding.cancel("a/b"), "onboarding_id"),
    ("onboarding-percent", lambda g: g.onboarding.get("%2e%2e"), "onboarding_id"),
    ("onboarding-query", lambda g: g.onboarding.get("abc?admin=1"), "onboarding_id"),
    ("onboarding-newline", lambda g: g.onboarding.get("abc\r\nX-Evil: 1"), "onboarding_id"),
    ("onboarding-empty", lambda g: g.onboarding.get(""), "onboarding_id"),
    ("onboarding-int", lambda g: g.onboarding.get(42), "onboarding_id"),  # type: ignore[arg-type]
    ("register-blank-name", _register(name=" "), "name"),
    ("register-webhook-ftp", _register(webhook_url="ftp://partner.example.com/hook"), "webhook_url"),
    ("register-catalog-relative", _register(catalog_callback_url="catalog.json"), "catalog_callback_url"),
    ("register-extra-clash", _register(extra={"name": "Other"}), "extra"),
]


@pytest.fixture
async def emu() -> AsyncIterator[GettEmulator]:
    async with GettEmulator(auto_create_orders=True) as emulator:
        yield emulator


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("call", "field"), [pytest.param(c, f, id=i) for i, c, f in CASES])
async def test_refused_before_the_wire(emu: GettEmulator, call: Call, field: str) -> None:
    async with GettClient(api_key=emu.api_key, base_url=emu.url) as gett:
        with pytest.raises(GettValidationError) as caught:
            await call(gett)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert len(emu.requests) == 0
    assert emu.stats.requests == 0


@pytest.mark.parametrize(
    "base_url", ["ftp://127.0.0.1", "http://[::1", "http://example.com", "127.0.0.1:8080", "http://u:p@127.0.0.1"]
)
def test_bad_base_urls_are_refused(base_url: str) -> None:
    with pytest.raises(GettValidationError) as caught:
        GettClient(api_key="zpka_test_x", base_url=base_url)
    assert caught.value.field == "base_url"


async def test_emulator_refuses_a_malformed_url_with_a_422(emu: GettEmulator) -> None:
    """The emulator's own checks (not the SDK's) must answer, not crash, on a raw bad URL."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{emu.url}{emu.paths.catalog_notification}",
            params={"storeId": "s1"},
            json={"callbackUrl": "http://[::1/c.json"},
            headers=headers,
        ) as resp,
    ):
        body = await resp.json(content_type=None)
    assert resp.status == 422
    assert body["errors"][0]["jsonPath"] == "$.callbackUrl"
    assert emu.stats.validation_failures == 1


# -- replay: lines that never become requests -----------------------------------------------------

NAIVE_TEXT = "2030-01-01T12:00:00"


def _line(**fields: Any) -> str:
    return json.dumps({"orderId": ORDER, **fields})


REPLAY_LINES: list[tuple[str, bytes, str]] = [
    ("not-json", b"this is not json", "not JSON"),
    ("truncated-json", b'{"orderId": "', "not JSON"),
    ("single-quotes", b"{'orderId': 'x'}", "not JSON"),
    ("json-array", b'[{"orderId": "x"}]', "not a JSON object but list"),
    ("json-string", b'"confirmed"', "not a JSON object but str"),
    ("json-number", b"42", "not a JSON object but int"),
    ("json-null", b"null", "not a JSON object but NoneType"),
    ("not-utf8", b'{"orderId": "\xff\xfe"}', "not UTF-8 text"),
    ("unknown-key", _line(status="confirmed", note="x").encode(), "unknown field(s) note"),
    ("snake-case-key", _line(status="confirmed", estimated_ready_at="x").encode(), "unknown field(s)"),
    ("order-id-traversal", json.dumps({"orderId": "../../admin", "status": "confirmed"}).encode(), "orderId"),
    ("order-id-int", json.dumps({"orderId": 7, "status": "confirmed"}).encode(), "orderId"),
    ("order-id-missing", b'{"status": "confirmed"}', "orderId"),
    ("status-cooking", _line(status="cooking").encode(), "status"),
    ("status-pending", _line(status="pending").encode(), "status"),
    ("state-open", _line(state="open").encode(), "state"),
    ("eta-naive", _line(status="confirmed", estimatedReadyAt=NAIVE_TEXT).encode(), "estimatedReadyAt"),
    ("eta-word", _line(status="confirmed", estimatedReadyAt="tomorrow").encode(), "estimatedReadyAt"),
    ("eta-bad-month", _line(status="confirmed", estimatedReadyAt="2030-13-01T12:00:00Z").encode(), "estimatedReadyAt"),
    ("eta-number", _line(status="confirmed", estimatedReadyAt=1893499200).encode(), "estimatedReadyAt"),
    ("reason-without-cancel", _line(status="ready", cancelReason="x").encode(), "cancelReason"),
    ("reason-blank", _line(state="cancelled", cancelReason="   ").encode(), "cancelReason"),
    ("reason-5000", _line(state="cancelled", cancelReason="x" * 5000).encode(), "cancelReason"),
    ("cancel-without-reason", _line(state="cancelled").encode(), "cancelReason"),
    ("asks-for-nothing", _line().encode(), "asks for nothing"),
    ("complete-while-pending", _line(state="completed").encode(), "cannot go from pending to completed"),
]


@pytest.mark.parametrize(("raw", "why"), [pytest.param(r, w, id=i) for i, r, w in REPLAY_LINES])
async def test_replay_refuses_a_malformed_line(
    emu: GettEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    raw: bytes,
    why: str,
) -> None:
    source, out = tmp_path / "events.jsonl", tmp_path / "outcomes.jsonl"
    source.write_bytes(b"\n" + raw + b"\n\n")  # blank lines around it are skipped, not counted
    monkeypatch.setenv("GETT_API_KEY", emu.api_key)
    argv = ["replay", str(source), "--out", str(out), "--base-url", emu.url, "--no-progress"]
    code = await asyncio.to_thread(main, argv)
    assert code == 1
    assert capsys.readouterr().out == "sent=0 refused=1 failed=0 superseded=0\n"
    [record] = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert record["line"] == 2
    assert record["kind"] == "refused"
    assert why in record["error"]
    assert len(emu.requests) == 0
