"""Request builders for stores, store status, catalog and onboarding (order updates: `updates`).

Each validates its input (refusing with GettValidationError before any I/O) and returns an
`ApiRequest`; none does I/O. Paths come from `ApiPaths`, the one place for them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import GettValidationError
from ..models import (
    CatalogSetNotification,
    OnboardingRequest,
    PauseReason,
    Store,
    StoreStatusUpdate,
    StoreStatusValue,
    StoreUpdate,
)
from . import serde, validate
from .paths import ApiPaths
from .wire import ApiRequest

# The List Stores envelope is undocumented: a bare array, or an object holding the list
# under one of these keys, are all accepted.
_LIST_KEYS = ("stores", "items", "data", "results")


def store_request(method: str, template: str, store_id: str | uuid.UUID, body: bytes | None = None) -> ApiRequest:
    """A store-scoped request; refuses a non-UUID store id."""
    sid = validate.uuid_id("store_id", store_id)
    return ApiRequest(method, template.replace("{store_id}", sid), body=body, template=template)


def update_store_request(
    paths: ApiPaths,
    store_id: str | uuid.UUID,
    *,
    name: str | None = None,
    phone: str | None = None,
    logo_url: str | None = None,
    description: str | None = None,
) -> ApiRequest:
    """Update Store; refuses an empty update, blank or oversized text, a bad logo URL, a non-UUID id."""
    if name is None and phone is None and logo_url is None and description is None:
        raise GettValidationError("store", "empty update: give at least one of name, phone, logo_url, description")
    body = StoreUpdate(
        name=None if name is None else validate.text("name", name),
        phone=None if phone is None else validate.text("phone", phone),
        logo_url=None if logo_url is None else validate.url("logo_url", logo_url),
        description=None if description is None else validate.text("description", description, required=False),
    )
    return store_request("PUT", paths.store, store_id, serde.encode(body))


def parse_store_list(payload: Any) -> list[Store]:
    """Stores from a bare array or from an envelope object (see `_LIST_KEYS`)."""
    items = payload
    if isinstance(payload, dict):
        items = next((payload[k] for k in _LIST_KEYS if isinstance(payload.get(k), list)), None)
    if not isinstance(items, list):
        raise ValueError("List Stores answered neither a list nor an object holding one")
    return [serde.converter.structure(item, Store) for item in items]


def store_status_request(
    paths: ApiPaths,
    store_id: str | uuid.UUID,
    *,
    status: object,
    reason: object = None,
    resume_at: datetime | None = None,
) -> ApiRequest:
    """Update Store Status.

    Refuses: unknown status or reason values; ``paused`` without a reason; a reason or
    ``resume_at`` with ``online`` (what Gett does with them is undocumented); a naive or
    past ``resume_at``; a non-UUID store id.
    """
    value = validate.enum_member("status", StoreStatusValue, status)
    pause_reason = None if reason is None else validate.enum_member("reason", PauseReason, reason)
    if resume_at is not None:
        validate.aware("resume_at", resume_at)
        if resume_at.timestamp() <= time.time():
            raise GettValidationError("resume_at", "is in the past; an auto-resume time must be in the future")
    if value is StoreStatusValue.PAUSED and pause_reason is None:
        raise GettValidationError("reason", "pausing a store needs a PauseReason")
    if value is StoreStatusValue.ONLINE and (pause_reason is not None or resume_at is not None):
        field = "reason" if pause_reason is not None else "resume_at"
        raise GettValidationError(field, "only goes with status='paused'")
    body = StoreStatusUpdate(status=value, reason=pause_reason, resume_at=resume_at)
    return store_request("POST", paths.store_status, store_id, serde.encode(body))


def notify_update_request(paths: ApiPaths, callback_url: str, *, store_id: str) -> ApiRequest:
    """Notify Catalog Update; refuses a non-http(s) or oversized URL and a blank or oversized store id."""
    body = CatalogSetNotification(validate.url("callback_url", callback_url))
    # Gett calls storeId "your internal Store ID"; its format is undocumented, so any
    # non-blank text goes (as a query parameter, which the transport escapes).
    store = validate.text("store_id", store_id)
    if len(store) > validate.LIMITS["id"]:
        raise GettValidationError("store_id", f"is {len(store)} characters; at most {validate.LIMITS['id']}")
    path = paths.catalog_notification
    return ApiRequest("POST", path, {"storeId": store}, serde.encode(body), reads_body=False)


def register_request(
    paths: ApiPaths,
    *,
    partner_store_id: str,
    name: str,
    catalog_callback_url: str,
    webhook_url: str,
    extra: Mapping[str, Any] | None = None,
) -> ApiRequest:
    """Register Store; refuses blank or oversized text, non-http(s) URLs, and ``extra``
    keys that would overwrite a documented field."""
    body = OnboardingRequest(
        partner_store_id=validate.text("partner_store_id", partner_store_id),
        name=validate.text("name", name),
        catalog_callback_url=validate.url("catalog_callback_url", catalog_callback_url),
        webhook_url=validate.url("webhook_url", webhook_url),
        extra=dict(extra or {}),
    )
    clash = {"partnerStoreId", "name", "catalogCallbackUrl", "webhookUrl"} & set(body.extra)
    if clash:
        raise GettValidationError("extra", f"may not set documented fields: {', '.join(sorted(clash))}")
    return ApiRequest("POST", paths.onboarding, body=serde.encode(body))


def onboarding_request(template: str, method: str, onboarding_id: str) -> ApiRequest:
    """An onboarding-scoped request; refuses ids that are not one safe path segment."""
    oid = validate.path_segment("onboarding_id", onboarding_id)
    return ApiRequest(method, template.replace("{onboarding_id}", oid), template=template)
