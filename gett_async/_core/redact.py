"""Keeping the API key secret: the holder, and the scrubber for text a server sends back.

A proxy or a misbehaving server may echo the ``Authorization`` header into a problem body or
a response header. Every string an error, an attempt record or a log line carries passes
through `Secret.scrub` first, so the key never reaches ``str(exc)``, a log or a hook.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import GettValidationError
from . import validate

#: What stands in for the key wherever a server echoed it.
REDACTED = "[REDACTED]"


class Secret:
    """Holds the API key; its repr and str never show it."""

    __slots__ = ("_bytes", "_value")

    def __init__(self, value: object) -> None:
        self._value = value
        self._bytes = value.encode("ascii", "replace") if isinstance(value, str) and value else None

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def check(self, field: str, hint: str) -> None:
        """Refuse a missing key, or one that is not all visible ASCII (the key is never echoed)."""
        if not self._value:
            raise GettValidationError(field, f"missing: {hint}")
        validate.visible_ascii(field, self._value)

    def bearer(self) -> str:
        return f"Bearer {self._value}"

    def found_in(self, texts: Iterable[str]) -> bool:
        """True when the key appears in any of ``texts``."""
        key = self._value
        return isinstance(key, str) and bool(key) and any(key in text for text in texts)

    def scrub(self, value: Any) -> Any:
        """``value`` with every occurrence of the key replaced by `REDACTED`: strings, bytes,
        and the strings inside mappings, lists and tuples (keys included); other values as is."""
        key, raw = self._value, self._bytes
        if not isinstance(key, str) or raw is None:
            return value
        if isinstance(value, str):
            return value.replace(key, REDACTED) if key in value else value
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).replace(raw, REDACTED.encode()) if raw in value else bytes(value)
        if isinstance(value, Mapping):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        return value


class RedactedHeaders(dict[str, str]):
    """Request headers whose repr never shows the key (tracebacks with locals print reprs)."""

    def __repr__(self) -> str:
        return repr({k: ("Bearer ***" if k == "Authorization" else v) for k, v in self.items()})



class Headers(Mapping[str, str]):
    """Response headers after scrubbing: case-insensitive, like the originals."""

    __slots__ = ("_items",)

    def __init__(self, pairs: Mapping[str, str]) -> None:
        self._items = {name.lower(): (name, value) for name, value in pairs.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


def scrub_headers(headers: Mapping[str, str], secret: Secret) -> Mapping[str, str]:
    """``headers``, or a scrubbed copy if a server echoed the key into any of them."""
    if not secret.found_in(itertools.chain.from_iterable(headers.items())):
        return headers
    return Headers({secret.scrub(name): secret.scrub(value) for name, value in headers.items()})
