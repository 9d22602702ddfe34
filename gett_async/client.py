"""`GettClient`: the async session manager that feeds the endpoint modules."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import ssl as ssl_module
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

import aiohttp
import attrs

from ._core import validate
from ._core.paths import BASE_URLS, ApiPaths, Environment, as_environment
from ._core.redact import Secret
from ._core.retry import RetryPolicy
from ._core.wire import NOT_GIVEN, NotGiven, Timeout, Transport
from ._http.gate import HeaderRateLimitGate, RateLimitGate
from ._http.http1 import Http1Transport
from ._http.sender import AttemptHook, Sender
from ._http.timeouts import TimeoutArg, as_timeout
from ._http.transport import AiohttpTransport, warn_unclosed
from .errors import GettValidationError
from .orders import Orders
from .resources import Catalog, Onboardings, Stores, StoreStatuses, WithRawResponse

#: Each attempt: 30 s in all (a pool wait, the connect, the answer), 5 s to connect.
DEFAULT_TIMEOUT = Timeout(total=30.0, connect=5.0)


class GettClient:
    """An async client for the Gett Commerce Partner API.

    ::

        async with GettClient() as gett:          # key from GETT_API_KEY
            await gett.orders.update_status(order_id, status="confirmed")

    Where it talks: ``base_url`` if given, else ``environment`` (``production`` or
    ``sandbox``) if given, else the ``GETT_BASE_URL`` environment variable (handy to point a
    service at the built-in emulator), else ``GETT_ENVIRONMENT``, else production.

    How it talks: through ``transport`` (anything with ``send`` and ``aclose``, e.g.
    `gett_async.testing.MockTransport`), else one pooled `Http1Transport` of
    ``max_connections`` (default 100). ``transport="aiohttp"``, an aiohttp ``session=`` (used
    as is and never closed here) or ``trace_configs=`` send through aiohttp instead
    (`AiohttpTransport`): for aioresponses in tests, aiohttp tracing, or aiohttp's proxy
    support on a session of your own. Retries, the rate-limit gate,
    redaction, logging and hooks apply to every transport. ``max_retries`` (default 3) is a
    shortcut for ``retry=RetryPolicy(max_retries=...)``. ``base_url``, ``environment`` and
    ``paths`` are fixed for the client's lifetime.

    Refuses (GettValidationError, naming the parameter): a missing key or one that is not all
    visible ASCII (the key is never echoed), an unknown environment, a plain ``http://`` base
    URL that is not loopback, ``max_retries`` together with ``retry``, a timeout that is not
    finite positive seconds, a user agent with control or non-ASCII characters, ``session``,
    ``max_connections``, ``trace_configs`` or ``ssl`` together with ``transport``, and ``ssl``
    (an ``ssl.SSLContext`` for the built-in transports: a private CA) together with ``session``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        environment: Environment | None = None,
        base_url: str | None = None,
        timeout: TimeoutArg = DEFAULT_TIMEOUT,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        max_connections: int | None = None,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | Literal["aiohttp"] | None = None,
        gate: RateLimitGate | None = None,
        reads_per_minute: int | None = None,
        writes_per_minute: int | None = None,
        on_attempt: AttemptHook | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        user_agent: str | None = None,
        paths: ApiPaths | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        # Wrapped at once and the parameter dropped: no frame below holds the key as a plain str
        # (tracebacks that print locals would show it).
        key = Secret(api_key if api_key is not None else os.environ.get("GETT_API_KEY"))
        del api_key
        key.check("api_key", "pass api_key= or set the GETT_API_KEY environment variable")
        if base_url is None and environment is None:
            base_url = os.environ.get("GETT_BASE_URL") or None
        environment = as_environment(environment or os.environ.get("GETT_ENVIRONMENT") or "production")
        if user_agent is not None:
            validate.visible_ascii("user_agent", user_agent, spaces=True)
        if transport is not None and transport != "aiohttp":
            for name, value in (("session", session), ("max_connections", max_connections),
                                ("trace_configs", trace_configs), ("ssl", ssl)):
                if value is not None:
                    raise GettValidationError(name, "configures the built-in transports; not with transport=")
        elif max_connections is not None:
            validate.whole("max_connections", max_connections, minimum=1)
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise GettValidationError("ssl", f"must be an ssl.SSLContext, got {type(ssl).__name__}")
        if ssl is not None and session is not None:
            raise GettValidationError("ssl", "give your session's connector its SSL context; not with session=")
        self._environment: Environment = environment
        self._base_url = _check_base_url(base_url) if base_url is not None else BASE_URLS[environment]
        if retry is None:
            retry = RetryPolicy(max_retries=3 if max_retries is None else max_retries)
        elif max_retries is not None:
            raise GettValidationError("max_retries", "give either max_retries= or retry=, not both")
        if gate is None:
            gate = HeaderRateLimitGate(
                reads_per_minute=reads_per_minute, writes_per_minute=writes_per_minute,
                max_wait=retry.max_retry_wait, sleep=self.sleep,
            )
        elif reads_per_minute is not None or writes_per_minute is not None:
            raise GettValidationError("gate", "give either gate= or reads/writes_per_minute, not both")
        self._paths = paths or ApiPaths()
        self._owns_transport = True  # made here or handed over: closed with the client (as httpx does)
        connection_limit: int | None = None
        if transport is None or transport == "aiohttp":
            connection_limit = max_connections or 100
            if transport is None and session is None and trace_configs is None:
                transport = Http1Transport(self._base_url, max_connections=connection_limit, ssl=ssl)
            else:
                transport = AiohttpTransport(
                    self._base_url, session=session, max_connections=connection_limit, trace_configs=trace_configs,
                    ssl=ssl,
                )
        elif isinstance(transport, str):
            raise GettValidationError("transport", f"must be a Transport or 'aiohttp', got {transport!r}")
        self._transport: Transport = transport
        self._sender = Sender(
            transport, api_key=key, retry=retry, gate=gate, timeout=as_timeout(timeout), sleep=self.sleep,
            clock=self.clock, base_url=self._base_url, on_attempt=on_attempt, user_agent=user_agent,
        )
        del key  # from here on the key lives only in the sender's redacted header map
        self._attach(connection_limit)

    def _attach(self, connection_limit: int | None) -> None:
        self.orders = Orders(self._sender, self._paths, connection_limit)
        self.stores = Stores(self._sender, self._paths)
        self.store_status = StoreStatuses(self._sender, self._paths)
        self.catalog = Catalog(self._sender, self._paths)
        self.onboarding = Onboardings(self._sender, self._paths, self.sleep)

    def with_options(
        self, *, timeout: TimeoutArg | NotGiven = NOT_GIVEN, max_retries: int | NotGiven = NOT_GIVEN
    ) -> GettClient:
        """A client with other defaults that shares this one's connections, gate, retry budget
        and key; closing it leaves this client open. Refuses what `GettClient` refuses."""
        derived = object.__new__(type(self))
        derived._environment, derived._base_url, derived._paths = self._environment, self._base_url, self._paths
        derived._transport, derived._owns_transport = self._transport, False
        retry = self._sender.retry
        if not isinstance(max_retries, NotGiven):
            retry = attrs.evolve(retry, max_retries=max_retries)
        derived._sender = self._sender.derive(
            retry=retry, timeout=None if isinstance(timeout, NotGiven) else as_timeout(timeout)
        )
        derived._attach(self.orders.connection_limit)
        return derived

    @functools.cached_property
    def with_raw_response(self) -> WithRawResponse:
        """The same endpoints, each call returning a `RawResponse` (``parsed``, ``status``,
        ``headers``, ``request_id``, ``attempts``)::

            raw = await gett.with_raw_response.stores.get(store_id)
            raw.parsed.name, raw.status, raw.request_id

        Offers every call that sends one request (not ``onboarding.watch`` or
        ``wait_until_ready``, nor ``orders.track`` or ``stream``)."""
        return WithRawResponse(self.orders, self.stores, self.store_status, self.catalog, self.onboarding)

    @property
    def base_url(self) -> str:
        """Where this client sends requests (fixed at construction)."""
        return self._base_url

    @property
    def environment(self) -> Environment:
        """``production`` or ``sandbox`` (fixed at construction; ``base_url`` wins when given)."""
        return self._environment

    @property
    def paths(self) -> ApiPaths:
        """The path templates in force (fixed at construction)."""
        return self._paths

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._sender.retry

    @property
    def timeout(self) -> Timeout:
        """The default timeout of each attempt."""
        return self._sender.timeout

    @property
    def gate(self) -> RateLimitGate:
        """The rate-limit gate in force."""
        return self._sender.gate

    @property
    def closed(self) -> bool:
        """True after `aclose`."""
        return self._sender.closed

    async def sleep(self, seconds: float) -> None:
        """Every wait of this client (retry backoff, the default gate, onboarding polls) goes
        through here: a subclass that overrides it controls time in tests."""
        await asyncio.sleep(seconds)

    def clock(self) -> float:
        """Seconds on a monotonic clock. Every duration this client measures (attempts, time at
        the rate-limit gate: logs, hooks, traces, metrics) is read here; a subclass that
        overrides `sleep` can move it too, so waits are measured without waiting."""
        return time.perf_counter()

    async def __aenter__(self) -> GettClient:
        if isinstance(self._transport, _BUILT_IN):
            await self._transport.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close this client, and the transport it made or was given (not a caller's own aiohttp
        session, nor the transport of the client `with_options` derived it from)."""
        self._sender.closed = True
        if self._owns_transport:
            await self._transport.aclose()

    def __repr__(self) -> str:
        # getattr: a client whose __init__ refused its input still has a readable repr
        environment, base_url = getattr(self, "_environment", None), getattr(self, "_base_url", None)
        return f"GettClient(environment={environment!r}, base_url={base_url!r})"

    def __del__(self) -> None:
        transport = getattr(self, "_transport", None)
        if getattr(self, "_owns_transport", False) and isinstance(transport, _BUILT_IN) and transport.unclosed():
            warn_unclosed(self)


#: The transports a client makes itself.
_BUILT_IN = (AiohttpTransport, Http1Transport)

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
