"""The sender: what every request goes through above the transport.

It adds the auth and identification headers, waits at the rate-limit gate, hands one
attempt to the transport, turns the answer into a result or a typed error (scrubbed of the
key), logs one line per attempt, calls the per-attempt hook and retries in one explicit
loop (the shape of openai-python's ``_base_client``): the policy decides, `backoff` supplies
the jitter, the client's ``sleep`` waits.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import platform
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import attrs
import backoff

from .._core.problem import decipher_response
from .._core.redact import RedactedHeaders, Secret
from .._core.retry import RetryPolicy, TokenBucket, next_wait
from .._core.wire import NOT_GIVEN, ApiRequest, ApiResponse, NotGiven, Timeout, Transport
from .._version import __version__
from ..errors import APIConnectionError, APIError, GettError
from .gate import INTERACTIVE, READ, WRITE, Priority, RateLimitGate

logger = logging.getLogger("gett_async")

#: Response headers that may appear in DEBUG logs; nothing else is logged.
LOGGED_HEADERS = ("Content-Type", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "X-Request-Id")

USER_AGENT = (
    f"gett-async/{__version__} aiohttp/{aiohttp.__version__} "
    f"{platform.python_implementation()}/{platform.python_version()}"
)


@attrs.frozen(slots=True)
class Attempt:
    """What the per-attempt hook receives after each HTTP attempt.

    ``retry_in`` is the wait before the next attempt, or None when none follows.
    """

    method: str
    path: str  # the path template, e.g. /v1/commerce/orders/{order_id}/status
    attempt: int
    status: int | None  # None when no answer arrived
    duration: float  # seconds
    request_id: str | None
    error: GettError | None
    retry_in: float | None = None


AttemptHook = Callable[[Attempt], "Awaitable[None] | None"]


@attrs.frozen(slots=True)
class Sent:
    """A 2xx answer and how many attempts it took."""

    response: ApiResponse
    attempts: int


class Sender:
    """Sends `ApiRequest`s through a `Transport` with headers, the gate, retries, logs and hooks."""

    def __init__(
        self,
        transport: Transport,
        *,
        api_key: Secret,
        retry: RetryPolicy,
        gate: RateLimitGate,
        timeout: Timeout,
        sleep: Callable[[float], Awaitable[None]],
        on_attempt: AttemptHook | None = None,
        user_agent: str | None = None,
    ) -> None:
        self.transport = transport
        self.retry = retry
        self.gate = gate
        self.timeout = timeout
        self.closed = False
        self._secret = api_key
        self._sleep = sleep
        self._on_attempt = on_attempt
        self._budget = TokenBucket(retry.budget) if retry.budget is not None else None
        ua = USER_AGENT if not user_agent else f"{user_agent} {USER_AGENT}"
        self._read_headers = RedactedHeaders(
            {"Authorization": api_key.bearer(), "User-Agent": ua, "Accept": "application/json"}
        )
        self._write_headers = RedactedHeaders(self._read_headers, **{"Content-Type": "application/json"})

    def derive(self, *, retry: RetryPolicy | None = None, timeout: Timeout | None = None) -> Sender:
        """A sender on the same transport, gate, retry budget and key, with other defaults."""
        other = copy.copy(self)
        other.retry = retry if retry is not None else self.retry
        other.timeout = timeout if timeout is not None else self.timeout
        return other

    async def send(
        self,
        request: ApiRequest,
        *,
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        priority: Priority = INTERACTIVE,
    ) -> Sent:
        """Send ``request`` with retries; return the 2xx answer or raise a GettError.
        ``priority`` goes to the gate with every attempt."""
        if self.closed:
            raise GettError("this GettClient is closed")
        limit = self.timeout if isinstance(timeout, NotGiven) else timeout
        retries = self.retry.max_retries if isinstance(max_retries, NotGiven) else max_retries
        request = attrs.evolve(request, headers=self._read_headers if request.body is None else self._write_headers)
        for attempt in itertools.count(1):
            started = time.perf_counter()
            failure: APIError | APIConnectionError | None = None
            try:
                response = await self._attempt(request, limit, priority)
            except (APIError, APIConnectionError) as exc:
                failure = exc
            if failure is None:
                self._report(request, attempt, started, response.status, response.request_id, None, None)
                if logger.isEnabledFor(logging.DEBUG):
                    # Response headers by allow-list only; request headers (the key) are never logged.
                    shown = {name: response.headers[name] for name in LOGGED_HEADERS if name in response.headers}
                    logger.debug("%s %s response headers: %s", request.method, request.template, shown)
                if self._budget is not None:
                    self._budget.refund()
                return Sent(response, attempt)
            failure.attempts = attempt
            wait = next_wait(self.retry, failure, attempt - 1, retries, self._budget, backoff.full_jitter)
            status = failure.status if isinstance(failure, APIError) else None
            request_id = failure.request_id if isinstance(failure, APIError) else None
            self._report(request, attempt, started, status, request_id, failure, wait)
            if wait is None:
                raise failure
            await self._sleep(wait)
        raise AssertionError("unreachable")  # itertools.count never ends

    async def _attempt(self, request: ApiRequest, timeout: Timeout, priority: Priority) -> ApiResponse:
        """One attempt through the gate: the scrubbed 2xx answer, or raise its typed error."""
        kind = WRITE if request.write else READ
        await self.gate.acquire(kind, priority=priority)
        headers: Mapping[str, str] | None = None
        retry_after: float | None = None
        try:
            answer = await self._exchange(request, timeout)
            headers = answer.headers
            if isinstance(answer, APIError):
                retry_after = answer.retry_after
                raise answer
            return answer
        finally:
            self.gate.settle(kind, headers, retry_after)

    async def _exchange(self, request: ApiRequest, timeout: Timeout) -> ApiResponse | APIError:
        """The transport's answer, deciphered. Its own frame, gone before anything is raised
        with it: the raw answer (where a server may have echoed the key) is not kept."""
        try:
            response = await self.transport.send(request, timeout=timeout)
        except APIConnectionError as exc:
            exc.args = tuple(self._secret.scrub(arg) for arg in exc.args)  # aiohttp may quote the server
            raise
        return decipher_response(request, response, self._secret)

    def _report(
        self,
        request: ApiRequest,
        attempt: int,
        started: float,
        status: int | None,
        request_id: str | None,
        error: GettError | None,
        retry_in: float | None,
    ) -> None:
        duration = time.perf_counter() - started
        level = logging.DEBUG if error is None else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s %s -> %s in %.1f ms (attempt %d, request_id=%s)%s%s",
                request.method, request.template, status if status is not None else "no answer",
                duration * 1000, attempt, request_id, _describe(error),
                "" if retry_in is None else f"; retrying in {retry_in:.2f} s",
            )
        if self._on_attempt is not None:
            record = Attempt(request.method, request.template, attempt, status, duration, request_id, error, retry_in)
            try:
                result = self._on_attempt(record)
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
