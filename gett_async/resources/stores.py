"""Store Management: list, read and update store metadata (paths INFERRED, see ApiPaths)."""

from __future__ import annotations

import uuid

from .._core import serde
from .._core.requests import parse_store_list, store_request, update_store_request
from .._core.wire import NOT_GIVEN, ApiRequest
from ..models import Store
from ._base import Resource, Retries, Timeout


class Stores(Resource):
    """``gett.stores``: store metadata."""

    __slots__ = ()

    async def list(self, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN) -> list[Store]:
        """All stores of the organisation (pagination, if any, is undocumented). Refuses nothing:
        it takes no input; an answer that holds no list raises GettError."""
        body = await self._read(ApiRequest("GET", self._paths.stores), timeout, max_retries)
        return serde.decode_with(body, parse_store_list, "Store list")

    async def get(
        self, store_id: str | uuid.UUID, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN
    ) -> Store:
        """One store. Refuses a non-UUID store id."""
        body = await self._read(store_request("GET", self._paths.store, store_id), timeout, max_retries)
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
    ) -> Store | None:
        """Update store metadata; only the fields given are sent. Returns the store when Gett
        answers with one (the response body is undocumented), else None.

        Refuses: a non-UUID store id, an empty update, blank or oversized text, a bad URL.
        """
        request = update_store_request(
            self._paths, store_id, name=name, phone=phone, logo_url=logo_url, description=description
        )
        return serde.decode_optional(await self._read(request, timeout, max_retries), Store)
