"""Order Booster onboarding: register a store, follow its pipeline, activate it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from .._core import serde, validate
from .._core.paths import ApiPaths
from .._core.requests import onboarding_request, register_request
from .._core.wire import NOT_GIVEN
from .._http.sender import Sender
from ..errors import GettError
from ..models import Onboarding, OnboardingRequest, OnboardingStatus
from ._base import ExtraBody, ExtraHeaders, Receipt, Resource, Retries, Timeout


class OnboardingTimeoutError(GettError, TimeoutError):
    """`watch` / `wait_until_ready` gave up before the onboarding reached its goal."""

    def __init__(self, onboarding_id: str, last: Onboarding | None, waited: float) -> None:
        self.onboarding_id = onboarding_id
        self.last = last
        status = last.status if last is not None else "unknown"
        super().__init__(f"onboarding {onboarding_id} still {status} after {waited:.0f} s")


class OnboardingFailedError(GettError):
    """The catalog was rejected (``catalog_failed``); ``onboarding.error`` says why."""

    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding
        super().__init__(f"onboarding {onboarding.onboarding_id} failed: {onboarding.error or 'catalog_failed'}")


class Onboardings(Resource):
    """``gett.onboarding``: Order Booster self-service onboarding."""

    __slots__ = ("_sleep",)

    def __init__(self, sender: Sender, paths: ApiPaths, sleep: Callable[[float], Awaitable[None]]) -> None:
        super().__init__(sender, paths)
        self._sleep = sleep  # the client's: polls wait through the one overridable clock

    async def register(
        self,
        *,
        partner_store_id: str,
        name: str,
        catalog_callback_url: str,
        webhook_url: str,
        extra: Mapping[str, Any] | None = None,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Onboarding:
        """Register a store; Gett then pulls its catalog. ``extra`` passes undocumented
        store details through (camelCase keys), as ``extra_body`` does on every call.
        Refuses: see `register_request`, and extras that `Resource._send` refuses (an
        ``extra_body`` key that ``extra`` already sends among them)."""
        request = register_request(
            self._paths, partner_store_id=partner_store_id, name=name,
            catalog_callback_url=catalog_callback_url, webhook_url=webhook_url, extra=extra,
        )
        body = await self._read("onboarding.register", request, timeout, max_retries, extra_headers, extra_body,
                                model=OnboardingRequest)
        return serde.decode(body, Onboarding)

    async def get(
        self,
        onboarding_id: str,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
    ) -> Onboarding:
        """An onboarding's current status. Refuses an id that is not one safe path segment and
        bad extra headers."""
        request = onboarding_request(self._paths.onboarding_item, "GET", onboarding_id)
        body = await self._read("onboarding.get", request, timeout, max_retries, extra_headers)
        return serde.decode(body, Onboarding)

    async def cancel(
        self,
        onboarding_id: str,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
    ) -> Receipt:
        """Cancel an onboarding (path INFERRED). Refuses an unsafe id and bad extra headers."""
        request = onboarding_request(self._paths.onboarding_item, "DELETE", onboarding_id)
        return Receipt.of(await self._send("onboarding.cancel", request, timeout, max_retries, extra_headers))

    async def activate(
        self,
        onboarding_id: str,
        *,
        timeout: Timeout = NOT_GIVEN,
        max_retries: Retries = NOT_GIVEN,
        extra_headers: ExtraHeaders = None,
        extra_body: ExtraBody = None,
    ) -> Onboarding | None:
        """Go live once ``ready_to_activate`` (path INFERRED); returns the onboarding if Gett
        sends it back. Refuses an unsafe id and bad extras (the documented call has no body,
        so ``extra_body`` becomes the whole body)."""
        request = onboarding_request(self._paths.onboarding_activate, "POST", onboarding_id)
        body = await self._read("onboarding.activate", request, timeout, max_retries, extra_headers, extra_body)
        return serde.decode_optional(body, Onboarding)

    async def watch(
        self, onboarding_id: str, *, interval: float = 10.0, timeout: float = 900.0
    ) -> AsyncIterator[Onboarding]:
        """Poll every ``interval`` s and yield each status change, ending after a terminal one
        (``active`` or ``catalog_failed``); raises OnboardingTimeoutError after ``timeout`` s.

        Each poll is a read from the organisation's budget (1,000 a minute in production).
        Refuses a non-positive interval or timeout and an unsafe id.
        """
        validate.seconds("interval", interval)
        validate.seconds("timeout", timeout)
        validate.path_segment("onboarding_id", onboarding_id)
        started = time.monotonic()
        last: Onboarding | None = None
        while True:
            current = await self.get(onboarding_id)
            if last is None or current.status != last.status:
                last = current
                yield current
                if current.is_terminal:
                    return
            waited = time.monotonic() - started
            if waited + interval > timeout:
                raise OnboardingTimeoutError(onboarding_id, last, waited)
            await self._sleep(interval)

    async def wait_until_ready(
        self, onboarding_id: str, *, interval: float = 10.0, timeout: float = 900.0
    ) -> Onboarding:
        """Poll until ``ready_to_activate`` (or already ``active``) and return that onboarding.

        Raises OnboardingFailedError on ``catalog_failed`` and OnboardingTimeoutError on timeout.
        """
        async for onboarding in self.watch(onboarding_id, interval=interval, timeout=timeout):
            if onboarding.status in (OnboardingStatus.READY_TO_ACTIVATE, OnboardingStatus.ACTIVE):
                return onboarding
            if onboarding.status is OnboardingStatus.CATALOG_FAILED:
                raise OnboardingFailedError(onboarding)
        raise GettError(f"onboarding {onboarding_id} ended without becoming ready")  # unreachable by design
