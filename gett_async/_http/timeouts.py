"""The timeout forms users may give, turned into the one the transports take."""

from __future__ import annotations

from typing import Union

import aiohttp

from .._core import validate
from .._core.wire import NO_TIMEOUT, Timeout
from ..errors import GettValidationError

#: What ``timeout=`` accepts: seconds (the total), a `Timeout`, an ``aiohttp.ClientTimeout``,
#: or None for no timeout at all.
TimeoutArg = Union[float, Timeout, aiohttp.ClientTimeout, None]  # noqa: UP007 (runtime alias, Python 3.10)

#: A new connection gets this long at most when only a total is given.
CONNECT_SECONDS = 5.0


def as_timeout(value: object) -> Timeout:
    """The `Timeout` for ``value`` (see `TimeoutArg`).

    Seconds give that total and a connect limit of min(total, 5 s). An ``aiohttp.ClientTimeout``
    maps ``total``, ``sock_connect`` (else ``connect``) and ``sock_read``. Refuses
    (GettValidationError) anything else, and durations that are not finite seconds > 0.
    """
    if value is None:
        return NO_TIMEOUT
    if isinstance(value, Timeout):
        return value
    if isinstance(value, aiohttp.ClientTimeout):
        for name in ("total", "connect", "sock_read", "sock_connect"):
            given = getattr(value, name)
            if given is not None:
                validate.seconds(f"timeout.{name}", given)
        connect = value.sock_connect if value.sock_connect is not None else value.connect
        return Timeout(total=value.total, connect=connect, read=value.sock_read)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GettValidationError(
            "timeout", f"must be seconds, a gett_async.Timeout or an aiohttp.ClientTimeout, got {value!r}"
        )
    total = validate.seconds("timeout", value)
    return Timeout(total=total, connect=min(total, CONNECT_SECONDS))
