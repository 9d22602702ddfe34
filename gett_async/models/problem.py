"""RFC 9457 problem details, as Gett sends them with every error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

#: Gett's ``type`` URI template for a problem with this ``errorCode`` [READ].
ERROR_TYPE = "https://developer.gett-tech.com/errors/{code}"


@attrs.frozen(slots=True)
class Problem:
    """An ``application/problem+json`` body; every member is optional when parsing."""

    type: str | None = None
    title: str | None = None
    status: int | None = None
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    timestamp: str | None = None
    error_code: str | None = None
    error_category: str | None = None
    retryable: bool | None = None
    retry_after: float | None = None
    errors: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
