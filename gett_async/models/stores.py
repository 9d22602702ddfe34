"""Store, store status and catalog models.

Response models keep fields Gett adds later in ``extra`` instead of failing, and hold an
unknown enum value as its plain string.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .enums import PauseReason, StoreStatusValue


@attrs.frozen(slots=True)
class Address:
    """A postal address; every field is optional on the wire."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(slots=True)
class Store:
    """A store as Gett describes it."""

    store_id: str | None = None
    name: str | None = None
    address: Address | None = None
    phone: str | None = None
    timezone: str | None = None
    logo_url: str | None = None
    description: str | None = None
    status: StoreStatusValue | str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(slots=True)
class StoreUpdate:
    """Body of Update Store; unset fields are omitted (PUT semantics are undocumented)."""

    name: str | None = None
    phone: str | None = None
    logo_url: str | None = None
    description: str | None = None


@attrs.frozen(slots=True)
class StoreStatus:
    """A store's availability: online, or paused with a reason and an optional auto-resume."""

    status: StoreStatusValue | str | None = None
    reason: PauseReason | str | None = None
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


@attrs.frozen(slots=True)
class StoreStatusUpdate:
    """Body of Update Store Status."""

    status: StoreStatusValue
    reason: PauseReason | None = None
    resume_at: datetime | None = None


@attrs.frozen(slots=True)
class CatalogSetNotification:
    """Body of Notify Catalog Update: where Gett downloads the full CatalogSet."""

    callback_url: str
