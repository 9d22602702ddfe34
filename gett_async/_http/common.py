"""What both built-in transports share: the body bounds, the loop binding, the error texts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from .._core.redact import RedactedHeaders
from .._core.wire import ApiRequest, Timeout
from ..errors import GettError

#: The most of an error body kept (``APIError.body``); a longer one is cut and its connection closed.
MAX_ERROR_BODY = 1024 * 1024
#: The most of a success body read when the SDK parses it (store lists, onboarding objects).
MAX_BODY = 16 * 1024 * 1024
#: Of a success body the SDK does not use (order updates, catalog notifications), at most this
#: much is read to keep the connection reusable; a longer one closes the connection instead.
MAX_UNUSED_BODY = 64 * 1024
#: How many of the sender's header sets a transport keeps prepared (its two, plus per-call extras).
KEPT = 16

T = TypeVar("T")


def bind_loop(bound: asyncio.AbstractEventLoop | None, closed: bool) -> asyncio.AbstractEventLoop:
    """The running loop, if a transport bound to ``bound`` (None: not yet) may be used from it.
    Refuses (GettError) another loop than the bound one, and a closed transport."""
    loop = asyncio.get_running_loop()
    if bound is not None and loop is not bound:
        raise GettError(
            "this GettClient belongs to another event loop; create one client per loop "
            "(connections cannot move between loops)"
        )
    if closed:
        raise GettError("this GettClient is closed")
    return loop


def describe_limits(timeout: Timeout) -> str:
    parts = [f"{name} {value:g} s" for name, value in (("total", timeout.total), ("connect", timeout.connect),
                                                       ("read", timeout.read)) if value is not None]
    return ", ".join(parts) or "no limit"


def body_limit(request: ApiRequest, status: int) -> int:
    if status >= 300:
        return MAX_ERROR_BODY
    return MAX_BODY if request.reads_body else MAX_UNUSED_BODY


def too_large(request: ApiRequest, status: int) -> GettError:
    """The error for a body the SDK would parse that is larger than `MAX_BODY` (not read)."""
    return GettError(
        f"{request.method} {request.template} -> {status}: the response body is larger than "
        f"{MAX_BODY // (1024 * 1024)} MiB; not read"
    )


class PreparedHeaders(Generic[T]):
    """What a transport sends for a header set, made once per set of the sender's (docs/PERFORMANCE.md).

    Only `RedactedHeaders` are kept, which nothing changes once made; any other mapping is made
    anew on every call. ``make`` may refuse a set (raise): nothing is kept then.
    """

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[Mapping[str, str]], T]) -> None:
        self._made: dict[int, tuple[Mapping[str, str], T]] = {}
        self._make = make

    def get(self, headers: Mapping[str, str]) -> T:
        if type(headers) is not RedactedHeaders:
            return self._make(headers)
        found = self._made.get(id(headers))
        if found is None or found[0] is not headers:
            made = self._make(headers)
            if len(self._made) >= KEPT:  # per-call extra headers come and go
                self._made.clear()
            found = self._made[id(headers)] = (headers, made)
        return found[1]
