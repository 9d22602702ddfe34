"""``gett.with_raw_response``: every single-request call, returning the HTTP answer with its result.

``await gett.with_raw_response.stores.get(store_id)`` takes the arguments of
``gett.stores.get`` and returns a `RawResponse` whose ``parsed`` is what ``gett.stores.get``
returns. Calls that send more than one request (``onboarding.watch`` and
``wait_until_ready``) and the order domain (``track``, ``stream``) are not offered.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, ParamSpec, TypeVar

import attrs

from .._http.sender import Sent
from ._base import SENT_LOG
from .catalog import Catalog
from .onboarding import Onboardings
from .orders import OrderUpdates
from .store_status import StoreStatuses
from .stores import Stores

T = TypeVar("T")
P = ParamSpec("P")


@attrs.frozen(slots=True)
class RawResponse(Generic[T]):
    """A call's result (``parsed``) with the 2xx answer it came from.

    ``headers`` are the response headers (case-insensitive; the client's key scrubbed from
    them), ``request_id`` Gett's ``X-Request-Id``, ``attempts`` how many attempts it took.
    An error answer is raised as ever: the `APIError` carries the same members.
    """

    parsed: T
    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    attempts: int = 1


def raw(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` (one request per call) returning a `RawResponse` of its result."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        log: list[Sent] = []
        token = SENT_LOG.set(log)
        try:
            parsed = await method(*args, **kwargs)
        finally:
            SENT_LOG.reset(token)
        sent = log[-1]  # the call's one request
        answer = sent.response
        return RawResponse(parsed, answer.status, answer.headers, answer.request_id, sent.attempts)

    return call


class OrdersWithRawResponse:
    """``gett.with_raw_response.orders``."""

    __slots__ = ("cancel", "complete", "send_update", "update_status")

    def __init__(self, orders: OrderUpdates) -> None:
        self.update_status = raw(orders.update_status)
        self.complete = raw(orders.complete)
        self.cancel = raw(orders.cancel)
        self.send_update = raw(orders.send_update)


class StoresWithRawResponse:
    """``gett.with_raw_response.stores``."""

    __slots__ = ("get", "list", "update")

    def __init__(self, stores: Stores) -> None:
        self.list = raw(stores.list)
        self.get = raw(stores.get)
        self.update = raw(stores.update)


class StoreStatusesWithRawResponse:
    """``gett.with_raw_response.store_status``."""

    __slots__ = ("get", "pause", "resume", "update")

    def __init__(self, statuses: StoreStatuses) -> None:
        self.get = raw(statuses.get)
        self.update = raw(statuses.update)
        self.pause = raw(statuses.pause)
        self.resume = raw(statuses.resume)


class CatalogWithRawResponse:
    """``gett.with_raw_response.catalog``."""

    __slots__ = ("notify_update",)

    def __init__(self, catalog: Catalog) -> None:
        self.notify_update = raw(catalog.notify_update)


class OnboardingsWithRawResponse:
    """``gett.with_raw_response.onboarding`` (not ``watch`` or ``wait_until_ready``: they poll)."""

    __slots__ = ("activate", "cancel", "get", "register")

    def __init__(self, onboarding: Onboardings) -> None:
        self.register = raw(onboarding.register)
        self.get = raw(onboarding.get)
        self.cancel = raw(onboarding.cancel)
        self.activate = raw(onboarding.activate)


class WithRawResponse:
    """The client's endpoints, each call returning a `RawResponse`."""

    __slots__ = ("catalog", "onboarding", "orders", "store_status", "stores")

    def __init__(
        self, orders: OrderUpdates, stores: Stores, store_status: StoreStatuses, catalog: Catalog,
        onboarding: Onboardings,
    ) -> None:
        self.orders = OrdersWithRawResponse(orders)
        self.stores = StoresWithRawResponse(stores)
        self.store_status = StoreStatusesWithRawResponse(store_status)
        self.catalog = CatalogWithRawResponse(catalog)
        self.onboarding = OnboardingsWithRawResponse(onboarding)
