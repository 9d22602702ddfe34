"""Store Status: read a store's availability, pause it with a reason, resume it."""

from __future__ import annotations

import uuid
from datetime import datetime

from .._core import serde
from .._core.requests import store_request, store_status_request
from .._core.wire import NOT_GIVEN
from ..models import PauseReason, StoreStatus, StoreStatusUpdate, StoreStatusValue
from ._base import ExtraBody, ExtraHeaders, Resource, Retries, Timeout


class StoreStatuses(Resource):
    """``gett.store_status``: store availability."""

    __slots__ = ()

    async def get(
        self,
        store_id: str | uuid.UUID,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
    ) -> StoreStatus:
        """A store's current availability. Refuses a non-UUID store id and bad extra headers."""
        request = store_request("GET", self._paths.store_status, store_id)
        body = await self._read("store_status.get", request, timeout, max_retries, extra_headers)
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
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> StoreStatus | None:
        """Set a store online or paused; returns the new status if Gett sends one back.

        Refuses, before any I/O: unknown status or reason values; ``paused`` without a reason;
        a reason or ``resume_at`` with ``online``; a naive or past ``resume_at``; a non-UUID id;
        extras that `Resource._send` refuses.
        """
        request = store_status_request(self._paths, store_id, status=status, reason=reason, resume_at=resume_at)
        body = await self._read("store_status.update", request, timeout, max_retries, extra_headers, extra_body,
                                model=StoreStatusUpdate)
        return serde.decode_optional(body, StoreStatus)

    async def pause(
        self,
        store_id: str | uuid.UUID,
        reason: PauseReason | str,
        *,
        resume_at: datetime | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> StoreStatus | None:
        """Pause a store with a `PauseReason`, optionally until ``resume_at``.

        Refuses what `update` refuses (an unknown reason, a naive or past ``resume_at``, a
        non-UUID store id, bad extras).
        """
        return await self.update(
            store_id, status=StoreStatusValue.PAUSED, reason=reason, resume_at=resume_at, timeout=timeout,
            max_retries=max_retries, extra_headers=extra_headers, extra_body=extra_body,
        )

    async def resume(
        self,
        store_id: str | uuid.UUID,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> StoreStatus | None:
        """Put a store back online at once. Refuses a non-UUID store id and bad extras."""
        return await self.update(
            store_id, status=StoreStatusValue.ONLINE, timeout=timeout, max_retries=max_retries,
            extra_headers=extra_headers, extra_body=extra_body,
        )
