"""Order Booster onboarding models."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .enums import OnboardingStatus


@attrs.frozen(slots=True)
class OnboardingRequest:
    """Body of Register Store.

    Only four fields are documented; ``extra`` passes further store details (camelCase
    wire names, e.g. ``{"phone": ...}``) through unchanged, since Gett's full schema is unknown.
    """

    partner_store_id: str
    name: str
    catalog_callback_url: str
    webhook_url: str
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(slots=True)
class Onboarding:
    """An onboarding's progress; ``store_id`` is set once it is ``active``."""

    onboarding_id: str | None = None
    partner_store_id: str | None = None
    status: OnboardingStatus | str | None = None
    store_id: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True once polling can stop (``active`` or ``catalog_failed``)."""
        return isinstance(self.status, OnboardingStatus) and self.status.is_terminal
