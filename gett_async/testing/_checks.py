"""The emulator's own request checks, written apart from the SDK's client-side validation so
that a bug there is caught here rather than mirrored."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from ._problems import BareNotFound, validation_failed

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?"
)


def path_uuid(value: str) -> str:
    """The canonical (lowercase) form of a UUID path id; a malformed one is a bare 404."""
    if not _UUID.fullmatch(value):
        raise BareNotFound(value)
    return value.lower()


def is_uuid(value: object) -> bool:
    """True for a string in the 8-4-4-4-12 hex form."""
    return isinstance(value, str) and _UUID.fullmatch(value) is not None


def parse_rfc3339(text: str) -> datetime | str:
    """The instant ``text`` names, or the reason it is not an RFC 3339 date-time with offset."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return "must be an RFC 3339 date-time like 2026-01-15T13:30:00Z"
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        return "must carry a timezone (Z or +hh:mm); a local time is ambiguous"
    try:
        offset = timedelta(0)
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            offset = -offset if sign == "-" else offset
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        )
    except ValueError as exc:
        return f"is not a valid date-time ({exc})"


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


class Body:
    """Field checks on one JSON request body; every error is collected, then raised as 422."""

    __slots__ = ("data", "errors")

    def __init__(self, data: Any, known: Collection[str]) -> None:
        self.errors: list[dict[str, str]] = []
        if isinstance(data, dict):
            self.data: dict[str, Any] = data
            for key in data:
                if key not in known:
                    self.add(key, "UNKNOWN_FIELD", f"{key!r} is not a field of this request")
        else:
            self.data = {}
            what = "no body" if data is None else f"a JSON {_json_type(data)}"
            self.add("", "INVALID_TYPE", f"the body must be a JSON object, got {what}")

    def add(self, key: str, code: str, message: str) -> None:
        """Record one error at ``$.key`` (``$`` for the whole body)."""
        self.errors.append({"code": code, "message": message, "jsonPath": f"$.{key}" if key else "$"})

    def has_error(self, key: str) -> bool:
        """Whether an error was already recorded at ``$.key``."""
        path = f"$.{key}"
        return any(error.get("jsonPath") == path for error in self.errors)

    def done(self) -> None:
        """Raise the collected errors, if any, as one 422 VALIDATION_FAILED."""
        if self.errors:
            raise validation_failed(self.errors)

    def _present(self, key: str, required: bool) -> Any:
        # An explicit null counts as absent: the SDK omits unset fields, others may not.
        value = self.data.get(key)
        if value is None and required:
            self.add(key, "REQUIRED", f"{key} is required")
        return value

    def string(self, key: str, *, required: bool = False, blank: bool = False) -> str | None:
        """A string member; blank ones refused unless ``blank``."""
        value = self._present(key, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(key, "INVALID_TYPE", f"{key} must be a string, got {_json_type(value)}")
            return None
        if not blank and not value.strip():
            self.add(key, "BLANK", f"{key} must not be blank")
            return None
        return value

    def url(self, key: str, *, required: bool = False) -> str | None:
        """An absolute http(s) URL member."""
        value = self.string(key, required=required)
        if value is not None and not _is_http_url(value):
            self.add(key, "INVALID_FORMAT", f"{key} must be an absolute http(s) URL")
            return None
        return value

    def enum(
        self,
        key: str,
        values: Iterable[str],
        *,
        required: bool = False,
        refused: Mapping[str, str] | None = None,
    ) -> str | None:
        """A member whose value is one of ``values``; ``refused`` maps values to why not."""
        value = self.string(key, required=required)
        if value is None:
            return None
        if refused and value in refused:
            self.add(key, "NOT_ALLOWED", refused[value])
            return None
        allowed = tuple(values)
        if value not in allowed:
            self.add(key, "INVALID_VALUE", f"{key} must be one of {', '.join(allowed)}; got {value!r}")
            return None
        return value

    def timestamp(self, key: str) -> datetime | None:
        """A timezone-aware RFC 3339 date-time member."""
        value = self.string(key)
        if value is None:
            return None
        parsed = parse_rfc3339(value)
        if isinstance(parsed, str):
            self.add(key, "INVALID_FORMAT", f"{key} {parsed}")
            return None
        return parsed

    def boolean(self, key: str) -> bool | None:
        """A true/false member."""
        value = self._present(key, False)
        if value is None or isinstance(value, bool):
            return value
        self.add(key, "INVALID_TYPE", f"{key} must be a boolean, got {_json_type(value)}")
        return None

    def mapping(self, key: str, fields: Collection[str]) -> dict[str, str] | None:
        """A nested object whose members are all optional strings (e.g. an address)."""
        value = self._present(key, False)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add(key, "INVALID_TYPE", f"{key} must be a JSON object, got {_json_type(value)}")
            return None
        result: dict[str, str] = {}
        for name, member in value.items():
            path = f"{key}.{name}"
            if name not in fields:
                self.add(path, "UNKNOWN_FIELD", f"{name!r} is not a field of {key}")
            elif member is not None and not isinstance(member, str):
                self.add(path, "INVALID_TYPE", f"{path} must be a string, got {_json_type(member)}")
            elif member is not None:
                result[name] = member
        return result


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null" if value is None else type(value).__name__
