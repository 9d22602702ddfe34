"""Store Status: read a store's availability, pause it with a reason, resume it."""

from __future__ import annotations

import uuid
from datetime import datetime

from .._core import serde
from .._core.requests import store_request, store_status_request
from .._core.wire import NOT_GIVEN
from ..models import PauseReason, StoreStatus, StoreStatusValue
from ._base import Resource, Retries, Timeout


class StoreStatuses(Resource):
    """``gett.store_status``: store availability."""

    __slots__ = ()

    async def get(
        self, store_id: str | uuid.UUID, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN
    ) -> StoreStatus:
        """A store's current availability. Refuses a non-UUID store id."""
        body = await self._read(store_request("GET", self._paths.store_status, store_id), timeout, max_retries)
        return serde.decode(body, StoreStatus)

    async def update(
        self,
        store_id: str | uuid.UUID,
        *,
        status: StoreStatusValue | str,
        reason: PauseReason | str | None = None,
        resume_at: datetime | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
    ) -> StoreStatus | None:
        """Set a store online or paused; returns the new status if Gett sends one back.

        Refuses, before any I/O: unknown status or reason values; ``paused`` without a reason;
        a reason or ``resume_at`` with ``online``; a naive or past ``resume_at``; a non-UUID id.
        """
        request = store_status_request(self._paths, store_id, status=status, reason=reason, resume_at=resume_at)
        return serde.decode_optional(await self._read(request, timeout, max_retries), StoreStatus)

    async def pause(
        self,
        store_id: str | uuid.UUID,
        reason: PauseReason | str,
        *,
        resume_at: datetime | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
    ) -> StoreStatus | None:
        """Pause a store with a `PauseReason`, optionally until ``resume_at``.

        Refuses an unknown reason, a naive or past ``resume_at`` and a non-UUID store id.
        """
        return await self.update(
            store_id, status=StoreStatusValue.PAUSED, reason=reason, resume_at=resume_at, timeout=timeout,
            max_retries=max_retries,
        )

    async def resume(
        self, store_id: str | uuid.UUID, *, timeout: Timeout = NOT_GIVEN, max_retries: Retries = NOT_GIVEN
    ) -> StoreStatus | None:
        """Put a store back online at once. Refuses a non-UUID store id."""
        return await self.update(store_id, status=StoreStatusValue.ONLINE, timeout=timeout, max_retries=max_retries)
