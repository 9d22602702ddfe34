"""`GettClient`: the async session manager that feeds the endpoint modules."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from types import TracebackType
from urllib.parse import urlsplit

import aiohttp

from . import _validate
from ._paths import BASE_URLS, ApiPaths
from ._ratelimit import HeaderRateLimitGate, RateLimitGate
from ._redact import Secret
from ._retry import RetryPolicy
from ._session import AttemptHook, Transport, warn_unclosed
from .errors import GettValidationError
from .resources import Catalog, Onboardings, Orders, Stores, StoreStatuses
from .resources._base import client_timeout


class GettClient:
    """An async client for the Gett Commerce Partner API.

    ::

        async with GettClient() as gett:          # key from GETT_API_KEY
            await gett.orders.update_status(order_id, status="confirmed")

    Where it talks: ``base_url`` if given, else ``environment`` (``production`` or
    ``sandbox``) if given, else the ``GETT_BASE_URL`` environment variable (handy to point a
    service at the built-in emulator), else ``GETT_ENVIRONMENT``, else production.

    One pooled aiohttp session per client (or the caller's own ``session=``, used as-is
    and never closed here). ``max_retries`` (default 3) is a shortcut for
    ``retry=RetryPolicy(max_retries=...)``. ``base_url``, ``environment`` and ``paths`` are
    fixed for the client's lifetime.

    Refuses (GettValidationError, naming the parameter): a missing key or one that is not all
    visible ASCII (the key is never echoed), an unknown environment, a plain ``http://`` base
    URL that is not loopback, ``max_retries`` together with ``retry``, a timeout that is not
    finite positive seconds, a user agent with control or non-ASCII characters.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        environment: str | None = None,
        base_url: str | None = None,
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        session: aiohttp.ClientSession | None = None,
        gate: RateLimitGate | None = None,
        reads_per_minute: int | None = None,
        writes_per_minute: int | None = None,
        on_attempt: AttemptHook | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        user_agent: str | None = None,
        paths: ApiPaths | None = None,
    ) -> None:
        # Wrapped at once and the parameter dropped: no frame below holds the key as a plain str
        # (tracebacks that print locals would show it).
        key = Secret(api_key if api_key is not None else os.environ.get("GETT_API_KEY"))
        del api_key
        key.check("api_key", "pass api_key= or set the GETT_API_KEY environment variable")
        if base_url is None and environment is None:
            base_url = os.environ.get("GETT_BASE_URL") or None
        environment = environment or os.environ.get("GETT_ENVIRONMENT") or "production"
        if environment not in BASE_URLS:
            raise GettValidationError("environment", f"must be one of {', '.join(BASE_URLS)}, got {environment!r}")
        _validate.whole("max_connections", max_connections, minimum=1)
        if user_agent is not None:
            _validate.visible_ascii("user_agent", user_agent, spaces=True)
        self._environment = environment
        self._base_url = _check_base_url(base_url) if base_url is not None else BASE_URLS[environment]
        if retry is None:
            retry = RetryPolicy(max_retries=3 if max_retries is None else max_retries)
        elif max_retries is not None:
            raise GettValidationError("max_retries", "give either max_retries= or retry=, not both")
        if gate is None:
            gate = HeaderRateLimitGate(
                reads_per_minute=reads_per_minute, writes_per_minute=writes_per_minute, max_wait=retry.max_retry_wait
            )
        elif reads_per_minute is not None or writes_per_minute is not None:
            raise GettValidationError("gate", "give either gate= or reads/writes_per_minute, not both")
        if timeout is not None and not isinstance(timeout, aiohttp.ClientTimeout):
            total = client_timeout(timeout)
            assert total is not None
            timeout = aiohttp.ClientTimeout(total=total.total, sock_connect=min(5.0, total.total or 5.0))
        else:
            timeout = client_timeout(timeout)
        self._paths = paths or ApiPaths()
        self._transport = Transport(
            api_key=key,
            base_url=self._base_url,
            timeout=timeout,
            retry=retry,
            gate=gate,
            session=session,
            max_connections=max_connections,
            on_attempt=on_attempt,
            trace_configs=trace_configs,
            user_agent=user_agent,
        )
        del key  # from here on the key lives only in the transport's redacted header map
        self.orders = Orders(self._transport, self._paths)
        self.stores = Stores(self._transport, self._paths)
        self.store_status = StoreStatuses(self._transport, self._paths)
        self.catalog = Catalog(self._transport, self._paths)
        self.onboarding = Onboardings(self._transport, self._paths)

    @property
    def base_url(self) -> str:
        """Where this client sends requests (fixed at construction)."""
        return self._base_url

    @property
    def environment(self) -> str:
        """``production`` or ``sandbox`` (fixed at construction; ``base_url`` wins when given)."""
        return self._environment

    @property
    def paths(self) -> ApiPaths:
        """The path templates in force (fixed at construction)."""
        return self._paths

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._transport.retry

    @property
    def gate(self) -> RateLimitGate:
        """The rate-limit gate in force."""
        return self._transport.gate

    @property
    def closed(self) -> bool:
        """True after `aclose`."""
        return self._transport.closed

    async def __aenter__(self) -> GettClient:
        await self._transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session this client created (a caller's own session stays open)."""
        await self._transport.aclose()

    def __repr__(self) -> str:
        # getattr: a client whose __init__ refused its input still has a readable repr
        environment, base_url = getattr(self, "_environment", None), getattr(self, "_base_url", None)
        return f"GettClient(environment={environment!r}, base_url={base_url!r})"

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)
        if transport is not None and transport.unclosed():
            warn_unclosed(self)


_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def _check_base_url(base_url: str) -> str:
    try:
        parts = urlsplit(base_url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise GettValidationError("base_url", f"must be an absolute http(s) URL, got {base_url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GettValidationError("base_url", f"must be an absolute http(s) URL, got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise GettValidationError("base_url", "must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise GettValidationError(
            "base_url", "plain http:// is only allowed for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"
        )
    return base_url.rstrip("/")


def is_loopback(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
