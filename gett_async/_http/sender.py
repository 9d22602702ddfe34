"""The sender: what every request goes through above the transport.

It adds the auth and identification headers, waits at the rate-limit gate, hands one
attempt to the transport, turns the answer into a result or a typed error (scrubbed of the
key), logs one line per attempt (DEBUG; INFO for a retry, a failure, a long gate wait),
reports to OpenTelemetry when it is installed (`telemetry`), calls the per-attempt hook and
retries in one explicit loop (the shape of openai-python's ``_base_client``): the policy
decides, `backoff` supplies the jitter, the client's ``sleep`` waits and its clock times.
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

import attrs
import backoff

from .._core.problem import decipher_response
from .._core.redact import RedactedHeaders, Secret
from .._core.retry import RetryPolicy, TokenBucket, next_wait
from .._core.wire import NOT_GIVEN, ApiRequest, ApiResponse, NotGiven, Timeout, Transport
from .._version import __version__
from ..errors import APIConnectionError, APIError, GettError
from .gate import INTERACTIVE, READ, WRITE, Priority, RateLimitGate
from .telemetry import NullCall, Telemetry

logger = logging.getLogger("gett_async")

#: Response headers that may appear in DEBUG logs; nothing else is logged.
LOGGED_HEADERS = ("Content-Type", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", "X-Request-Id")

#: The SDK and the interpreter; not the HTTP library, which depends on the transport.
USER_AGENT = f"gett-async/{__version__} {platform.python_implementation()}/{platform.python_version()}"


@attrs.frozen(slots=True)
class Attempt:
    """What the per-attempt hook receives after each HTTP attempt.

    ``duration`` is the exchange alone (the server's time and the network's); ``waited`` the
    time at the rate-limit gate before it. ``retry_in`` is the wait before the next attempt,
    or None when none follows.
    """

    method: str
    path: str  # the path template, e.g. /v1/commerce/orders/{order_id}/status
    attempt: int
    status: int | None  # None when no answer arrived
    duration: float  # seconds
    request_id: str | None
    error: GettError | None
    retry_in: float | None = None
    waited: float = 0.0  # seconds


AttemptHook = Callable[[Attempt], "Awaitable[None] | None"]

#: A wait at the rate-limit gate longer than this is logged at INFO.
LOGGED_GATE_WAIT = 1.0

Answer = ApiResponse | APIError | APIConnectionError


@attrs.frozen(slots=True)
class Sent:
    """A 2xx answer and how many attempts it took."""

    response: ApiResponse
    attempts: int


class Sender:
    """Sends `ApiRequest`s through a `Transport` with headers, the gate, retries, logs, hooks
    and (when OpenTelemetry is installed) traces and metrics."""

    def __init__(
        self,
        transport: Transport,
        *,
        api_key: Secret,
        retry: RetryPolicy,
        gate: RateLimitGate,
        timeout: Timeout,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] = time.perf_counter,
        base_url: str = "",
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
        self._clock = clock
        self._telemetry = Telemetry(base_url)
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
        operation: str = "",
        timeout: Timeout | NotGiven = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
        priority: Priority = INTERACTIVE,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Sent:
        """Send ``request`` with retries; return the 2xx answer or raise a GettError.

        ``operation`` names the SDK call in traces (``orders.update_status``); ``priority``
        goes to the gate with every attempt; ``extra_headers`` (checked by
        `gett_async._core.extras.extra_headers`, so none replaces the SDK's) are added.
        """
        if self.closed:
            raise GettError("this GettClient is closed")
        limit = self.timeout if isinstance(timeout, NotGiven) else timeout
        retries = self.retry.max_retries if isinstance(max_retries, NotGiven) else max_retries
        headers = self._read_headers if request.body is None else self._write_headers
        if extra_headers:
            headers = RedactedHeaders(headers, **extra_headers)
        request = request.with_headers(headers)
        with self._telemetry.call(operation or f"{request.method} {request.template}") as call:
            for attempt in itertools.count(1):
                answer, waited, duration = await self._attempt(request, limit, priority, attempt, call)
                if isinstance(answer, ApiResponse):
                    self._report(request, attempt, waited, duration, answer.status, answer.request_id, None, None,
                                 retries)
                    if logger.isEnabledFor(logging.DEBUG):
                        # Response headers by allow-list only; request headers (the key) are never logged.
                        shown = {name: answer.headers[name] for name in LOGGED_HEADERS if name in answer.headers}
                        logger.debug("%s %s response headers: %s", request.method, request.template, shown)
                    if self._budget is not None:
                        self._budget.refund()
                    call.finish(attempt)
                    return Sent(answer, attempt)
                failure = answer
                failure.attempts = attempt
                wait = next_wait(self.retry, failure, attempt - 1, retries, self._budget, backoff.full_jitter)
                status = failure.status if isinstance(failure, APIError) else None
                request_id = failure.request_id if isinstance(failure, APIError) else None
                self._report(request, attempt, waited, duration, status, request_id, failure, wait, retries)
                call.finish(attempt)
                if wait is None:
                    raise failure
                call.backoff(wait, attempt + 1, failure)
                await self._sleep(wait)
        raise AssertionError("unreachable")  # itertools.count never ends

    async def _attempt(
        self, request: ApiRequest, timeout: Timeout, priority: Priority, attempt: int, call: NullCall
    ) -> tuple[Answer, float, float]:
        """One attempt through the gate: (the scrubbed 2xx answer or the typed error, seconds
        at the gate, seconds of the exchange). The gate's wait and the exchange are timed
        apart, so a trace never counts waiting as the server's time."""
        kind = WRITE if request.write else READ
        clock = self._clock
        arrived = clock()
        try:
            await self.gate.acquire(kind, priority=priority)
        except (APIError, APIConnectionError) as refused:  # a wait longer than max_wait: no attempt made
            return refused, clock() - arrived, 0.0
        waited = clock() - arrived
        call.gate_waited(kind, priority, waited)
        if waited > LOGGED_GATE_WAIT and logger.isEnabledFor(logging.INFO):
            logger.info("waited %.1f s at the rate-limit gate (%s %s, a %s, attempt %d)",
                        waited, request.method, request.template, kind, attempt)
        answer: Answer | None = None
        with call.attempt(request, attempt) as traced:
            started = clock()
            try:
                answer = await self._exchange(request, timeout)
            except APIConnectionError as exc:
                answer = exc
            finally:
                headers = answer.headers if isinstance(answer, (ApiResponse, APIError)) else None
                self.gate.settle(kind, headers, answer.retry_after if isinstance(answer, APIError) else None)
            duration = clock() - started
            if isinstance(answer, ApiResponse):
                traced.answered(answer.status, duration, answer.request_id, None)
            elif isinstance(answer, APIError):
                traced.answered(answer.status, duration, answer.request_id, answer)
            else:
                traced.answered(None, duration, None, answer)
        return answer, waited, duration

    async def _exchange(self, request: ApiRequest, timeout: Timeout) -> ApiResponse | APIError:
        """The transport's answer, deciphered. Its own frame, gone before anything is raised
        with it: the raw answer (where a server may have echoed the key) is not kept."""
        try:
            response = await self.transport.send(request, timeout=timeout)
        except APIConnectionError as exc:
            exc.args = tuple(self._secret.scrub(arg) for arg in exc.args)  # a transport may quote the server
            raise
        return decipher_response(request, response, self._secret)

    def _report(
        self,
        request: ApiRequest,
        attempt: int,
        waited: float,
        duration: float,
        status: int | None,
        request_id: str | None,
        error: GettError | None,
        retry_in: float | None,
        retries: int,
    ) -> None:
        if error is None:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s %s -> %s in %.1f ms (attempt %d, request_id=%s)", request.method, request.template,
                             status, duration * 1000, attempt, request_id)
        elif logger.isEnabledFor(logging.INFO):
            timing = f"{duration * 1000:.1f} ms" + (f", request id {request_id}" if request_id else "")
            if retry_in is not None:
                logger.info("retry %d of %d in %.1f s after %s (%s %s, %s)", attempt, retries, retry_in,
                            _describe(error), request.method, request.template, timing)
            else:
                logger.info("%s %s failed after %d attempt%s: %s (%s)", request.method, request.template, attempt,
                            "" if attempt == 1 else "s", _describe(error), timing)
        if self._on_attempt is not None:
            record = Attempt(request.method, request.template, attempt, status, duration, request_id, error, retry_in,
                             waited)
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


def _describe(error: GettError) -> str:
    """``503 SERVICE_UNAVAILABLE``, ``409 ConflictError``, ``APITimeoutError: ...`` (scrubbed)."""
    if isinstance(error, APIError):
        return f"{error.status} {error.error_code or type(error).__name__}"
    return f"{type(error).__name__}: {error}"
