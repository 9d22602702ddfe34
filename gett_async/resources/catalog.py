"""Catalog: tell Gett a store's CatalogSet changed (Gett then pulls it)."""

from __future__ import annotations

from .._core.requests import notify_update_request
from .._core.wire import NOT_GIVEN
from ..models import CatalogSetNotification
from ._base import ExtraBody, ExtraHeaders, Receipt, Resource, Retries, Timeout


class Catalog(Resource):
    """``gett.catalog``: catalog notifications."""

    __slots__ = ()

    async def notify_update(
        self,
        callback_url: str,
        *,
        store_id: str,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Receipt:
        """Tell Gett to pull the full CatalogSet from ``callback_url`` (a 202; ingestion is async).

        Refuses (GettValidationError, before any I/O): a relative or non-http(s) URL, a blank
        or oversized ``store_id``, and extras that `Resource._send` refuses.
        """
        request = notify_update_request(self._paths, callback_url, store_id=store_id)
        sent = await self._send(
            "catalog.notify_update", request, timeout, max_retries, extra_headers, extra_body,
            model=CatalogSetNotification,
        )
        return Receipt.of(sent)
