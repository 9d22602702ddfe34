"""Every Commerce API path, in one place.

Paths marked INFERRED are not documented by Gett (their reference pages were not
readable); they follow the documented siblings. If Gett's real paths differ, override them
without patching the SDK::

    GettClient(paths=ApiPaths(store="/v1/commerce/store/{store_id}"))
"""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class ApiPaths:
    """Path templates; ``{name}`` placeholders are filled with validated ids."""

    catalog_notification: str = "/v1/commerce/catalogset-notification"  # READ
    stores: str = "/v1/commerce/stores"  # INFERRED
    store: str = "/v1/commerce/stores/{store_id}"  # INFERRED
    store_status: str = "/v1/commerce/stores/{store_id}/status"  # READ
    order_status: str = "/v1/commerce/orders/{order_id}/status"  # READ
    onboarding: str = "/v1/commerce/onboarding/stores"  # READ
    onboarding_item: str = "/v1/commerce/onboarding/stores/{onboarding_id}"  # READ (GET); DELETE INFERRED
    onboarding_activate: str = "/v1/commerce/onboarding/stores/{onboarding_id}/activate"  # INFERRED


#: Which paths are guesses, for the docs and for `gett-async` to print.
INFERRED = ("stores", "store", "onboarding_activate", "onboarding_item (DELETE)")

BASE_URLS = {
    "production": "https://api.gett-tech.com",
    "sandbox": "https://api-sandbox.gett-tech.com",
}
