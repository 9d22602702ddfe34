"""Store Status: read a store's availability, pause it with a reason, resume it."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from .. import _serde, _validate
from .._paths import ApiPaths
from .._session import ApiRequest
from ..errors import GettValidationError
from ..models import PauseReason, StoreStatus, StoreStatusUpdate, StoreStatusValue
from ._base import Resource, Timeout
from .stores import store_path


def store_status_request(
    paths: ApiPaths,
    store_id: str | uuid.UUID,
    *,
    status: object,
    reason: object = None,
    resume_at: datetime | None = None,
) -> ApiRequest:
    """Build Update Store Status.

    Refuses: unknown status or reason values; ``paused`` without a reason; a reason or
    ``resume_at`` with ``online`` (what Gett does with them is undocumented); a naive or
    past ``resume_at``; a non-UUID store id.
    """
    value = _validate.enum_member("status", StoreStatusValue, status)
    pause_reason = None if reason is None else _validate.enum_member("reason", PauseReason, reason)
    if resume_at is not None:
        _validate.aware("resume_at", resume_at)
        if resume_at.timestamp() <= time.time():
            raise GettValidationError("resume_at", "is in the past; an auto-resume time must be in the future")
    if value is StoreStatusValue.PAUSED and pause_reason is None:
        raise GettValidationError("reason", "pausing a store needs a PauseReason")
    if value is StoreStatusValue.ONLINE and (pause_reason is not None or resume_at is not None):
        field = "reason" if pause_reason is not None else "resume_at"
        raise GettValidationError(field, "only goes with status='paused'")
    body = StoreStatusUpdate(status=value, reason=pause_reason, resume_at=resume_at)
    path, template = store_path(paths, paths.store_status, store_id)
    return ApiRequest("POST", path, template, _serde.encode(body))


class StoreStatuses(Resource):
    """``gett.store_status``: store availability."""

    __slots__ = ()

    async def get(self, store_id: str | uuid.UUID, *, timeout: Timeout = None) -> StoreStatus:
        """A store's current availability. Refuses a non-UUID store id."""
        path, template = store_path(self._paths, self._paths.store_status, store_id)
        body = await self._get(path, template, timeout)
        return _serde.decode(body, StoreStatus)

    async def update(
        self,
        store_id: str | uuid.UUID,
        *,
        status: StoreStatusValue | str,
        reason: PauseReason | str | None = None,
        resume_at: datetime | None = None,
        timeout: Timeout = None,
    ) -> StoreStatus | None:
        """Set a store online or paused; returns the new status if Gett sends one back.

        Refuses, before any I/O: see `store_status_request`.
        """
        request = store_status_request(self._paths, store_id, status=status, reason=reason, resume_at=resume_at)
        response = await self._send(request, timeout)
        return _serde.decode_optional(response.body, StoreStatus)

    async def pause(
        self,
        store_id: str | uuid.UUID,
        reason: PauseReason | str,
        *,
        resume_at: datetime | None = None,
        timeout: Timeout = None,
    ) -> StoreStatus | None:
        """Pause a store with a `PauseReason`, optionally until ``resume_at``.

        Refuses an unknown reason, a naive or past ``resume_at`` and a non-UUID store id.
        """
        return await self.update(
            store_id, status=StoreStatusValue.PAUSED, reason=reason, resume_at=resume_at, timeout=timeout
        )

    async def resume(self, store_id: str | uuid.UUID, *, timeout: Timeout = None) -> StoreStatus | None:
        """Put a store back online at once. Refuses a non-UUID store id."""
        return await self.update(store_id, status=StoreStatusValue.ONLINE, timeout=timeout)
