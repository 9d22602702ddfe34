"""Per-call extras: headers and body members this SDK does not model yet (no I/O).

A partner may need a member Gett has but this SDK does not model yet (``deliveryAllowed`` on
Update Store), or a header for its own proxy. Extras are checked for type only, and they
add, never replace: a header the SDK or the transport sets, and a body member that is
documented (whether or not this call sends it) or already in the body, are refused, so an
extra can never silently override the key, the content type or a validated field.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from ..errors import GettValidationError
from . import serde
from .wire import ApiRequest

#: Headers the SDK (auth, identification, content type) or the transport (framing) sets; lowercase.
OWNED_HEADERS = frozenset({
    "authorization", "user-agent", "accept", "content-type", "content-length", "host", "transfer-encoding",
    "connection",
})  # fmt: skip

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field name
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")  # printable ASCII on one line: no CR, LF or NUL
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def is_header_field(name: str, value: str) -> bool:
    """True when ``name`` is an HTTP token and ``value`` printable ASCII on one line: the one
    rule for every header the SDK writes (transports check the bytes they send with it too)."""
    return _TOKEN.fullmatch(name) is not None and _FIELD_VALUE.fullmatch(value) is not None


def extra_headers(extra: object) -> dict[str, str]:
    """``extra`` as headers to add to one request.

    Refuses (GettValidationError, field ``extra_headers``): anything but a mapping of strings
    to strings, a name that is not an HTTP token, a value with control or non-ASCII characters
    (never echoed: it may be a credential), the same name twice in another case, and every
    name in `OWNED_HEADERS` (``Authorization`` above all).
    """
    if not isinstance(extra, Mapping):
        raise GettValidationError("extra_headers", f"must be a mapping of header names to values, got {_kind(extra)}")
    headers: dict[str, str] = {}
    seen: set[str] = set()
    for name, value in extra.items():
        if not isinstance(name, str) or _TOKEN.fullmatch(name) is None:
            raise GettValidationError("extra_headers", f"{name!r} is not an HTTP header name")
        if not isinstance(value, str) or _FIELD_VALUE.fullmatch(value) is None:
            raise GettValidationError(
                "extra_headers", f"the value of {name} must be a string of printable ASCII on one line"
            )
        lowered = name.lower()
        if lowered in OWNED_HEADERS:
            raise GettValidationError("extra_headers", f"{name} is set by the SDK; an extra header cannot replace it")
        if lowered in seen:
            raise GettValidationError("extra_headers", f"{name} is given twice (header names ignore case)")
        seen.add(lowered)
        headers[name] = value
    return headers


@functools.cache
def documented(model: type) -> frozenset[str]:
    """The wire names of a request model's fields (``extra``, where a model has it, is not one)."""
    return frozenset(serde.camel(f.name) for f in attrs.fields(model) if f.name != "extra")


def with_extra_body(request: ApiRequest, extra: object, model: type | None) -> ApiRequest:
    """``request`` with the members of ``extra`` added to its JSON body object.

    Refuses (GettValidationError, field ``extra_body``): anything but a mapping with string
    keys, a value JSON cannot carry (NaN and infinities included), a GET or DELETE (they send
    no body), and any key that ``model`` documents or that the body already holds: use the
    method's own parameter for those, so the SDK's checks apply.
    """
    if not isinstance(extra, Mapping):
        raise GettValidationError("extra_body", f"must be a mapping of member names to values, got {_kind(extra)}")
    if request.method in ("GET", "HEAD", "DELETE"):
        raise GettValidationError("extra_body", f"{request.method} {request.template} sends no body")
    for key in extra:
        if not isinstance(key, str) or not key:
            raise GettValidationError("extra_body", f"member names must be non-empty strings, got {key!r}")
    body: dict[str, Any] = json.loads(request.body) if request.body else {}
    taken = (documented(model) if model is not None else frozenset()) | body.keys()
    clash = sorted(key for key in extra if key in taken)
    if clash:
        raise GettValidationError(
            "extra_body", f"may not set {', '.join(clash)}: documented or already sent; use the method's parameters"
        )
    try:  # UnicodeEncodeError (a lone surrogate) is a ValueError too
        encoded = _ENCODER.encode({**body, **extra}).encode()
    except (TypeError, ValueError) as exc:
        raise GettValidationError("extra_body", f"must be JSON-serialisable UTF-8: {exc}") from None
    return attrs.evolve(request, body=encoded)


def _kind(value: object) -> str:
    return type(value).__name__
