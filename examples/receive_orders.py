"""A partner service on aiohttp.web: receive Gett's orders, cook them, report every step to Gett.

The whole loop of a commerce integration: ``placeOrder`` comes in (verified), the order
becomes an `OrderTracker` at ``pending``, and a stand-in kitchen pushes it through
``confirmed`` -> ``preparing`` -> ``ready`` -> ``completed``.

Run it against the emulator (two terminals)::

    gett-async emulator --port 8080 --api-key local-key --webhook-url http://127.0.0.1:8081/gett \\
        --webhook-secret local-secret --orders-per-minute 6
    GETT_API_KEY=local-key GETT_BASE_URL=http://127.0.0.1:8080 GETT_WEBHOOK_SECRET=local-secret \\
        python examples/receive_orders.py

It listens on 127.0.0.1:8081 (``PORT`` to change it); Gett's webhooks arrive under ``/gett``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from gett_async import GettClient, GettError, OrderTracker
from gett_async.webhooks import WebhookHandlerError, WebhookReceiver, WebhookRequest

log = logging.getLogger("receive_orders")


class Kitchen:
    """Stands in for the POS: cooks each accepted order, reporting each step through its tracker."""

    def __init__(self, gett: GettClient, step_seconds: float) -> None:
        self.gett = gett
        self.step_seconds = step_seconds
        self.trackers: dict[str, OrderTracker] = {}  # a real service keeps tracker.snapshot() in its database
        self._cooking: set[asyncio.Task[None]] = set()

    def accept(self, request: WebhookRequest) -> OrderTracker:
        """Start cooking a placed order once, however often Gett delivers it."""
        assert request.order_id is not None
        tracker = self.trackers.get(request.order_id)
        if tracker is None:
            tracker = self.trackers[request.order_id] = request.track(self.gett)
            task = asyncio.create_task(self._cook(tracker))
            self._cooking.add(task)
            task.add_done_callback(self._cooking.discard)
        return tracker

    async def _cook(self, tracker: OrderTracker) -> None:
        try:
            ready_at = datetime.now(timezone.utc) + timedelta(seconds=3 * self.step_seconds)
            await tracker.confirm(estimated_ready_at=ready_at)
            await asyncio.sleep(self.step_seconds)  # the kitchen at work
            await tracker.start_preparing()
            await asyncio.sleep(self.step_seconds)
            await tracker.mark_ready()
            await asyncio.sleep(self.step_seconds)
            await tracker.complete()
        except GettError as exc:  # refused locally, or Gett stayed unavailable through the retries
            log.error("order %s stopped at %s: %s", tracker.order_id, tracker.position, exc)

    async def drain(self) -> None:
        """Wait until every order accepted so far is done cooking."""
        while self._cooking:
            await asyncio.gather(*self._cooking)

    async def close(self) -> None:
        for task in self._cooking:
            task.cancel()
        await asyncio.gather(*self._cooking, return_exceptions=True)


KITCHEN = web.AppKey("kitchen", Kitchen)


def make_app(*, secret: str | None = None, step_seconds: float = 5.0) -> web.Application:
    """The service: Gett's webhooks under /gett. The key and Gett's URL come from GETT_API_KEY /
    GETT_BASE_URL, the webhook secret from ``secret`` or GETT_WEBHOOK_SECRET."""
    app = web.Application()

    async def on_validate(request: WebhookRequest) -> dict[str, Any]:
        # A real POS checks stock and prices here; this kitchen takes everything as priced.
        if not isinstance(request.payload, dict):
            raise WebhookHandlerError(422, "The order is not a JSON object.")
        return {"amounts": request.payload.get("amounts", {})}

    async def on_place(request: WebhookRequest) -> dict[str, Any]:
        if request.order_id is None:
            raise WebhookHandlerError(422, "The order carries no order id.")
        tracker = app[KITCHEN].accept(request)
        return {"partnerOrderId": f"kitchen-{tracker.order_id[:8]}"}

    receiver = WebhookReceiver(
        secret or os.environ["GETT_WEBHOOK_SECRET"], on_validate=on_validate, on_place=on_place
    )

    async def gett_and_kitchen(app: web.Application) -> AsyncIterator[None]:
        async with GettClient() as gett:
            app[KITCHEN] = Kitchen(gett, step_seconds)
            yield
            await app[KITCHEN].close()

    app.cleanup_ctx.append(gett_and_kitchen)
    app.add_routes(receiver.aiohttp_routes("/gett"))
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8081")))
