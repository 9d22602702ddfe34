"""What every endpoint module shares: the sender, the paths, per-call options, receipts."""

from __future__ import annotations

import attrs

from .._core import validate
from .._core.paths import ApiPaths
from .._core.wire import NOT_GIVEN, ApiRequest, NotGiven
from .._http.gate import INTERACTIVE, Priority
from .._http.sender import Sender, Sent
from .._http.timeouts import TimeoutArg, as_timeout

#: A per-call ``timeout=``: left out, the client's default; None, no timeout (see `TimeoutArg`).
Timeout = TimeoutArg | NotGiven
#: A per-call ``max_retries=``: left out, the client's retry policy.
Retries = int | NotGiven


@attrs.frozen(slots=True)
class Receipt:
    """A write Gett accepted without a body: its HTTP status and how many attempts it took."""

    status: int
    attempts: int = 1
    request_id: str | None = None

    @classmethod
    def of(cls, sent: Sent) -> Receipt:
        return cls(sent.response.status, sent.attempts, sent.response.request_id)


class Resource:
    """Base of the endpoint modules: they build requests (in `gett_async._core`), hand them to
    the sender and parse the answers; nothing else."""

    __slots__ = ("_paths", "_sender")

    def __init__(self, sender: Sender, paths: ApiPaths) -> None:
        self._sender = sender
        self._paths = paths

    async def _send(
        self, request: ApiRequest, timeout: Timeout, max_retries: Retries, priority: Priority = INTERACTIVE
    ) -> Sent:
        if not isinstance(max_retries, NotGiven):
            validate.whole("max_retries", max_retries, minimum=0)
        limit = NOT_GIVEN if isinstance(timeout, NotGiven) else as_timeout(timeout)
        return await self._sender.send(request, timeout=limit, max_retries=max_retries, priority=priority)

    async def _read(self, request: ApiRequest, timeout: Timeout, max_retries: Retries) -> bytes:
        """A request whose answer body is parsed: the body."""
        return (await self._send(request, timeout, max_retries)).response.body
