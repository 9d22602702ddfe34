"""The order-update body is built directly as bytes; the cattrs converter is its reference.

For every kind of update (each status with and without an ETA, an ETA alone, a completion, a
cancel with any reason) the fast builder must give exactly the bytes the converter gives for the
`OrderStatusUpdate` model, so the wire text stays the one the models document.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from gett_async._core import lifecycle, serde
from gett_async._core.updates import Update, parse_update, update_body
from gett_async.models import OrderStatus, OrderStatusUpdate

ORDER_ID = "2f6b2d4e-8c1a-4b5e-9f0a-1c2d3e4f5a6b"
OPEN = [s.value for s in OrderStatus if s is not OrderStatus.PENDING]


def reference(update: Update) -> bytes:
    """What the cattrs converter makes of the model for ``update``."""
    if update.target is None:
        return serde.encode(OrderStatusUpdate(estimated_ready_at=update.estimated_ready_at))
    model = lifecycle.build_update(
        update.target, estimated_ready_at=update.estimated_ready_at, cancel_reason=update.cancel_reason
    )
    return serde.encode(model)


offsets = st.one_of(
    st.just(timezone.utc),
    st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m))),
    st.integers(min_value=-86399, max_value=86399).map(lambda s: timezone(timedelta(seconds=s))),
)
# Whole seconds, whole milliseconds, and any microseconds (cut, not rounded, to milliseconds).
microseconds = st.one_of(st.just(0), st.integers(1, 999).map(lambda ms: ms * 1000), st.integers(0, 999_999))
etas = st.builds(
    lambda day, micro, tz: day.replace(microsecond=micro, tzinfo=tz),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    microseconds,
    offsets,
)
TRICKY = ['"', "\\", "\n", "\t", "\x00", "\x1f", "\x7f", "é", "中", "🙂", "\u2028", "a", " "]
# Quotes, backslashes, control characters, non-ASCII (accents, CJK, emoji, U+2028) and plain text.
reasons = st.one_of(
    st.text(min_size=1, max_size=40),
    st.text(alphabet=st.sampled_from(TRICKY), min_size=1, max_size=40),
).filter(lambda text: text.strip() != "" and not any(0xD800 <= ord(c) <= 0xDFFF for c in text))


@settings(max_examples=400)
@given(status=st.sampled_from(OPEN), eta=st.none() | etas)
def test_progress_body_is_the_converters(status: str, eta: datetime | None) -> None:
    update = parse_update(ORDER_ID, status=status, estimated_ready_at=eta)
    assert update_body(update) == reference(update)


@settings(max_examples=300)
@given(eta=etas)
def test_eta_only_body_is_the_converters(eta: datetime) -> None:
    update = parse_update(ORDER_ID, estimated_ready_at=eta)
    assert update_body(update) == reference(update)


@settings(max_examples=400)
@given(reason=reasons)
def test_cancel_body_is_the_converters(reason: str) -> None:
    update = parse_update(ORDER_ID, state="cancelled", cancel_reason=reason)
    body = update_body(update)
    assert body == reference(update)
    assert json.loads(body) == {"state": "cancelled", "cancelReason": reason}


def test_completed_body_is_the_converters() -> None:
    update = parse_update(ORDER_ID, state="completed")
    assert update_body(update) == reference(update) == b'{"state":"completed"}'


def test_eta_text_cuts_microseconds_to_milliseconds_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    eta = datetime(2026, 1, 15, 15, 30, 0, 999_999, plus_two)
    update = parse_update(ORDER_ID, status="ready", estimated_ready_at=eta)
    assert update_body(update) == b'{"status":"ready","estimatedReadyAt":"2026-01-15T13:30:00.999Z"}'
    update = parse_update(ORDER_ID, status="ready", estimated_ready_at=eta.replace(microsecond=999))
    assert update_body(update) == b'{"status":"ready","estimatedReadyAt":"2026-01-15T13:30:00Z"}'
