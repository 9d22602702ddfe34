"""GettEmulator: the Commerce Partner API on aiohttp.web, in-process, over real sockets.

Each request goes through the same stages, in the order a real gateway would apply them::

    auth (401) -> rate limit (429) -> request checks (bare 404 / 422)
        -> injected fault or latency -> effect on the in-memory world (404 / 409 / 2xx)

so faults never hit a request that fails auth or validation, and a ``drop_before`` never
changes anything while a ``drop_after`` always does.

Given a ``webhook_url`` (loopback only) and a ``webhook_secret``, it also plays Gett's other
half: `GettEmulator.place_order` creates an order and sends the partner signed
``validateOrder`` and ``placeOrder`` webhooks, retried on Gett's schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from types import MappingProxyType, TracebackType
from typing import Any

from aiohttp import web

from .._core import validate as _validate
from .._core.paths import ApiPaths
from ..errors import GettValidationError
from ..webhooks import WebhookKind, WebhookPaths
from ._checks import is_uuid
from ._faults import FaultConfig, FaultInjector
from ._operations import UNKNOWN, Operation, invalid_json, operations, unknown_route
from ._problems import ApiProblem, BareNotFound, new_request_id, render
from ._ratelimit import Quota, RateLimiter
from ._ratelimit import headers as rate_headers
from ._records import (
    DROPPED,
    CatalogNotification,
    EmulatedOnboarding,
    EmulatedOrder,
    EmulatedStore,
    EmulatorStats,
    RequestRecord,
)
from ._state import World, new_id
from ._webhooks import WebhookDelivery, WebhookSender, order_payload

log = logging.getLogger("gett_async.testing")

__all__ = ["GettEmulator", "serve_forever"]

_INJECTED_ERRORS: Mapping[str, tuple[int, str, str, str]] = {
    "error_500": (500, "INTERNAL_ERROR", "server_error", "An unexpected error occurred (injected)."),
    "error_502": (502, "BAD_GATEWAY", "server_error", "The upstream service did not answer (injected)."),
    "error_503": (503, "SERVICE_UNAVAILABLE", "availability", "The service is unavailable (injected)."),
    "error_429": (429, "RATE_LIMITED", "rate_limit", "Rate limit exceeded (injected)."),
}


def _seconds(value: float) -> float:
    # retryAfter is an integer in Gett's examples; keep whole numbers looking like one.
    return int(value) if float(value).is_integer() else value


async def _read_json(request: web.Request) -> tuple[Any, str | None]:
    """The parsed body (None if empty) and, for a body that is not JSON, why."""
    if not request.body_exists:
        return None, None
    raw = await request.read()
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, str(exc)


class GettEmulator:
    """An in-memory Gett Commerce Partner API listening on ``host`` (127.0.0.1 by default).

    Use ``async with GettEmulator() as emu:`` (or ``await emu.start()`` / ``await emu.stop()``)
    and point a client at ``emu.url`` with ``emu.api_key``. Budgets of ``None`` or ``0`` are
    unlimited. Windows are fixed and aligned unless ``sliding_window``: then no rolling window
    of ``window_seconds`` ever holds more than the budget, and ``X-RateLimit-Reset`` is when
    the oldest counted request leaves it. ``clock`` (Unix seconds) drives rate-limit windows,
    onboarding progress and every recorded time, so tests can move time without sleeping.

    With ``webhook_url`` (a loopback Webhook Base URL) and ``webhook_secret``, `place_order`
    sends signed webhooks there, and ``orders_per_minute`` places orders on its own while
    running. Failed deliveries are retried after Gett's 30 s, 2 min, 10 min and 1 h, each
    multiplied by ``webhook_retry_scale`` (e.g. 0.001 in tests).

    ``stores`` seeds that many live stores ("Store 1", ...). ``onboarding_step_seconds`` moves
    each onboarding one stage per that many seconds (0: every stage at once, so it is ready at
    the first read after registering; None: only `advance_onboarding` moves it). Every answer
    carries an ``X-Request-Id`` header (in a problem body, ``requestId`` too). Refuses
    (GettValidationError) a negative ``stores`` or ``onboarding_step_seconds``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        faults: FaultConfig | None = None,
        seed: int | None = None,
        reads_per_window: int | None = 1000,
        writes_per_window: int | None = 100,
        window_seconds: float | None = 60.0,
        sliding_window: bool = False,
        auto_create_orders: bool = False,
        onboarding_step_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        paths: ApiPaths | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | bytes | None = None,
        webhook_paths: WebhookPaths | None = None,
        webhook_retry_scale: float = 1.0,
        webhook_timeout: float = 10.0,
        orders_per_minute: float | None = None,
        stores: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key if api_key is not None else "zpka_test_" + secrets.token_hex(16)
        self.paths = paths if paths is not None else ApiPaths()
        self.clock = clock
        self.stats = EmulatorStats()
        #: Every request received, in arrival-completion order.
        self.requests: list[RequestRecord] = []
        self._authorization = f"Bearer {self.api_key}"
        self._limiter = RateLimiter(reads_per_window, writes_per_window, window_seconds, sliding=sliding_window)
        self._injector = FaultInjector(faults or FaultConfig(), seed)
        if onboarding_step_seconds is not None:
            onboarding_step_seconds = _validate.finite(
                "onboarding_step_seconds", onboarding_step_seconds, allow_zero=True, unit="seconds"
            )
        self._world = World(
            self.stats,
            auto_create_orders=auto_create_orders,
            # 0 means "no time at all": the World reads 0 as "never", so it gets the smallest
            # step that still leaves the register answer itself at the first stage.
            onboarding_step_seconds=onboarding_step_seconds or (None if onboarding_step_seconds is None else 1e-9),
        )
        self._runner: web.AppRunner | None = None
        #: Every webhook attempt made, in the order they were answered.
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.webhook_paths = webhook_paths or WebhookPaths()
        self.webhook_retry_scale = _validate.finite(
            "webhook_retry_scale", webhook_retry_scale, allow_zero=True, unit="a factor of Gett's waits"
        )
        self.webhook_timeout = _validate.seconds("webhook_timeout", webhook_timeout)
        self.orders_per_minute = (
            _validate.finite("orders_per_minute", orders_per_minute, unit="a number of orders")
            if orders_per_minute else None
        )
        self._sender: WebhookSender | None = None
        self._placing: set[asyncio.Task[Any]] = set()
        for number in range(1, _validate.whole("stores", stores, minimum=0) + 1):
            self.add_store(f"Store {number}", timezone="Europe/London", description=f"Seeded store {number}")
        if webhook_url is not None or webhook_secret is not None:
            self.set_webhook(webhook_url, webhook_secret)
        elif self.orders_per_minute:
            raise GettValidationError("orders_per_minute", "needs a webhook_url and a webhook_secret to send orders to")

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Listen on ``host``:``port`` (a free port when 0) in the running loop."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application()
        for op in operations(self._world, self.paths):
            app.router.add_route(op.method, op.path, self._handler(op))
        catch_all = Operation(UNKNOWN, "*", "/{tail:.*}", unknown_route, _unreachable)
        app.router.add_route("*", "/{tail:.*}", self._handler(catch_all))
        # A short shutdown grace: in-flight requests are test traffic, not user data.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = int(runner.addresses[0][1])
        self._runner = runner
        if self.orders_per_minute:
            self._spawn(self._place_at_rate(60.0 / self.orders_per_minute))

    async def stop(self) -> None:
        """Stop placing orders and listening, and close every connection (idempotent)."""
        placing = list(self._placing)
        for task in placing:
            task.cancel()
        await asyncio.gather(*placing, return_exceptions=True)
        if self._sender is not None:
            await self._sender.aclose()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> GettEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- the request pipeline -------------------------------------------------------------

    def _handler(self, op: Operation) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(op, request)

        return handle

    async def _dispatch(self, op: Operation, request: web.Request) -> web.StreamResponse:
        now = self.clock()
        stats = self.stats
        stats.requests += 1
        request_id = new_request_id()
        is_write = request.method != "GET"
        body, bad_json = await _read_json(request)
        fault: str | None = None
        quota: Quota | None = None
        try:
            if op.name == UNKNOWN:
                # Before auth and the budget: a mistyped path answers what is wrong with it.
                op.validate(request, body)
            if request.headers.get("Authorization") != self._authorization:
                stats.unauthenticated += 1
                raise ApiProblem(
                    401,
                    "UNAUTHENTICATED",
                    "authentication",
                    "Authentication required. Provide a valid API key (Bearer zpka_...).",
                )
            quota = self._limiter.take(is_write, now)
            if not quota.allowed:
                stats.rate_limited += 1
                kind = "write" if is_write else "read"
                raise ApiProblem(
                    429,
                    "RATE_LIMITED",
                    "rate_limit",
                    f"The {kind} rate limit is spent; retry after {quota.retry_after} s.",
                    retryable=True,
                    retry_after=quota.retry_after,
                )
            if bad_json is not None:
                invalid_json(bad_json)
            payload = op.validate(request, body)
            injector = self._injector
            if injector.applies_to(is_write):
                fault = injector.draw()
                delay = injector.delay()
                if delay > 0:
                    stats.faults["latency"] = stats.faults.get("latency", 0) + 1
                    await asyncio.sleep(delay)
                if fault is not None:
                    stats.faults[fault] = stats.faults.get(fault, 0) + 1
                    if fault in _INJECTED_ERRORS:
                        if fault == "error_429":
                            # Only real limits spend budget; an injected 429 gives its unit back.
                            self._limiter.refund(is_write, now)
                            quota = None
                        raise self._injected(fault)
                    if fault == "drop_before":
                        return self._drop(request, op, body, now, fault)
            try:
                response = op.apply(payload, self.clock())
            except ApiProblem as problem:
                response = render(problem, request.path, now, request_id)
            if fault == "drop_after":
                return self._drop(request, op, body, now, fault)
        except ApiProblem as problem:
            if problem.status == 422:
                stats.validation_failures += 1
            response = render(problem, request.path, now, request_id)
            if problem.retry_after is not None and problem.status == 429:
                response.headers["Retry-After"] = str(math.ceil(problem.retry_after))
        except BareNotFound:
            response = web.Response(status=404)
        if quota is None:
            quota = self._limiter.peek(is_write, now)
        response.headers.update(rate_headers(quota))
        response.headers["X-Request-Id"] = request_id
        self.requests.append(
            RequestRecord(request.method, request.path, op.name, dict(request.query), body, response.status, now, fault)
        )
        return response

    def _injected(self, fault: str) -> ApiProblem:
        status, code, category, detail = _INJECTED_ERRORS[fault]
        retry_after = None
        if status in (429, 503):
            retry_after = _seconds(self._injector.config.fault_retry_after)
        return ApiProblem(status, code, category, detail, retryable=True, retry_after=retry_after)

    def _drop(self, request: web.Request, op: Operation, body: Any, now: float, fault: str) -> web.StreamResponse:
        # Closing the transport makes aiohttp discard whatever the handler returns, so the
        # client sees the connection end with no response (ServerDisconnectedError).
        transport = request.transport
        if transport is not None:
            transport.close()
        self.requests.append(
            RequestRecord(request.method, request.path, op.name, dict(request.query), body, DROPPED, now, fault)
        )
        return web.Response(status=500)

    # -- configuration and inspection -----------------------------------------------------

    @property
    def faults(self) -> FaultConfig:
        """The fault configuration in force."""
        return self._injector.config

    def set_faults(self, faults: FaultConfig | None, *, seed: int | None = None) -> None:
        """Replace the fault configuration (``None`` turns faults off), reseeding the draws."""
        self._injector = FaultInjector(faults or FaultConfig(), seed)

    def reset_records(self) -> None:
        """Clear ``requests``, ``catalog_notifications`` and every ``stats`` counter."""
        self.requests.clear()
        self._world.catalog_notifications.clear()
        self.stats.reset()

    @property
    def catalog_notifications(self) -> list[CatalogNotification]:
        """Accepted Notify Catalog Update calls, oldest first."""
        return self._world.catalog_notifications

    # orders

    def create_order(
        self,
        status: str = "pending",
        *,
        order_id: str | None = None,
        estimated_ready_at: datetime | None = None,
    ) -> str:
        """Create an order as Gett does (at ``pending`` by default); returns its uuid."""
        if order_id is not None and not is_uuid(order_id):
            raise ValueError(f"order_id must be a UUID, got {order_id!r}")
        order_id = order_id.lower() if order_id is not None else new_id()
        return self._world.create_order(order_id, status, self.clock(), estimated_ready_at)

    def order(self, order_id: str) -> EmulatedOrder:
        """The order's current snapshot (``position``, ``history``, ...); KeyError if unknown."""
        return self._world.orders[order_id.lower()]

    @property
    def orders(self) -> Mapping[str, EmulatedOrder]:
        """Every order by id (read-only view)."""
        return MappingProxyType(self._world.orders)

    # webhooks: Gett placing orders with the partner

    def set_webhook(self, url: str | None, secret: str | bytes | None) -> None:
        """Send webhooks to ``url`` (the Webhook Base URL) signed with ``secret``.

        Refuses (GettValidationError) a URL that is not http(s) on a loopback host, and a
        missing or empty secret. The secret is never shown in a repr or a record.
        """
        if url is None or secret is None:
            raise GettValidationError("webhook_url", "webhooks need both a webhook_url and a webhook_secret")
        if self._sender is not None and self._placing:
            raise RuntimeError("cannot change the webhook target while orders are being placed")
        self._sender = WebhookSender(url, secret, records=self.webhook_deliveries)

    @property
    def webhook_url(self) -> str | None:
        """The Webhook Base URL orders are sent to, if any."""
        return None if self._sender is None else self._sender.url

    async def place_order(self, store_id: str | None = None, **fields: Any) -> str:
        """Create an order at ``pending`` and send ``validateOrder`` then ``placeOrder``; its id.

        ``fields`` (camelCase payload members, e.g. ``items=[...]``) replace the defaults of
        the [INFERRED] payload. Returns once both webhooks are answered or their retries are
        spent. An order the partner refused at validation (a final non-2xx) is not placed and
        is cancelled, as is one whose ``placeOrder`` was never accepted; every attempt is in
        ``webhook_deliveries``. Refuses a non-UUID ``store_id``; RuntimeError when the emulator
        is not running or has no webhook target.
        """
        sender = self._sender
        if sender is None or self._runner is None:
            raise RuntimeError("place_order needs a running emulator with a webhook_url and webhook_secret")
        if store_id is not None and not is_uuid(store_id):
            raise ValueError(f"store_id must be a UUID, got {store_id!r}")
        order_id = self.create_order()
        payload = order_payload(order_id, store_id and store_id.lower(), self.clock(), fields)
        for kind in (WebhookKind.VALIDATE, WebhookKind.PLACE):
            delivery = await sender.deliver(
                kind, self.webhook_paths, order_id, payload, clock=self.clock, retry_scale=self.webhook_retry_scale,
                timeout=self.webhook_timeout,
            )  # fmt: skip
            if not delivery.ok:
                answer = "no answer" if delivery.status is None else f"HTTP {delivery.status}"
                self._world.cancel_unplaced(order_id, f"{kind.value} was not accepted by the partner ({answer})")
                break
        return order_id

    async def _place_at_rate(self, interval: float) -> None:
        while True:
            self._spawn(self.place_order())
            await asyncio.sleep(interval)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(work)
        self._placing.add(task)
        task.add_done_callback(self._placed)

    def _placed(self, task: asyncio.Task[Any]) -> None:
        self._placing.discard(task)
        with contextlib.suppress(asyncio.CancelledError):
            if task.exception() is not None:
                log.error("placing an order failed", exc_info=task.exception())

    # stores

    def add_store(
        self,
        name: str = "Test Store",
        *,
        store_id: str | None = None,
        status: str = "online",
        reason: str | None = None,
        address: Mapping[str, str] | None = None,
        phone: str | None = None,
        timezone: str | None = None,
        logo_url: str | None = None,
        description: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """Add a live store (``extra``: further camelCase members); returns its uuid."""
        if store_id is not None and not is_uuid(store_id):
            raise ValueError(f"store_id must be a UUID, got {store_id!r}")
        if status not in ("online", "paused"):
            raise ValueError(f"status must be online or paused, got {status!r}")
        store = EmulatedStore(
            store_id=store_id.lower() if store_id is not None else new_id(),
            name=name,
            address=dict(address) if address is not None else None,
            phone=phone,
            timezone=timezone,
            logo_url=logo_url,
            description=description,
            status=status,
            reason=(reason or "other") if status == "paused" else None,
            extra=dict(extra or {}),
        )
        return self._world.add_store(store)

    def store(self, store_id: str) -> EmulatedStore:
        """The store's current snapshot; KeyError if unknown."""
        try:
            return self._world.store(store_id.lower(), self.clock())
        except ApiProblem:
            raise KeyError(store_id) from None

    @property
    def stores(self) -> tuple[EmulatedStore, ...]:
        """Every store, oldest first."""
        return tuple(self._world.all_stores(self.clock()))

    # onboarding

    def onboarding(self, onboarding_id: str) -> EmulatedOnboarding:
        """The onboarding's snapshot as of now; KeyError if unknown (or cancelled)."""
        try:
            return self._world.onboarding(onboarding_id, self.clock())
        except ApiProblem:
            raise KeyError(onboarding_id) from None

    @property
    def onboardings(self) -> tuple[EmulatedOnboarding, ...]:
        """Every onboarding not cancelled, oldest first."""
        now = self.clock()
        return tuple(self._world.onboarding(each, now) for each in list(self._world.onboardings))

    def advance_onboarding(self, onboarding_id: str | None = None, *, steps: int = 1) -> None:
        """Move every onboarding (or one) ``steps`` stages: pending_catalog -> catalog_ingesting
        -> ready_to_activate (or catalog_failed when the catalog URL contains "fail")."""
        try:
            self._world.advance_onboarding(onboarding_id, steps, self.clock())
        except ApiProblem:
            raise KeyError(onboarding_id) from None


def _unreachable(payload: Any, now: float) -> web.Response:
    raise AssertionError("unknown routes are refused before they are applied")


async def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    out: Callable[[str], None] = print,
    **options: Any,
) -> None:
    """Run an emulator until cancelled (Ctrl-C), printing its URL and API key first.

    ``options`` are GettEmulator keyword arguments (faults, seed, budgets, webhooks, ...).
    """
    async with GettEmulator(host=host, port=port, **options) as emu:
        out(f"Gett Commerce API emulator listening on {emu.url}")
        out(f"API key: {emu.api_key}")
        for store in emu.stores:
            out(f"Store: {store.store_id} ({store.name}, {store.status})")
        if emu.webhook_url is not None:
            rate = f"{emu.orders_per_minute:g} orders a minute" if emu.orders_per_minute else "no orders on its own"
            out(f"Webhooks: {emu.webhook_url}/{{{emu.webhook_paths.validate},{emu.webhook_paths.place}}} ({rate})")
        await asyncio.Event().wait()
