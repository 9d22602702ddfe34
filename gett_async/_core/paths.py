"""Every Commerce API path, in one place.

Paths marked INFERRED are not documented by Gett (their reference pages were not
readable); they follow the documented siblings. If Gett's real paths differ, override them
without patching the SDK::

    GettClient(paths=ApiPaths(store="/v1/commerce/store/{store_id}"))
"""

from __future__ import annotations

from typing import Literal, cast

import attrs

from ..errors import GettValidationError


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

#: Where Gett runs: its production API, or the sandbox (with its own keys).
Environment = Literal["production", "sandbox"]

BASE_URLS: dict[str, str] = {
    "production": "https://api.gett-tech.com",
    "sandbox": "https://api-sandbox.gett-tech.com",
}


def as_environment(value: object) -> Environment:
    """``value`` as an `Environment`; refuses (GettValidationError) anything else."""
    if isinstance(value, str) and value in BASE_URLS:
        return cast(Environment, value)
    raise GettValidationError("environment", f"must be one of {', '.join(BASE_URLS)}, got {value!r}")
