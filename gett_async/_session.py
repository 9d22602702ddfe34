"""The session manager: the only code that touches aiohttp.

It owns (or borrows) one `aiohttp.ClientSession`, adds auth and identification headers,
applies timeouts, waits at the rate-limit gate, retries through the one retry policy,
turns problem+json answers into typed errors, logs one line per attempt and calls the
per-attempt hook. Endpoint modules hand it an `ApiRequest` and get an `ApiResponse` back.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import platform
import time
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import aiohttp
import attrs
import backoff
from multidict import CIMultiDict

from . import _deadline, _retry
from ._problem import parse_json_object, parse_retry_after, problem_from
from ._ratelimit import RateLimitGate
from ._redact import RedactedHeaders, Secret
from ._version import __version__
from .errors import APIConnectionError, APIError, APITimeoutError, GettError, error_class_for

logger = logging.getLogger("gett_async")

#: Response headers that may appear in DEBUG logs; nothing else is logged.
LOGGED_HEADERS = (
    "Content-Type",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
    "X-Request-Id",
)

USER_AGENT = (
    f"gett-async/{__version__} aiohttp/{aiohttp.__version__} "
    f"{platform.python_implementation()}/{platform.python_version()}"
)

# No sock_read: total=30 already bounds a stalled read, and aiohttp re-arms a sock_read timer on
# every received chunk (about 7% of a request's client CPU against a fast server). No ``connect``
# either (a timer per request, about 2%): sock_connect bounds a new connection, total the rest.
# The total itself is enforced by `_deadline` (shared timers), not by aiohttp.
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=30.0, sock_connect=5.0)
_SENTINEL: Any = aiohttp.helpers.sentinel  # "not given": the session's timeout applies

#: The most of an error body kept (``APIError.body``); a longer one is cut and its connection closed.
MAX_ERROR_BODY = 1024 * 1024
#: The most of a success body read when the SDK parses it (store lists, onboarding objects).
MAX_BODY = 16 * 1024 * 1024
#: Of a success body the SDK does not use (order updates, catalog notifications), at most this
#: much is read to keep the connection reusable; a longer one closes the connection instead.
MAX_UNUSED_BODY = 64 * 1024


# ApiRequest and ApiResponse are immutable NamedTuples rather than frozen attrs classes: one of
# each is built per request, and a frozen attrs __init__ (a setattr call per field) costs twice
# as much. Public results (Receipt, the models) stay attrs.
class ApiRequest(NamedTuple):
    """One logical call, described by an endpoint module. ``template`` is for logs."""

    method: str
    path: str
    template: str
    body: bytes | None = None
    params: Mapping[str, str] | None = None
    write: bool = True
    reads_body: bool = True  # False: a 2xx body is not used, so it is not buffered


class ApiResponse(NamedTuple):
    """A 2xx answer: status, headers and raw body, plus how many attempts it took."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    attempts: int = 1


@attrs.frozen(slots=True)
class Attempt:
    """What the per-attempt hook receives after each HTTP attempt."""

    method: str
    path: str  # the path template, e.g. /v1/commerce/orders/{order_id}/status
    attempt: int
    status: int | None  # None when no answer arrived
    duration: float  # seconds
    request_id: str | None
    error: GettError | None


AttemptHook = Callable[[Attempt], "Awaitable[None] | None"]


def _fast_path(gate: RateLimitGate) -> Callable[[str], bool] | None:
    """The gate's ``try_acquire``, if it has one that goes with its ``acquire``: a subclass
    that overrides ``acquire`` alone (logging, a shared budget) must still see every call."""
    try_acquire = getattr(gate, "try_acquire", None)
    if try_acquire is None:
        return None
    owners = [next((k for k in type(gate).__mro__ if name in vars(k)), None) for name in ("try_acquire", "acquire")]
    return try_acquire if owners[0] is owners[1] else None


def _split(timeout: aiohttp.ClientTimeout) -> tuple[float | None, aiohttp.ClientTimeout]:
    """(the total our shared deadlines enforce, or None; what aiohttp is left to enforce)."""
    if _deadline.shared(timeout.total, timeout.ceil_threshold):
        return timeout.total, attrs.evolve(timeout, total=None)
    return None, timeout


class _Call:
    """Per logical call state shared across its attempts."""

    __slots__ = ("attempts", "failure", "request", "timeout", "total")

    def __init__(self, request: ApiRequest, timeout: aiohttp.ClientTimeout | Any, total: float | None) -> None:
        self.request = request
        self.timeout = timeout  # aiohttp's per-request timeout, or _SENTINEL for the session's
        self.total = total  # seconds each attempt may take, enforced by the shared deadlines
        self.attempts = 0
        self.failure: GettError | None = None  # the first attempt's error, replayed into the retry loop


class Transport:
    """Sends `ApiRequest`s with auth, timeouts, the gate, retries, logging and hooks."""

    def __init__(
        self,
        *,
        api_key: Secret,
        base_url: str,
        timeout: aiohttp.ClientTimeout | None,
        retry: _retry.RetryPolicy,
        gate: RateLimitGate,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        on_attempt: AttemptHook | None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None,
        user_agent: str | None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._deadlines = _deadline.Deadlines()
        self._session_timeout: aiohttp.ClientTimeout | None = None
        self._request_timeout: aiohttp.ClientTimeout | Any = _SENTINEL
        self._total: float | None = None
        if session is None:  # ours: the session carries what aiohttp enforces
            self._total, self._session_timeout = _split(timeout or DEFAULT_TIMEOUT)
        elif timeout is not None:  # the caller's session, with a timeout given to us
            self._total, self._request_timeout = _split(timeout)
        self.retry = retry
        self.gate = gate
        self._try_acquire = _fast_path(gate)
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._on_attempt = on_attempt
        self._trace_configs = list(trace_configs or ())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        ua = USER_AGENT if not user_agent else f"{user_agent} {USER_AGENT}"
        self._read_headers = RedactedHeaders(
            {"Authorization": api_key.bearer(), "User-Agent": ua, "Accept": "application/json"}
        )
        self._write_headers = RedactedHeaders(self._read_headers, **{"Content-Type": "application/json"})
        self._secret = api_key
        self._budget = _retry.TokenBucket(retry.budget) if retry.budget is not None else None
        self._send_with_retries = backoff.on_exception(
            functools.partial(_retry.waits, retry),
            (APIError, APIConnectionError),
            max_tries=retry.max_retries + 1,
            jitter=None,
            giveup=self._give_up,
            logger=None,
        )(self._retry_attempt)

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def _bind(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise GettError(
                "this GettClient belongs to another event loop; create one client per loop "
                "(a session cannot move between loops)"
            )
        if self._closed:
            raise GettError("this GettClient is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._session_timeout,
                trace_configs=self._trace_configs or None,
                auto_decompress=True,
            )
        return self._session

    async def open(self) -> None:
        self._bind()

    async def aclose(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def unclosed(self) -> bool:
        """True when we created a session that is still open (for the ResourceWarning)."""
        return self._owns_session and self._session is not None and not self._session.closed

    # -- sending -----------------------------------------------------------------------

    async def send(self, request: ApiRequest, *, timeout: aiohttp.ClientTimeout | None = None) -> ApiResponse:
        """Send ``request`` with retries; return the 2xx answer or raise a GettError."""
        self._bind()
        if timeout is None:
            call = _Call(request, self._request_timeout, self._total)
        else:
            total, for_aiohttp = _split(timeout)
            call = _Call(request, for_aiohttp, total)
        response: ApiResponse | None = None
        try:
            response = await self._attempt(call)  # most calls succeed at once: no retry machinery
        except (APIError, APIConnectionError) as exc:
            call.failure = exc
        if response is None:
            # The retry loop replays the failure as its own first try (same give-up check, budget
            # withdrawal, waits and max_tries); it runs outside the handler above so that later
            # errors do not get this one as an implicit __context__.
            response = await self._send_with_retries(call)
        if self._budget is not None:
            self._budget.refund()
        return response

    async def sleep(self, seconds: float) -> None:
        """The clock used by pollers (one place to fake it in tests)."""
        await asyncio.sleep(seconds)

    def _give_up(self, exc: Exception) -> bool:
        if not _retry.is_retryable(exc):
            return True
        asked = getattr(exc, "retry_after", None)
        if asked is not None and asked > self.retry.max_retry_wait:
            return True  # fail fast: the error carries retry_after for the caller to plan
        if getattr(exc, "attempts", 0) > self.retry.max_retries:
            return True  # out of retries: no retry follows, so none is paid for from the budget
        return self._budget is not None and not self._budget.withdraw(exc)

    async def _retry_attempt(self, call: _Call) -> ApiResponse:
        failure, call.failure = call.failure, None
        if failure is not None:
            raise failure
        return await self._attempt(call)

    async def _attempt(self, call: _Call) -> ApiResponse:
        request = call.request
        session, loop = self._session, self._loop
        assert session is not None and loop is not None  # bound by send()
        if self._closed:
            raise GettError("this GettClient is closed")
        call.attempts += 1
        kind = "write" if request.write else "read"
        if self._try_acquire is None or self._try_acquire(kind) is not True:
            await self.gate.acquire(kind)
        started = time.perf_counter()
        headers: Mapping[str, str] | None = None
        retry_after: float | None = None
        failure: GettError | None = None
        deadline = self._deadlines.arm(call.total, loop) if call.total is not None else None
        try:
            try:
                answer = await self._exchange(session, call)
            except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
                failure = APITimeoutError(
                    f"{request.method} {request.template} timed out ({type(exc).__name__})",
                    attempts=call.attempts, method=request.method, path=request.template,
                )
            except aiohttp.ClientError as exc:
                failure = APIConnectionError(  # aiohttp may quote what the server sent: scrubbed
                    f"{request.method} {request.template} failed: {type(exc).__name__}: {self._secret.scrub(str(exc))}",
                    attempts=call.attempts, method=request.method, path=request.template,
                )
            except asyncio.CancelledError:
                if deadline is None or not deadline.ours():
                    raise  # somebody else's cancellation: never swallowed
                failure = APITimeoutError(
                    f"{request.method} {request.template} timed out (no answer within {call.total:g} s)",
                    attempts=call.attempts, method=request.method, path=request.template,
                )
            finally:
                if deadline is not None:
                    deadline.end()
            if failure is not None:
                # Raised outside the except blocks so the aiohttp exception is not kept as
                # __context__: its frames hold the request headers, the API key included.
                self._report(call, None, started, None, failure)
                raise failure
            if isinstance(answer, APIError):
                headers, retry_after = answer.headers, answer.retry_after
                self._report(call, answer.status, started, answer.request_id, answer, headers)
                raise answer
            status, headers, body, whole = answer
            if request.reads_body and not whole:
                raise GettError(
                    f"{request.method} {request.template} -> {status}: the response body is larger than "
                    f"{MAX_BODY // (1024 * 1024)} MiB; not read"
                )
            request_id = headers.get("X-Request-Id")
            self._report(call, status, started, request_id, None, headers)
            return ApiResponse(status, headers, body, call.attempts)
        finally:
            self.gate.settle(kind, headers, retry_after)

    async def _exchange(
        self, session: aiohttp.ClientSession, call: _Call
    ) -> tuple[int, Mapping[str, str], bytes, bool] | APIError:
        """One HTTP exchange: (status, headers, body, whether the body was read whole) for a 2xx,
        else the typed error. The error is built here, so the raw answer (where a server may
        have echoed the key) never sits in the locals of a frame that a traceback shows."""
        request = call.request
        # Awaited directly rather than through ``async with``: the same release, five fewer
        # coroutine objects per request on the hottest path of the package.
        resp = await session.request(
            request.method,
            self.base_url + request.path,
            data=request.body,
            params=request.params,
            headers=self._read_headers if request.body is None else self._write_headers,
            allow_redirects=False,
            timeout=call.timeout,
        )
        status = resp.status
        try:
            body, whole = await _read_capped(resp, _body_limit(request, status))
            if whole:
                await resp.wait_for_close()
            else:
                resp.close()  # the rest is unread: the connection cannot be reused
        finally:
            resp.release()
        if status < 300:
            return status, self._scrubbed(resp.headers), body, whole
        return _problem_error(request, status, self._scrubbed(resp.headers), body, call.attempts, self._secret)

    def _scrubbed(self, headers: Mapping[str, str]) -> Mapping[str, str]:
        """``headers``, or a copy with the key replaced if a server echoed it into any of them."""
        scrub = self._secret.scrub
        if all(scrub(name) is name and scrub(value) is value for name, value in headers.items()):
            return headers
        return CIMultiDict((scrub(name), scrub(value)) for name, value in headers.items())

    def _report(
        self, call: _Call, status: int | None, started: float, request_id: str | None,
        error: GettError | None, headers: Mapping[str, str] | None = None,
    ) -> None:
        duration = time.perf_counter() - started
        request = call.request
        if logger.isEnabledFor(logging.DEBUG if error is None else logging.INFO):
            level = logging.DEBUG if error is None else logging.INFO
            logger.log(
                level,
                "%s %s -> %s in %.1f ms (attempt %d, request_id=%s)%s",
                request.method, request.template, status if status is not None else "no answer",
                duration * 1000, call.attempts, request_id, _describe(error),
            )
            if headers and logger.isEnabledFor(logging.DEBUG):
                # Response headers by allow-list only; request headers (the key) are never logged.
                shown = {name: headers[name] for name in LOGGED_HEADERS if name in headers}
                logger.debug("%s %s response headers: %s", request.method, request.template, shown)
        if self._on_attempt is not None:
            attempt = Attempt(request.method, request.template, call.attempts, status, duration, request_id, error)
            try:
                result = self._on_attempt(attempt)
            except Exception:  # a broken metrics hook must not fail the request it observes
                logger.exception("the on_attempt hook raised; the request goes on")
                return
            if asyncio.iscoroutine(result):
                # A hook may be async; it must not delay the request path, so it runs beside it.
                task = asyncio.ensure_future(result)
                _HOOK_TASKS.add(task)
                task.add_done_callback(_hook_done)


_HOOK_TASKS: set[asyncio.Future[Any]] = set()


def _hook_done(task: asyncio.Future[Any]) -> None:
    _HOOK_TASKS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("the async on_attempt hook raised %r", task.exception())


def _describe(error: GettError | None) -> str:
    if error is None:
        return ""
    if isinstance(error, APIError):
        return f" {type(error).__name__} {error.error_code or ''}".rstrip()
    return f" {type(error).__name__}: {error}"


def _body_limit(request: ApiRequest, status: int) -> int:
    if status >= 300:
        return MAX_ERROR_BODY
    return MAX_BODY if request.reads_body else MAX_UNUSED_BODY


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """(up to ``limit`` bytes of the body, whether that was all of it)."""
    length = resp.content_length
    if length is not None and length <= limit:
        return await resp.read(), True
    chunks = bytearray()
    while len(chunks) <= limit:
        chunk = await resp.content.read(limit + 1 - len(chunks))
        if not chunk:
            return bytes(chunks), True
        chunks += chunk
    return bytes(chunks[:limit]), False


def _problem_error(
    request: ApiRequest, status: int, headers: Mapping[str, str], body: bytes, attempts: int, secret: Secret
) -> APIError:
    """Build the typed error from a non-2xx answer; any body (or none) still gives the class.

    Everything taken from the answer is scrubbed of the key first (``headers`` already are).
    """
    data = parse_json_object(body)
    clean = secret.scrub(data) if data is not None else None
    problem = problem_from(clean) if clean is not None else None
    raw = secret.scrub(body)
    if clean is not None and raw == body and clean != data:
        raw = json.dumps(clean).encode()  # the key was in the body JSON-escaped: keep the scrubbed form
    detail = problem.detail if problem else None
    title = (problem.title if problem else None) or _REASONS.get(status, "HTTP error")
    code = problem.error_code if problem else None
    retry_after = problem.retry_after if problem else None
    if retry_after is None:
        retry_after = parse_retry_after(headers.get("Retry-After"))
    request_id = (problem.request_id if problem else None) or headers.get("X-Request-Id")
    message = f"{request.method} {request.template} -> {status} {title}"
    if code:
        message += f" [{code}]"
    if detail:
        message += f": {detail}"
    if request_id:
        message += f" (request_id={request_id})"
    return error_class_for(status)(
        message,
        status=status,
        error_code=code,
        category=problem.error_category if problem else None,
        retryable=problem.retryable if problem else None,
        retry_after=retry_after,
        request_id=request_id,
        detail=detail,
        errors=problem.errors if problem else (),
        attempts=attempts,
        method=request.method,
        path=request.template,
        problem=problem,
        headers=headers,
        body=raw,
    )


_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    409: "Conflict", 422: "Unprocessable Entity", 429: "Too Many Requests",
    500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout",
}


def warn_unclosed(owner: object) -> None:
    """The ResourceWarning for a client collected while its own session is open (no I/O)."""
    warnings.warn(
        f"unclosed GettClient {owner!r}: use 'async with GettClient(...)' or 'await client.aclose()'",
        ResourceWarning,
        stacklevel=2,
        source=owner,
    )
