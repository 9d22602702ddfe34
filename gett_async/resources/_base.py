"""What every endpoint module shares: the sender, the paths, per-call options, receipts."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

import attrs

from .._core import extras, validate
from .._core.paths import ApiPaths
from .._core.wire import NOT_GIVEN, ApiRequest, NotGiven
from .._http.gate import INTERACTIVE, Priority
from .._http.sender import Sender, Sent
from .._http.timeouts import TimeoutArg, as_timeout

#: A per-call ``timeout=``: left out, the client's default; None, no timeout (see `TimeoutArg`).
Timeout = TimeoutArg | NotGiven
#: A per-call ``max_retries=``: left out, the client's retry policy.
Retries = int | NotGiven
#: Per-call ``extra_headers=``: added to the request; none may replace a header the SDK sets.
ExtraHeaders = Mapping[str, str] | None
#: Per-call ``extra_body=``: members added to the JSON body; none may be a documented one.
ExtraBody = Mapping[str, object] | None

#: Set by `gett_async.resources.RawResponse`'s accessors: each `Resource._send` of the call
#: appends what it got, so the accessor can hand back the status and headers with the result.
SENT_LOG: ContextVar[list[Sent] | None] = ContextVar("gett_async_sent_log", default=None)


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
        self,
        operation: str,
        request: ApiRequest,
        timeout: Timeout,
        max_retries: Retries,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
        *,
        model: type | None = None,
        priority: Priority = INTERACTIVE,
    ) -> Sent:
        """Send ``request`` as the call ``operation`` (``orders.update_status``: the trace's
        name). ``model`` is the request body's model, whose documented members ``extra_body``
        may not set. Refuses (GettValidationError) a negative ``max_retries``, a bad timeout,
        and what `gett_async._core.extras` refuses of the extras."""
        if not isinstance(max_retries, NotGiven):
            validate.whole("max_retries", max_retries, minimum=0)
        limit = NOT_GIVEN if isinstance(timeout, NotGiven) else as_timeout(timeout)
        headers = None if extra_headers is None else extras.extra_headers(extra_headers)
        if extra_body is not None:
            request = extras.with_extra_body(request, extra_body, model)
        sent = await self._sender.send(
            request, operation=operation, timeout=limit, max_retries=max_retries, priority=priority,
            extra_headers=headers,
        )
        log = SENT_LOG.get()
        if log is not None:
            log.append(sent)
        return sent

    async def _read(
        self,
        operation: str,
        request: ApiRequest,
        timeout: Timeout,
        max_retries: Retries,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
        *,
        model: type | None = None,
    ) -> bytes:
        """A request whose answer body is parsed: the body."""
        sent = await self._send(operation, request, timeout, max_retries, extra_headers, extra_body, model=model)
        return sent.response.body
