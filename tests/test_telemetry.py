"""OpenTelemetry: a span per SDK call, a CLIENT span per HTTP attempt, waits as events, metrics.

Read through the OpenTelemetry SDK's in-memory exporters (installed as the global providers
once for this module), with a client whose clock moves only when it sleeps or the mock
server says so: durations are exact, no test waits.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from conftest import API_KEY, ORDER_ID, STORE_ID
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gett_async import (
    APIConnectionError,
    ApiRequest,
    ApiResponse,
    ConflictError,
    GettClient,
    RetryPolicy,
)
from gett_async.testing import MockTransport

SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader()
TEMPLATE = "/v1/commerce/orders/{order_id}/status"


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[METRICS]))
    # Set once per process: if another module got there first, these tests would read nothing.
    assert trace.get_tracer_provider() is tracer_provider


@pytest.fixture(autouse=True)
def _fresh_spans() -> Iterator[None]:
    SPANS.clear()
    yield


class Timed(GettClient):
    """A client on a clock that moves only when it sleeps (or a handler calls `spend`)."""

    now = 0.0
    slept: list[float]

    async def sleep(self, seconds: float) -> None:
        self.slept = [*getattr(self, "slept", []), seconds]
        self.now += seconds

    def clock(self) -> float:
        return self.now

    def spend(self, seconds: float) -> None:
        self.now += seconds


class OpenGate:
    """Never waits (the default gate keys its pauses to the wall clock, which this clock is not)."""

    async def acquire(self, kind: str, *, priority: str = "interactive") -> None:
        pass

    def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
        pass


def problem(status: int, code: str, request_id: str, **members: Any) -> ApiResponse:
    body = {"status": status, "errorCode": code, "requestId": request_id, **members}
    return ApiResponse(status, {"Content-Type": "application/problem+json"}, json.dumps(body).encode())


def client(host: str, answers: list[ApiResponse | Exception], **options: Any) -> Timed:
    """A client on ``https://{host}`` (each test its own host, to find its metric points)."""
    holder: list[Timed] = []

    def answer(request: ApiRequest) -> ApiResponse:
        holder[0].spend(0.25)  # the server's time
        item = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(item, Exception):
            raise item
        return item

    options.setdefault("retry", RetryPolicy(max_retries=3))
    options.setdefault("gate", OpenGate())
    gett = Timed(API_KEY, base_url=f"https://{host}", transport=MockTransport(answer), **options)
    holder.append(gett)
    return gett


def spans() -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The one call span and its attempt spans, oldest first."""
    finished = list(SPANS.get_finished_spans())
    [call] = [s for s in finished if s.kind is SpanKind.INTERNAL]
    attempts = [s for s in finished if s.kind is SpanKind.CLIENT]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in attempts)
    return call, attempts


def points(name: str, host: str) -> list[Any]:
    """The data points of metric ``name`` whose ``server.address`` is ``host`` (or any, for stream outcomes)."""
    data = METRICS.get_metrics_data()
    found = []
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [p for p in metric.data.data_points if p.attributes.get("server.address", host) == host]
    return found


def attrs_of(span: ReadableSpan) -> Mapping[str, Any]:
    return dict(span.attributes or {})


async def test_a_retried_call_is_one_span_with_an_attempt_span_each_and_the_wait_as_an_event() -> None:
    gett = client("retried.example", [problem(503, "SERVICE_UNAVAILABLE", "req_1", retryAfter=1.5),
                                      ApiResponse(204, {"X-Request-Id": "req_2"})])
    async with gett:
        await gett.orders.update_status(ORDER_ID, status="confirmed")
    call, attempts = spans()
    assert call.name == "gett orders.update_status"
    assert attrs_of(call) == {"gett.operation": "orders.update_status", "gett.attempts": 2}
    assert call.status.status_code is StatusCode.UNSET
    [backoff] = call.events
    assert backoff.name == "gett.retry.backoff"
    assert dict(backoff.attributes or {}) == {
        "gett.wait.seconds": 1.5, "gett.retry.next_attempt": 2, "error.type": "ServerError",
    }
    first, second = attempts
    assert [a.name for a in attempts] == [f"POST {TEMPLATE}"] * 2
    assert attrs_of(first) == {
        "http.request.method": "POST",
        "url.template": TEMPLATE,
        "url.full": f"https://retried.example/v1/commerce/orders/{ORDER_ID}/status",
        "server.address": "retried.example",
        "server.port": 443,
        "http.response.status_code": 503,
        "error.type": "503",
        "gett.request_id": "req_1",
        "gett.error_code": "SERVICE_UNAVAILABLE",
    }
    assert first.status.status_code is StatusCode.ERROR
    assert attrs_of(second)["http.request.resend_count"] == 1
    assert attrs_of(second)["http.response.status_code"] == 204
    assert attrs_of(second)["gett.request_id"] == "req_2"
    assert "error.type" not in attrs_of(second)
    assert not first.events and not second.events  # waiting is never inside an attempt


async def test_attempt_durations_are_the_exchange_alone_and_gate_waits_are_their_own() -> None:
    class SlowGate:
        """Waits 2.5 s (on the client's clock) before every attempt."""

        gett: GettClient

        async def acquire(self, kind: str, *, priority: str = "interactive") -> None:
            await self.gett.sleep(2.5)

        def settle(self, kind: str, headers: Mapping[str, str] | None, retry_after: float | None) -> None:
            pass

    gate = SlowGate()
    gett = client("gated.example", [ApiResponse(204)], gate=gate)
    gate.gett = gett
    async with gett:
        await gett.orders.update_status(ORDER_ID, status="confirmed")
    call, [_] = spans()
    [wait] = call.events
    assert wait.name == "gett.rate_limit.wait"
    assert dict(wait.attributes or {}) == {
        "gett.wait.seconds": 2.5, "gett.rate_limit.class": "write", "gett.rate_limit.priority": "interactive",
    }
    [duration] = points("http.client.request.duration", "gated.example")
    assert (duration.count, duration.sum) == (1, 0.25)  # the server's 0.25 s, not the gate's 2.5 s
    assert dict(duration.attributes) == {
        "http.request.method": "POST", "url.template": TEMPLATE, "server.address": "gated.example",
        "http.response.status_code": 204,
    }
    [wait_point] = points("gett.rate_limit.wait.duration", "gated.example")
    assert (wait_point.count, wait_point.sum) == (1, 2.5)
    assert dict(wait_point.attributes) == {"gett.rate_limit.class": "write", "server.address": "gated.example"}


async def test_a_refusal_marks_the_call_and_the_attempt_as_errors() -> None:
    gett = client("refused.example", [problem(409, "ORDER_TRANSITION_NOT_ALLOWED", "req_9")])
    async with gett:
        with pytest.raises(ConflictError):
            await gett.orders.complete(ORDER_ID)
    call, [attempt] = spans()
    assert call.name == "gett orders.update_status"
    assert attrs_of(call)["error.type"] == "ConflictError"
    assert call.status.status_code is StatusCode.ERROR
    assert "req_9" in (call.status.description or "")
    assert attrs_of(attempt)["error.type"] == "409"
    assert attrs_of(attempt)["gett.error_code"] == "ORDER_TRANSITION_NOT_ALLOWED"
    [duration] = points("http.client.request.duration", "refused.example")
    assert dict(duration.attributes)["error.type"] == "409"


async def test_no_answer_is_an_attempt_without_a_status_code() -> None:
    gone = APIConnectionError("POST /x failed: connection reset", method="POST", path=TEMPLATE)
    gett = client("gone.example", [gone], retry=RetryPolicy(max_retries=0))
    async with gett:
        with pytest.raises(APIConnectionError):
            await gett.orders.update_status(ORDER_ID, status="ready")
    call, [attempt] = spans()
    assert "http.response.status_code" not in attrs_of(attempt)
    assert attrs_of(attempt)["error.type"] == "APIConnectionError"
    assert attrs_of(call)["error.type"] == "APIConnectionError"


STORE_BODY = json.dumps({"storeId": STORE_ID, "name": "S", "status": "online"}).encode()
ONBOARDING_BODY = json.dumps({"onboardingId": "ob-1", "status": "pending_catalog"}).encode()


@pytest.mark.parametrize(
    ("operation", "call", "body"),
    [
        ("orders.update_status", lambda g: g.orders.update_status(ORDER_ID, status="confirmed"), b""),
        ("orders.update_status", lambda g: g.orders.cancel(ORDER_ID, reason="Out of stock"), b""),
        ("orders.update_status", lambda g: g.orders.track(ORDER_ID).confirm(), b""),
        ("stores.list", lambda g: g.stores.list(), b"[]"),
        ("stores.get", lambda g: g.stores.get(STORE_ID), STORE_BODY),
        ("stores.update", lambda g: g.stores.update(STORE_ID, name="S"), STORE_BODY),
        ("store_status.get", lambda g: g.store_status.get(STORE_ID), b'{"status":"online"}'),
        ("store_status.update", lambda g: g.store_status.resume(STORE_ID), b""),
        ("catalog.notify_update", lambda g: g.catalog.notify_update("https://c.example/c.json", store_id="s"), b""),
        ("onboarding.register", lambda g: g.onboarding.register(
            partner_store_id="p", name="n", catalog_callback_url="https://c.example", webhook_url="https://w.example",
        ), ONBOARDING_BODY),
        ("onboarding.get", lambda g: g.onboarding.get("ob-1"), ONBOARDING_BODY),
        ("onboarding.cancel", lambda g: g.onboarding.cancel("ob-1"), b""),
        ("onboarding.activate", lambda g: g.onboarding.activate("ob-1"), b""),
    ],
)
async def test_every_call_span_is_named_after_its_operation(operation: str, call: Any, body: bytes) -> None:
    gett = client("named.example", [ApiResponse(200, {}, body)])
    async with gett:
        await call(gett)
    span, [_] = spans()
    assert span.name == f"gett {operation}"


async def test_stream_outcomes_are_counted_by_kind() -> None:
    before = {p.attributes["gett.outcome.kind"]: p.value for p in points("gett.stream.outcomes", "")}
    gett = client("stream.example", [ApiResponse(204)] * 2)
    order = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"
    events = [{"orderId": order, "status": "confirmed"}, {"orderId": order, "status": "pending"},
              {"orderId": order, "status": "ready"}]
    async with gett:
        summary = await gett.orders.send_all(events)
    assert summary.counts["sent"] == 2 and summary.counts["refused"] == 1
    after = {p.attributes["gett.outcome.kind"]: p.value for p in points("gett.stream.outcomes", "")}
    assert after["sent"] - before.get("sent", 0) == 2
    assert after["refused"] - before.get("refused", 0) == 1


#: A fresh interpreter where ``opentelemetry`` cannot be imported: a whole call still works,
#: and nothing of OpenTelemetry is loaded.
WITHOUT_OTEL = textwrap.dedent(r"""
    import asyncio, importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "opentelemetry":
                raise ImportError("blocked: " + name)

    sys.meta_path.insert(0, Block())

    from gett_async import ApiResponse, GettClient
    from gett_async._http import telemetry
    from gett_async.testing import MockTransport

    async def main():
        async with GettClient("zpka_x", transport=MockTransport(lambda r: ApiResponse(204))) as gett:
            receipt = await gett.orders.update_status(sys.argv[1], status="confirmed")
        telemetry.record_outcome("sent")
        return receipt.status

    print(asyncio.run(main()), telemetry.ENABLED, sorted(m for m in sys.modules if m.startswith("opentelemetry")))
""")


def test_without_opentelemetry_nothing_is_imported_and_calls_work() -> None:
    done = subprocess.run([sys.executable, "-c", WITHOUT_OTEL, ORDER_ID], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["204", "False", "[]"]


async def test_a_server_echoing_the_key_leaks_it_into_no_span_or_metric() -> None:
    echo = problem(503, "SERVICE_UNAVAILABLE", f"Bearer {API_KEY}", detail=f"you sent {API_KEY}", retryAfter=1)
    echo = ApiResponse(echo.status, {**echo.headers, "X-Request-Id": API_KEY}, echo.body)
    gett = client("echo.example", [echo], retry=RetryPolicy(max_retries=1))
    async with gett:
        with pytest.raises(Exception) as info:
            await gett.orders.update_status(ORDER_ID, status="confirmed", extra_headers={"X-Partner": "secret-2"})
    assert "[REDACTED]" in str(info.value)
    exported = [span.to_json() for span in SPANS.get_finished_spans()]
    assert len(exported) == 3 and "[REDACTED]" in "".join(exported)
    for text in [*exported, METRICS.get_metrics_data().to_json()]:
        assert API_KEY not in text and API_KEY[-16:] not in text
        assert "secret-2" not in text  # request headers, the caller's own included, are never recorded


#: With the API installed but no SDK set up, the SDK builds no span (it would cost as much CPU
#: as the rest of a call); it starts as soon as the application sets a provider.
UNTIL_CONFIGURED = textwrap.dedent(r"""
    import sys
    from gett_async._http import telemetry
    from opentelemetry import metrics, trace

    before = telemetry.configured(), telemetry.Telemetry("https://x.example").call("op").__enter__()
    if sys.argv[1] == "traces":
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
    else:
        from opentelemetry.sdk.metrics import MeterProvider
        metrics.set_meter_provider(MeterProvider())
    print(before[0], before[1] is telemetry.NULL_CALL, telemetry.configured())
""")


@pytest.mark.parametrize("provider", ["traces", "metrics"])
def test_nothing_is_built_until_the_application_sets_a_provider(provider: str) -> None:
    done = subprocess.run([sys.executable, "-c", UNTIL_CONFIGURED, provider], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True", "True"]
