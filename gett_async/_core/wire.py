"""What crosses the transport seam: one request, one response, a timeout, and "not given".

A `Transport` sends one `ApiRequest` once and returns the `ApiResponse`; everything else
(auth headers, retries, the rate-limit gate, redaction, logging, hooks) happens above it, so
a custom transport gets all of that for free.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final, Literal, Protocol

import attrs

from . import validate


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`: a per-call option left to the client's default."""

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> Literal[False]:
        return False


#: A per-call option that was not given (so ``timeout=None`` can mean "no timeout").
NOT_GIVEN: Final = NotGiven.NOT_GIVEN


def _size(body: bytes | None) -> str:
    return "None" if body is None else f"<{len(body)} bytes>"


def _optional_seconds(instance: object, attribute: attrs.Attribute[float], value: float | None) -> None:
    if value is not None:
        validate.seconds(f"timeout.{attribute.name}", value)


@attrs.frozen(slots=True)
class Timeout:
    """Limits for one attempt, in seconds; None means no limit.

    ``total`` bounds the whole attempt (waiting for a pooled connection, connecting, the
    answer), ``connect`` a new connection, ``read`` the gap between two chunks of the answer.
    Refuses (GettValidationError) values that are not finite seconds > 0.
    """

    total: float | None = attrs.field(default=30.0, validator=_optional_seconds)
    connect: float | None = attrs.field(default=5.0, validator=_optional_seconds)
    read: float | None = attrs.field(default=None, validator=_optional_seconds)


#: No limit at all (what ``timeout=None`` means).
NO_TIMEOUT: Final = Timeout(total=None, connect=None, read=None)


@attrs.frozen(slots=True)
class ApiRequest:
    """One HTTP request of the Commerce API, described by an endpoint module.

    ``path`` is filled in (``/v1/commerce/orders/<id>/status``); ``template`` is the path
    template it came from, for logs and traces. ``headers`` are added by the client (auth,
    User-Agent, content type) before a transport sees the request; their repr hides the key.
    ``reads_body`` False says a 2xx body is not used, so a transport need not buffer it.
    """

    method: str
    path: str
    query: Mapping[str, str] | None = None
    body: bytes | None = attrs.field(default=None, repr=_size)
    template: str = attrs.field(default="")
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    reads_body: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.template:
            object.__setattr__(self, "template", self.path)

    @property
    def write(self) -> bool:
        """True for writes (POST, PUT, DELETE): they spend the organisation's write budget."""
        return self.method not in ("GET", "HEAD")

    def with_headers(self, headers: Mapping[str, str]) -> ApiRequest:
        """This request with ``headers``: what ``attrs.evolve(self, headers=headers)`` gives,
        without its per-call look at the fields (the sender does this for every request)."""
        return ApiRequest(self.method, self.path, self.query, self.body, self.template, headers, self.reads_body)


@attrs.frozen(slots=True)
class ApiResponse:
    """An HTTP answer as a transport got it: status, headers and (possibly capped) body."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # may echo what was sent
    body: bytes = attrs.field(default=b"", repr=_size)

    @property
    def request_id(self) -> str | None:
        """Gett's request id header, if the answer carries one."""
        return self.headers.get("X-Request-Id")


class Transport(Protocol):
    """Sends one request once. ``GettClient(transport=...)`` takes any object like this.

    A transport raises `APIConnectionError` (or `APITimeoutError`) when no answer arrives
    and returns every answer, whatever its status; the client does the rest.
    """

    async def send(self, request: ApiRequest, *, timeout: Timeout) -> ApiResponse:
        """Send ``request`` once within ``timeout`` and return the answer."""

    async def aclose(self) -> None:
        """Release connections; called when the client that owns the transport closes."""
