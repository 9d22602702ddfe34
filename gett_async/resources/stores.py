"""Store Management: list, read and update store metadata (paths INFERRED, see ApiPaths)."""

from __future__ import annotations

import uuid

from .._core import serde
from .._core.requests import parse_store_list, store_request, update_store_request
from .._core.wire import NOT_GIVEN, ApiRequest
from ..models import Store, StoreUpdate
from ._base import ExtraBody, ExtraHeaders, Resource, Retries, Timeout


class Stores(Resource):
    """``gett.stores``: store metadata."""

    __slots__ = ()

    async def list(
        self, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN, extra_headers: ExtraHeaders = None
    ) -> list[Store]:
        """All stores of the organisation (pagination, if any, is undocumented). Refuses only
        bad extra headers; an answer that holds no list raises GettError."""
        body = await self._read("stores.list", ApiRequest("GET", self._paths.stores), timeout, max_retries,
                                extra_headers)
        return serde.decode_with(body, parse_store_list, "Store list")

    async def get(
        self,
        store_id: str | uuid.UUID,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
    ) -> Store:
        """One store. Refuses a non-UUID store id and bad extra headers."""
        request = store_request("GET", self._paths.store, store_id)
        body = await self._read("stores.get", request, timeout, max_retries, extra_headers)
        return serde.decode(body, Store)

    async def update(
        self,
        store_id: str | uuid.UUID,
        *,
        name: str | None = None,
        phone: str | None = None,
        logo_url: str | None = None,
        description: str | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Store | None:
        """Update store metadata; only the fields given are sent, with ``extra_body`` members
        (e.g. ``{"deliveryAllowed": False}``) beside them. Returns the store when Gett answers
        with one (the response body is undocumented), else None.

        Refuses: a non-UUID store id, an update with neither a field nor ``extra_body``, blank
        or oversized text, a bad URL, and extras that `Resource._send` refuses.
        """
        if extra_body and name is None and phone is None and logo_url is None and description is None:
            # Only undocumented members: an empty documented update is not an empty request.
            request = store_request("PUT", self._paths.store, store_id, serde.encode(StoreUpdate()))
        else:
            request = update_store_request(
                self._paths, store_id, name=name, phone=phone, logo_url=logo_url, description=description
            )
        body = await self._read("stores.update", request, timeout, max_retries, extra_headers, extra_body,
                                model=StoreUpdate)
        return serde.decode_optional(body, Store)
