"""Store Management: list, read and update store metadata (paths INFERRED, see _paths)."""

from __future__ import annotations

import uuid
from typing import Any

from .. import _serde, _validate
from .._paths import ApiPaths
from .._session import ApiRequest
from ..errors import GettValidationError
from ..models import Store, StoreUpdate
from ._base import Resource, Timeout

# The List Stores envelope is undocumented: a bare array, or an object holding the list
# under one of these keys, are all accepted.
_LIST_KEYS = ("stores", "items", "data", "results")


def store_path(paths: ApiPaths, template: str, store_id: str | uuid.UUID) -> tuple[str, str]:
    """(rendered path, template) for a store-scoped path; refuses a non-UUID store id."""
    sid = _validate.uuid_id("store_id", store_id)
    return template.replace("{store_id}", sid), template


def update_store_request(
    paths: ApiPaths,
    store_id: str | uuid.UUID,
    *,
    name: str | None = None,
    phone: str | None = None,
    logo_url: str | None = None,
    description: str | None = None,
) -> ApiRequest:
    """Build Update Store; refuses an empty update, blank or oversized text, a bad logo URL."""
    if name is None and phone is None and logo_url is None and description is None:
        raise GettValidationError("store", "empty update: give at least one of name, phone, logo_url, description")
    body = StoreUpdate(
        name=None if name is None else _validate.text("name", name),
        phone=None if phone is None else _validate.text("phone", phone),
        logo_url=None if logo_url is None else _validate.url("logo_url", logo_url),
        description=None if description is None else _validate.text("description", description, required=False),
    )
    path, template = store_path(paths, paths.store, store_id)
    return ApiRequest("PUT", path, template, _serde.encode(body))


def parse_store_list(payload: Any) -> list[Store]:
    """Stores from a bare array or from an envelope object (see `_LIST_KEYS`)."""
    items = payload
    if isinstance(payload, dict):
        items = next((payload[k] for k in _LIST_KEYS if isinstance(payload.get(k), list)), None)
    if not isinstance(items, list):
        raise ValueError("List Stores answered neither a list nor an object holding one")
    return [_serde.converter.structure(item, Store) for item in items]


class Stores(Resource):
    """``gett.stores``: store metadata."""

    __slots__ = ()

    async def list(self, *, timeout: Timeout = None) -> list[Store]:
        """All stores of the organisation (pagination, if any, is undocumented). Refuses nothing:
        it takes no input; an answer that holds no list raises GettError."""
        path = self._paths.stores
        body = await self._get(path, path, timeout)
        return _serde.decode_with(body, parse_store_list, "Store list")

    async def get(self, store_id: str | uuid.UUID, *, timeout: Timeout = None) -> Store:
        """One store. Refuses a non-UUID store id."""
        path, template = store_path(self._paths, self._paths.store, store_id)
        body = await self._get(path, template, timeout)
        return _serde.decode(body, Store)

    async def update(
        self,
        store_id: str | uuid.UUID,
        *,
        name: str | None = None,
        phone: str | None = None,
        logo_url: str | None = None,
        description: str | None = None,
        timeout: Timeout = None,
    ) -> Store | None:
        """Update store metadata; only the fields given are sent. Returns the store when Gett
        answers with one (the response body is undocumented), else None.

        Refuses: a non-UUID store id, an empty update, blank or oversized text, a bad URL.
        """
        request = update_store_request(
            self._paths, store_id, name=name, phone=phone, logo_url=logo_url, description=description
        )
        response = await self._send(request, timeout)
        return _serde.decode_optional(response.body, Store)
