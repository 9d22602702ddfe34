"""Catalog: tell Gett a store's CatalogSet changed (Gett then pulls it)."""

from __future__ import annotations

from .._core.requests import notify_update_request
from .._core.wire import NOT_GIVEN
from ._base import Receipt, Resource, Retries, Timeout


class Catalog(Resource):
    """``gett.catalog``: catalog notifications."""

    __slots__ = ()

    async def notify_update(
        self, callback_url: str, *, store_id: str, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN
    ) -> Receipt:
        """Tell Gett to pull the full CatalogSet from ``callback_url`` (a 202; ingestion is async).

        Refuses (GettValidationError, before any I/O): a relative or non-http(s) URL, a blank
        or oversized ``store_id``.
        """
        request = notify_update_request(self._paths, callback_url, store_id=store_id)
        return Receipt.of(await self._send(request, timeout, max_retries))
