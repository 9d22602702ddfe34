"""Catalog: tell Gett a store's CatalogSet changed (Gett then pulls it)."""

from __future__ import annotations

from .. import _serde, _validate
from .._paths import ApiPaths
from .._session import ApiRequest
from ..errors import GettValidationError
from ..models import CatalogSetNotification
from ._base import Receipt, Resource, Timeout


def notify_update_request(paths: ApiPaths, callback_url: str, *, store_id: str) -> ApiRequest:
    """Build Notify Catalog Update; refuses a non-http(s) or oversized URL and a blank store id."""
    body = CatalogSetNotification(_validate.url("callback_url", callback_url))
    # Gett calls storeId "your internal Store ID"; its format is undocumented, so any
    # non-blank text goes (as a query parameter, which aiohttp escapes).
    store = _validate.text("store_id", store_id)
    if len(store) > _validate.LIMITS["id"]:
        raise GettValidationError("store_id", f"is {len(store)} characters; at most {_validate.LIMITS['id']}")
    path = paths.catalog_notification
    return ApiRequest("POST", path, path, _serde.encode(body), {"storeId": store}, reads_body=False)


class Catalog(Resource):
    """``gett.catalog``: catalog notifications."""

    __slots__ = ()

    async def notify_update(self, callback_url: str, *, store_id: str, timeout: Timeout = None) -> Receipt:
        """Tell Gett to pull the full CatalogSet from ``callback_url`` (a 202; ingestion is async).

        Refuses (GettValidationError, before any I/O): a relative or non-http(s) URL, a blank
        or oversized ``store_id``.
        """
        request = notify_update_request(self._paths, callback_url, store_id=store_id)
        return Receipt.of(await self._send(request, timeout))
