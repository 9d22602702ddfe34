"""The one cattrs converter: camelCase on the wire, snake_case in Python, UTC with ``Z``.

- Unset (``None``) fields are omitted from request bodies.
- A model's ``extra`` mapping is merged into its body (requests) and collects members Gett
  sends that the model does not know yet (responses), so new fields never break parsing.
- ``SomeEnum | str`` fields hold the enum member when known, else the plain string.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any, TypeVar

import attrs
from cattrs import Converter
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..errors import GettError, GettValidationError

T = TypeVar("T")

converter = Converter()


def camel(name: str) -> str:
    """``estimated_ready_at`` -> ``estimatedReadyAt``."""
    first, *rest = name.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; milliseconds only when present. Naive values are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise GettValidationError("datetime", "must be timezone-aware; a naive datetime is ambiguous")
    utc = value.astimezone(timezone.utc)
    # isoformat truncates to milliseconds, as before; "+00:00" (6 characters) becomes "Z"
    return utc.isoformat(timespec="milliseconds" if utc.microsecond >= 1000 else "seconds")[:-6] + "Z"


def parse_datetime(value: Any) -> datetime:
    """Parse an ISO 8601 / RFC 3339 timestamp (``Z`` or offset); naive input is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO 8601 string, got {type(value).__name__}")
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    # Python 3.10's fromisoformat takes only 3 or 6 fraction digits: pad or cut to 6.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


_FRACTION = re.compile(r"\.(\d+)")

converter.register_unstructure_hook(datetime, format_datetime)
converter.register_structure_hook(datetime, lambda value, _: parse_datetime(value))


def _has_extra(cls: type) -> bool:
    return any(f.name == "extra" for f in attrs.fields(cls))


def _unstructure_factory(cls: type) -> Callable[[Any], dict[str, Any]]:
    overrides = {
        f.name: override(omit=True) if f.name == "extra" else override(rename=camel(f.name), omit_if_default=True)
        for f in attrs.fields(cls)
    }
    attrs.resolve_types(cls)
    plain: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    if not _has_extra(cls):
        return plain

    def with_extra(obj: Any) -> dict[str, Any]:
        body = plain(obj)
        return {**obj.extra, **body} if obj.extra else body

    return with_extra


def _structure_factory(cls: type) -> Callable[[Any, Any], Any]:
    overrides = {
        f.name: override(omit=True) if f.name == "extra" else override(rename=camel(f.name))
        for f in attrs.fields(cls)
    }
    attrs.resolve_types(cls)
    plain: Callable[[Any, Any], Any] = make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]
    known = {camel(f.name) for f in attrs.fields(cls)}
    keeps_extra = _has_extra(cls)

    def structure(data: Any, _: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
        obj = plain(data, cls)
        if keeps_extra:
            unknown = {k: v for k, v in data.items() if k not in known}
            if unknown:
                obj = attrs.evolve(obj, extra=unknown)
        return obj

    return structure


converter.register_unstructure_hook_factory(attrs.has, _unstructure_factory)
converter.register_structure_hook_factory(attrs.has, _structure_factory)


def _union_args(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.get_args(tp)
    return ()


def _is_enum_or_str(tp: Any) -> bool:
    args = _union_args(tp)
    return str in args and any(isinstance(a, type) and issubclass(a, Enum) for a in args)


def _enum_or_str_factory(tp: Any) -> Callable[[Any, Any], Any]:
    args = _union_args(tp)
    enum = next(a for a in args if isinstance(a, type) and issubclass(a, Enum))
    optional = type(None) in args

    def structure(value: Any, _: Any) -> Any:
        if value is None and optional:
            return None
        try:
            return enum(value)
        except ValueError:
            if isinstance(value, str):
                return value  # a value Gett added after this SDK was released
            raise

    return structure


converter.register_structure_hook_factory(_is_enum_or_str, _enum_or_str_factory)


def encode(model: Any) -> bytes:
    """Serialise a request model to compact JSON bytes, once."""
    return _ENCODER.encode(converter.unstructure(model)).encode()


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # what json.dumps builds per call


def decode(body: bytes, cls: type[T]) -> T:
    """Parse a JSON response body into ``cls``; a body that cannot be read raises GettError."""
    return decode_with(body, lambda data: converter.structure(data, cls), cls.__name__)


def decode_optional(body: bytes, cls: type[T]) -> T | None:
    """Like `decode`, for answers whose body is undocumented: no JSON object gives None."""
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return _structured(data, lambda value: converter.structure(value, cls), cls.__name__)


def decode_with(body: bytes, parse: Callable[[Any], T], what: str) -> T:
    """Parse JSON ``body`` with ``parse``; any failure becomes one GettError naming ``what``."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise GettError(f"could not parse {what} from the response: {_first_cause(exc)}") from None
    return _structured(data, parse, what)


def _structured(data: Any, parse: Callable[[Any], T], what: str) -> T:
    try:
        return parse(data)
    except Exception as exc:  # cattrs raises exception groups; keep one readable message
        raise GettError(f"could not parse {what} from the response: {_first_cause(exc)}") from None


def _first_cause(exc: BaseException) -> str:
    while getattr(exc, "exceptions", None):  # an exception group (a backport on 3.10)
        exc = exc.exceptions[0]  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {exc}"
