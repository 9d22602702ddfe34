"""The eleven operations: for each, a check of the request (before any fault is injected)
and the effect on the World (after). Status codes where Gett's are unknown are documented
in docs/EMULATOR.md."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from aiohttp import web

from .._core.lifecycle import OPEN_STATUSES
from .._core.paths import ApiPaths
from ._checks import Body, path_uuid
from ._problems import not_found, validation_failed
from ._records import CatalogNotification
from ._state import (
    OrderUpdateRequest,
    World,
    onboarding_json,
    store_json,
    store_status_json,
)

Validate = Callable[[web.Request, Any], Any]

#: The name of the catch-all route: every path and method outside the eleven operations.
UNKNOWN = "unknown"
Apply = Callable[[Any, float], web.Response]

_STORE_STATUS = ("online", "paused")
_PAUSE_REASONS = ("operational_issues", "staff_shortage", "too_busy", "maintenance", "other")
_ADDRESS = ("street", "city", "state", "postalCode", "country")
_STORE_UPDATE = ("name", "phone", "logoUrl", "description")
#: Store members Gett has (Register Store documents them) but Update Store does not list: the
#: emulator takes them on an update too, as a partner's ``extra_body`` would send them.
_STORE_FLAGS = ("deliveryAllowed", "pickupAllowed")
_NEVER_PENDING = {"pending": "pending is set by Gett when the order is created and is never sent"}
_NEVER_OPEN = {"open": "an order is opened by Gett; send a status for progress"}


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A compact ``application/json`` response."""
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@attrs.frozen(slots=True)
class Operation:
    """One route: its name (an ApiPaths field), method, template and two phases."""

    name: str
    method: str
    path: str
    validate: Validate
    apply: Apply

    @property
    def is_write(self) -> bool:
        """POST, PUT and DELETE spend the write budget; GET the read budget."""
        return self.method != "GET"


def operations(world: World, paths: ApiPaths) -> list[Operation]:
    """Every operation of the Commerce API, bound to ``world``."""
    ops = _Ops(world, paths)
    return [
        Operation("catalog_notification", "POST", paths.catalog_notification, ops.v_catalog, ops.catalog),
        Operation("stores", "GET", paths.stores, _no_check, ops.list_stores),
        Operation("store", "GET", paths.store, _store_id, ops.get_store),
        Operation("store", "PUT", paths.store, ops.v_update_store, ops.update_store),
        Operation("store_status", "GET", paths.store_status, _store_id, ops.get_store_status),
        Operation("store_status", "POST", paths.store_status, ops.v_store_status, ops.set_store_status),
        Operation("order_status", "POST", paths.order_status, ops.v_order, ops.update_order),
        Operation("onboarding", "POST", paths.onboarding, ops.v_register, ops.register),
        Operation("onboarding_item", "GET", paths.onboarding_item, _onboarding_id, ops.get_onboarding),
        Operation("onboarding_item", "DELETE", paths.onboarding_item, _onboarding_id, ops.cancel),
        Operation("onboarding_activate", "POST", paths.onboarding_activate, _onboarding_id, ops.activate),
    ]


def _no_check(request: web.Request, body: Any) -> None:
    return None


def _store_id(request: web.Request, body: Any) -> str:
    return path_uuid(request.match_info["store_id"])


def _onboarding_id(request: web.Request, body: Any) -> str:
    # The onboarding id's format is undocumented, so an unknown one is a plain NOT_FOUND.
    return request.match_info["onboarding_id"]


class _Ops:
    __slots__ = ("paths", "world")

    def __init__(self, world: World, paths: ApiPaths) -> None:
        self.world = world
        self.paths = paths

    # -- catalog --------------------------------------------------------------------------

    def v_catalog(self, request: web.Request, body: Any) -> tuple[str, str]:
        store_id = request.query.get("storeId", "")
        checks = Body(body, ("callbackUrl",))
        url = checks.url("callbackUrl", required=True)
        if not store_id.strip():
            # A query parameter has no JSON path; name it instead.
            checks.errors.append(
                {"code": "REQUIRED", "message": "query parameter storeId is required", "parameter": "storeId"}
            )
        checks.done()
        assert url is not None
        return store_id, url

    def catalog(self, payload: tuple[str, str], now: float) -> web.Response:
        store_id, url = payload
        self.world.catalog_notifications.append(CatalogNotification(store_id, url, now))
        return web.Response(status=202)

    # -- stores ---------------------------------------------------------------------------

    def list_stores(self, payload: None, now: float) -> web.Response:
        return json_response({"stores": [store_json(s) for s in self.world.all_stores(now)]})

    def get_store(self, store_id: str, now: float) -> web.Response:
        return json_response(store_json(self.world.store(store_id, now)))

    def v_update_store(self, request: web.Request, body: Any) -> tuple[str, dict[str, Any]]:
        store_id = _store_id(request, body)
        checks = Body(body, (*_STORE_UPDATE, *_STORE_FLAGS))
        changes = {
            "name": checks.string("name"),
            "phone": checks.string("phone"),
            "logoUrl": checks.url("logoUrl"),
            "description": checks.string("description", blank=True),
            **{flag: checks.boolean(flag) for flag in _STORE_FLAGS},
        }
        checks.done()
        return store_id, {key: value for key, value in changes.items() if value is not None}

    def update_store(self, payload: tuple[str, dict[str, Any]], now: float) -> web.Response:
        store_id, changes = payload
        documented = {key: value for key, value in changes.items() if key in _STORE_UPDATE}
        store = self.world.update_store(store_id, documented, now)
        flags = {key: value for key, value in changes.items() if key in _STORE_FLAGS}
        if flags:  # kept with the store's other undocumented members, and sent back with it
            store = attrs.evolve(store, extra={**store.extra, **flags})
            self.world.stores[store_id] = store
        return json_response(store_json(store))

    def get_store_status(self, store_id: str, now: float) -> web.Response:
        return json_response(store_status_json(self.world.store(store_id, now)))

    def v_store_status(self, request: web.Request, body: Any) -> tuple[Any, ...]:
        store_id = _store_id(request, body)
        checks = Body(body, ("status", "reason", "resumeAt"))
        status = checks.enum("status", _STORE_STATUS, required=True)
        reason = checks.enum("reason", _PAUSE_REASONS)
        resume_at = checks.timestamp("resumeAt")
        if status == "paused" and reason is None and not checks.has_error("reason"):
            checks.add("reason", "REQUIRED", "reason is required when pausing a store")
        checks.done()
        return store_id, status, reason, resume_at

    def set_store_status(self, payload: tuple[Any, ...], now: float) -> web.Response:
        store_id, status, reason, resume_at = payload
        store = self.world.set_store_status(store_id, status, reason, resume_at, now)
        return json_response(store_status_json(store))

    # -- orders ---------------------------------------------------------------------------

    def v_order(self, request: web.Request, body: Any) -> OrderUpdateRequest:
        order_id = path_uuid(request.match_info["order_id"])
        checks = Body(body, ("status", "state", "estimatedReadyAt", "cancelReason"))
        status = checks.enum("status", OPEN_STATUSES, refused=_NEVER_PENDING)
        state = checks.enum("state", ("open", "completed", "cancelled"), refused=_NEVER_OPEN)
        eta = checks.timestamp("estimatedReadyAt")
        reason = checks.string("cancelReason")
        data = checks.data
        if data.get("status") is not None and data.get("state") is not None:
            checks.add("state", "CONFLICTING_FIELDS", "send status (progress) or state (close), not both")
        if data.get("state") is not None and data.get("estimatedReadyAt") is not None:
            checks.add("estimatedReadyAt", "NOT_ALLOWED", "estimatedReadyAt belongs to a progress update")
        if state == "cancelled" and reason is None and not checks.has_error("cancelReason"):
            checks.add("cancelReason", "REQUIRED", "cancelReason is required when state is cancelled")
        elif reason is not None and data.get("state") != "cancelled":
            checks.add("cancelReason", "NOT_ALLOWED", "cancelReason is only sent with state cancelled")
        if isinstance(body, dict) and not any(
            data.get(key) is not None for key in ("status", "state", "estimatedReadyAt")
        ):
            checks.add("", "REQUIRED", "send a status, a state or an estimatedReadyAt")
        checks.done()
        return OrderUpdateRequest(order_id, status, state, eta, reason)

    def update_order(self, update: OrderUpdateRequest, now: float) -> web.Response:
        self.world.update_order(update, now)
        return web.Response(status=204)

    # -- onboarding -----------------------------------------------------------------------

    def v_register(self, request: web.Request, body: Any) -> dict[str, Any]:
        checks = Body(
            body,
            (
                "partnerStoreId",
                "name",
                "catalogCallbackUrl",
                "webhookUrl",
                "address",
                "phone",
                "timezone",
                "logoUrl",
                "description",
                "deliveryAllowed",
                "pickupAllowed",
            ),
        )
        fields = {
            "partnerStoreId": checks.string("partnerStoreId", required=True),
            "name": checks.string("name", required=True),
            "catalogCallbackUrl": checks.url("catalogCallbackUrl", required=True),
            "webhookUrl": checks.url("webhookUrl", required=True),
            "address": checks.mapping("address", _ADDRESS),
            "phone": checks.string("phone"),
            "timezone": checks.string("timezone"),
            "logoUrl": checks.url("logoUrl"),
            "description": checks.string("description", blank=True),
            "deliveryAllowed": checks.boolean("deliveryAllowed"),
            "pickupAllowed": checks.boolean("pickupAllowed"),
        }
        if fields["deliveryAllowed"] is False and fields["pickupAllowed"] is False:
            checks.add("pickupAllowed", "NOT_ALLOWED", "at least one of deliveryAllowed/pickupAllowed must be true")
        checks.done()
        return {key: value for key, value in fields.items() if value is not None}

    def register(self, fields: dict[str, Any], now: float) -> web.Response:
        onboarding = self.world.register(fields, now)
        location = self.paths.onboarding_item.format(onboarding_id=onboarding.onboarding_id)
        return json_response(onboarding_json(onboarding), 201, {"Location": location})

    def get_onboarding(self, onboarding_id: str, now: float) -> web.Response:
        return json_response(onboarding_json(self.world.onboarding(onboarding_id, now)))

    def cancel(self, onboarding_id: str, now: float) -> web.Response:
        self.world.cancel(onboarding_id, now)
        return web.Response(status=204)

    def activate(self, onboarding_id: str, now: float) -> web.Response:
        return json_response(onboarding_json(self.world.activate(onboarding_id, now)))


def unknown_route(request: web.Request, body: Any) -> None:
    """Any method and path outside the eleven operations: a problem+json 404 naming it."""
    raise not_found(
        f"No operation {request.method} {request.path}. The eleven operations live under /v1/commerce/ "
        "(docs/EMULATOR.md lists them)."
    )


def invalid_json(body_text: str) -> None:
    """422 for a body that is not JSON at all."""
    message = f"the body is not JSON: {body_text}"
    raise validation_failed([{"code": "INVALID_JSON", "message": message, "jsonPath": "$"}])
