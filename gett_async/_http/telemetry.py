"""OpenTelemetry traces and metrics, when the API is installed (``pip install "gett-async[otel]"``).

Without ``opentelemetry-api`` this module imports nothing more and every function here does
nothing: `ENABLED` is False, `call` hands out one shared no-op, `record_outcome` returns.

With it, the SDK reports through the global tracer and meter providers once the application
has installed one (`configured`); until then it builds nothing:

- one span per SDK call, ``gett {operation}`` (e.g. ``gett orders.update_status``), kind
  INTERNAL, with ``gett.operation``, ``gett.attempts`` and, on failure, ``error.type``;
- under it, one CLIENT span per HTTP attempt named ``{method} {url.template}`` with the HTTP
  client semantic conventions (``http.request.method``, ``url.template``, ``url.full``,
  ``server.address``, ``server.port``, ``http.response.status_code``,
  ``http.request.resend_count``, ``error.type``) and Gett's ``gett.request_id`` and
  ``gett.error_code``. An attempt span covers the exchange only: time at the rate-limit gate
  and backoff sleeps are events on the call span (``gett.rate_limit.wait``,
  ``gett.retry.backoff``, each with ``gett.wait.seconds``), never inside an attempt;
- metrics: ``http.client.request.duration`` (s, per attempt, gate time excluded),
  ``gett.rate_limit.wait.duration`` (s, per pass through the gate, by ``gett.rate_limit.class``
  and ``server.address``)
  and ``gett.stream.outcomes`` (events by ``gett.outcome.kind``, through `record_outcome`).

No attribute carries a header or a body; everything taken from an answer was scrubbed of the
key before it gets here (``decipher_response``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode, urlsplit

from .._version import __version__
from ..errors import APIError, GettError

if TYPE_CHECKING:
    from .._core.wire import ApiRequest

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import _internal as _metrics_internal
    from opentelemetry.trace import Span, SpanKind, StatusCode

    #: Whether OpenTelemetry's API is installed (decided once, at import).
    ENABLED = True
except ImportError:  # the otel extra is not installed: telemetry is off and costs one branch
    ENABLED = False

#: The name the SDK's tracer and meter carry (the instrumentation scope).
SCOPE = "gett_async"
#: Gate waits shorter than this are the gate's own bookkeeping, not a wait: no span event.
MIN_GATE_EVENT = 0.001
#: The HTTP semantic conventions' advice for request durations, in seconds.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: Rate-limit waits run from nothing to a 60 s window.
WAIT_BUCKETS = (0.0, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)


class NullCall:
    """The call trace when telemetry is off: every method does nothing."""

    __slots__ = ()

    def gate_waited(self, kind: str, priority: str, seconds: float) -> None:
        """A pass through the rate-limit gate took ``seconds``."""

    def backoff(self, seconds: float, next_attempt: int, error: BaseException) -> None:
        """The call sleeps ``seconds`` before ``next_attempt`` because of ``error``."""

    def attempt(self, request: ApiRequest, attempt: int) -> contextlib.AbstractContextManager[NullAttempt]:
        """The span of one HTTP attempt (current while the transport works)."""
        return _NULL_ATTEMPT_CONTEXT

    def finish(self, attempts: int) -> None:
        """The call ended after ``attempts`` attempts."""


class NullAttempt:
    """The attempt trace when telemetry is off."""

    __slots__ = ()

    def answered(
        self, status: int | None, duration: float, request_id: str | None, error: BaseException | None
    ) -> None:
        """The attempt ended: ``status`` None when no answer came; ``duration`` in seconds."""


NULL_CALL: Final = NullCall()
_NULL_ATTEMPT_CONTEXT: Final = contextlib.nullcontext(NullAttempt())
_NULL_CALL_CONTEXT: Final = contextlib.nullcontext(NULL_CALL)


class Telemetry:
    """Where one client's telemetry goes: the server it talks to, named in every attempt."""

    __slots__ = ("base_url", "server_address", "server_port")

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.server_address = parts.hostname or ""
        self.server_port = parts.port or (443 if parts.scheme == "https" else 80)

    def call(self, operation: str) -> contextlib.AbstractContextManager[NullCall]:
        """The span of one SDK call, current while it runs (attempt spans nest under it)."""
        if not ENABLED or not configured():
            return _NULL_CALL_CONTEXT
        return _call(self, operation)


def configured() -> bool:
    """Whether the application installed a tracer or a meter provider (an SDK). Until it does,
    the API's providers are proxies that drop everything, and building spans for them would
    cost as much CPU as the rest of a call: the SDK then does nothing at all. Once true, it
    stays true (the API lets a provider be set only once)."""
    if _STATE["configured"] or not ENABLED:
        return _STATE["configured"]
    # Fast path, about 40 ns: the API keeps the providers set by the application in these
    # module globals, None until then. An API version without them, or a provider named by an
    # environment variable (loaded on first use), takes the public way below (about 1.5 us).
    if (
        not _PROVIDERS_FROM_ENV
        and getattr(trace, "_TRACER_PROVIDER", False) is None
        and getattr(_metrics_internal, "_METER_PROVIDER", False) is None
    ):
        return False
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    _STATE["configured"] = not isinstance(tracer_provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)) or (
        # The API's own proxy meter provider is private; what lives in its package is no SDK.
        not isinstance(meter_provider, metrics.NoOpMeterProvider)
        and not type(meter_provider).__module__.startswith("opentelemetry.metrics")
    )
    return _STATE["configured"]


_STATE = {"configured": False}
_PROVIDERS_FROM_ENV = any(name in os.environ for name in ("OTEL_PYTHON_TRACER_PROVIDER", "OTEL_PYTHON_METER_PROVIDER"))


def record_outcome(kind: str) -> None:
    """Count one stream outcome (``sent``, ``refused``, ``failed``, ``superseded``) in
    ``gett.stream.outcomes``. Does nothing without OpenTelemetry; never raises."""
    if configured():
        _instruments().outcomes.add(1, {"gett.outcome.kind": str(kind)})


# -- the OpenTelemetry side (only reached when ENABLED) ----------------------------------------


class _Instruments:
    """The meter's instruments, made once (before or after the application sets its providers:
    the API's proxies bind them to the real provider when it arrives)."""

    __slots__ = ("duration", "gate_wait", "outcomes", "tracer")

    def __init__(self) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__)
        meter = metrics.get_meter(SCOPE, __version__)
        self.duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Duration of HTTP client requests.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.gate_wait = meter.create_histogram(
            "gett.rate_limit.wait.duration", unit="s",
            description="Time a request waited at the rate-limit gate before its attempt.",
            explicit_bucket_boundaries_advisory=WAIT_BUCKETS,
        )
        self.outcomes = meter.create_counter(
            "gett.stream.outcomes", unit="{event}", description="Order stream events by how they ended."
        )


_MADE: list[_Instruments] = []


def _instruments() -> _Instruments:
    if not _MADE:
        _MADE.append(_Instruments())
    return _MADE[0]


@contextlib.contextmanager
def _call(telemetry: Telemetry, operation: str) -> Iterator[NullCall]:
    instruments = _instruments()
    span = instruments.tracer.start_span(
        f"gett {operation}", kind=SpanKind.INTERNAL, attributes={"gett.operation": operation}
    )
    call = _Call(telemetry, instruments, span)
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield call
        except BaseException as exc:
            _failed(span, exc)
            raise


class _Call(NullCall):
    __slots__ = ("instruments", "span", "telemetry")

    def __init__(self, telemetry: Telemetry, instruments: _Instruments, span: Span) -> None:
        self.telemetry = telemetry
        self.instruments = instruments
        self.span = span

    def gate_waited(self, kind: str, priority: str, seconds: float) -> None:
        self.instruments.gate_wait.record(
            seconds, {"gett.rate_limit.class": kind, "server.address": self.telemetry.server_address}
        )
        if seconds >= MIN_GATE_EVENT and self.span.is_recording():
            self.span.add_event("gett.rate_limit.wait", {
                "gett.wait.seconds": seconds, "gett.rate_limit.class": kind, "gett.rate_limit.priority": priority,
            })

    def backoff(self, seconds: float, next_attempt: int, error: BaseException) -> None:
        if self.span.is_recording():
            self.span.add_event("gett.retry.backoff", {
                "gett.wait.seconds": seconds, "gett.retry.next_attempt": next_attempt, "error.type": _error_type(error),
            })

    def attempt(self, request: ApiRequest, attempt: int) -> contextlib.AbstractContextManager[NullAttempt]:
        return _attempt(self, request, attempt)

    def finish(self, attempts: int) -> None:
        if self.span.is_recording():
            self.span.set_attribute("gett.attempts", attempts)


@contextlib.contextmanager
def _attempt(call: _Call, request: ApiRequest, attempt: int) -> Iterator[NullAttempt]:
    telemetry = call.telemetry
    attributes: dict[str, Any] = {
        "http.request.method": request.method,
        "url.template": request.template,
        "url.full": telemetry.base_url + request.path + (f"?{urlencode(request.query)}" if request.query else ""),
        "server.address": telemetry.server_address,
        "server.port": telemetry.server_port,
    }
    if attempt > 1:  # the conventions: only on resends
        attributes["http.request.resend_count"] = attempt - 1
    span = call.instruments.tracer.start_span(
        f"{request.method} {request.template}", kind=SpanKind.CLIENT, attributes=attributes
    )
    record = _Attempt(call.instruments, span, request, telemetry)
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield record
        except BaseException as exc:  # not an answer nor a connection error: cancelled, or a body too large
            _failed(span, exc)
            raise


class _Attempt(NullAttempt):
    __slots__ = ("instruments", "request", "span", "telemetry")

    def __init__(self, instruments: _Instruments, span: Span, request: ApiRequest, telemetry: Telemetry) -> None:
        self.instruments = instruments
        self.span = span
        self.request = request
        self.telemetry = telemetry

    def answered(
        self, status: int | None, duration: float, request_id: str | None, error: BaseException | None
    ) -> None:
        metric: dict[str, Any] = {
            "http.request.method": self.request.method,
            "url.template": self.request.template,
            "server.address": self.telemetry.server_address,
        }
        if status is not None:
            metric["http.response.status_code"] = status
        if error is not None:
            # The conventions: the status code as text for an HTTP error, else the error's class.
            metric["error.type"] = str(status) if status is not None else _error_type(error)
        self.instruments.duration.record(duration, metric)
        span = self.span
        if not span.is_recording():
            return
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if request_id:
            span.set_attribute("gett.request_id", request_id)
        if isinstance(error, APIError) and error.error_code:
            span.set_attribute("gett.error_code", error.error_code)
        if error is not None:
            span.set_attribute("error.type", metric["error.type"])
            span.set_status(StatusCode.ERROR, _describe(error))


def _failed(span: Span, error: BaseException) -> None:
    if span.is_recording():
        span.set_attribute("error.type", _error_type(error))
        span.set_status(StatusCode.ERROR, _describe(error))


def _error_type(error: BaseException) -> str:
    return type(error).__name__


def _describe(error: BaseException) -> str:
    # GettErrors are built without the key (see gett_async.errors); anything else is named only.
    return str(error) if isinstance(error, GettError) else type(error).__name__
