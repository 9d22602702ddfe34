"""What every endpoint module shares: the transport handle, the paths, per-call timeouts."""

from __future__ import annotations

from collections.abc import Awaitable

import aiohttp
import attrs

from .. import _validate
from .._paths import ApiPaths
from .._session import ApiRequest, ApiResponse, Transport
from ..errors import GettValidationError

Timeout = float | aiohttp.ClientTimeout | None


@attrs.frozen(slots=True)
class Receipt:
    """A write Gett accepted without a body: its HTTP status and how many attempts it took."""

    status: int
    attempts: int = 1
    request_id: str | None = None

    @classmethod
    def of(cls, response: ApiResponse) -> Receipt:
        return cls(response.status, response.attempts, response.headers.get("X-Request-Id"))


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout | None:
    """A timeout as given: seconds (the total) or a full ``aiohttp.ClientTimeout``.

    Refuses (GettValidationError) anything else, and any duration that is not finite and
    positive (NaN, infinities, zero, negatives), in seconds or in a ClientTimeout field.
    """
    if timeout is None:
        return None
    if isinstance(timeout, aiohttp.ClientTimeout):
        for name in ("total", "connect", "sock_read", "sock_connect", "ceil_threshold"):
            value = getattr(timeout, name)
            if value is not None:
                _validate.seconds(f"timeout.{name}", value, allow_zero=name == "ceil_threshold")
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise GettValidationError("timeout", f"must be seconds or an aiohttp.ClientTimeout, got {timeout!r}")
    return aiohttp.ClientTimeout(total=_validate.seconds("timeout", timeout))


class Resource:
    """Base of the endpoint modules: they build requests and parse answers, nothing else."""

    __slots__ = ("_paths", "_transport")

    def __init__(self, transport: Transport, paths: ApiPaths) -> None:
        self._transport = transport
        self._paths = paths

    def _send(self, request: ApiRequest, timeout: Timeout) -> Awaitable[ApiResponse]:
        # Not a coroutine itself: the caller awaits the transport's, one frame less per resume.
        return self._transport.send(request, timeout=client_timeout(timeout))

    async def _get(self, path: str, template: str, timeout: Timeout) -> bytes:
        """A read: GET ``path`` and return the body."""
        return (await self._send(ApiRequest("GET", path, template, write=False), timeout)).body
