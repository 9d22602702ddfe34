"""`gett_async.webhooks.verify`: the raw body, the signature, the timestamp, nothing else (pure)."""

from __future__ import annotations

import json
import traceback
from datetime import datetime, timezone
from typing import Any

import pytest
from conftest import ORDER_ID
from helpers_webhooks import NOW, OLD_SECRET, PAYLOAD, SECRET, assert_no_secret, body_of, signed

from gett_async import GettClient, GettError, GettValidationError, WebhookVerificationError
from gett_async.webhooks import (
    API_VERSION,
    PayloadShape,
    WebhookKind,
    WebhookSecrets,
    signature_headers,
    verify,
)


def refusal(body: bytes, headers: Any, secrets: Any = SECRET, **options: Any) -> WebhookVerificationError:
    options.setdefault("now", NOW)
    with pytest.raises(WebhookVerificationError) as info:
        verify(body, headers, secrets, **options)
    return info.value


def test_a_valid_delivery_is_read_whole() -> None:
    body = body_of()
    request = verify(body, signed(body), SECRET, now=NOW, kind="placeOrder")
    assert request.kind is WebhookKind.PLACE
    assert request.order_id == ORDER_ID
    assert request.payload == PAYLOAD  # kept whole, unknown members included
    assert request.body == body
    assert request.api_version == API_VERSION
    assert request.timestamp == datetime.fromtimestamp(NOW, timezone.utc)


def test_the_signature_is_gett_documented_hmac_of_the_raw_body() -> None:
    import hashlib
    import hmac

    body = body_of()
    headers = signature_headers(body, SECRET, timestamp=NOW)
    # Hex HMAC-SHA256 of the body alone, keyed with the secret: the timestamp is not prepended.
    assert headers["Signature"] == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["Timestamp"] == str(int(NOW))


def test_refusals_are_gett_errors() -> None:
    assert issubclass(WebhookVerificationError, GettError)


def test_a_tampered_body_is_refused() -> None:
    body = body_of()
    tampered = body.replace(b"12.5", b"1.25")
    error = refusal(tampered, signed(body))
    assert error.check == "signature"
    assert "does not match" in str(error)


def test_a_body_reserialised_by_a_framework_is_refused() -> None:
    body = body_of()
    # What request.json() followed by json.dumps() hands on: equal data, other bytes.
    reserialised = json.dumps(json.loads(body)).encode()
    assert json.loads(reserialised) == json.loads(body) and reserialised != body
    assert refusal(reserialised, signed(body)).check == "signature"


def test_a_str_body_is_refused_outright() -> None:
    body = body_of()
    with pytest.raises(TypeError, match="raw body as bytes"):
        verify(body.decode(), signed(body), SECRET, now=NOW)  # type: ignore[arg-type]


def test_a_wrong_secret_is_refused() -> None:
    body = body_of()
    assert refusal(body, signed(body, "whsec_someone_else")).check == "signature"


def test_rotated_secrets_accept_old_and_new_signatures() -> None:
    body = body_of()
    rotating = [SECRET, OLD_SECRET]
    assert verify(body, signed(body, OLD_SECRET), rotating, now=NOW).order_id == ORDER_ID
    assert verify(body, signed(body, SECRET), WebhookSecrets(*rotating), now=NOW).order_id == ORDER_ID
    assert refusal(body, signed(body, OLD_SECRET), SECRET).check == "signature"  # rotation over


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_the_tolerance_pass(offset: int) -> None:
    body = body_of()
    assert verify(body, signed(body, at=NOW + offset), SECRET, now=NOW).order_id == ORDER_ID


@pytest.mark.parametrize(("offset", "words"), [(-301, "s old"), (301, "in the future"), (-86_400, "s old")])
def test_stale_and_future_timestamps_are_refused(offset: int, words: str) -> None:
    body = body_of()
    error = refusal(body, signed(body, at=NOW + offset))
    assert error.check == "timestamp"
    assert words in str(error) and "300 s" in str(error)


def test_the_tolerance_is_configurable_and_checked() -> None:
    body = body_of()
    assert refusal(body, signed(body, at=NOW - 61), tolerance=60).check == "timestamp"
    for bad in (0, -1, float("nan"), True, "300"):
        with pytest.raises(GettValidationError, match="tolerance"):
            verify(body, signed(body), SECRET, now=NOW, tolerance=bad)


@pytest.mark.parametrize("missing", ["Signature", "Timestamp"])
def test_missing_headers_are_refused(missing: str) -> None:
    body = body_of()
    headers = signed(body)
    del headers[missing]
    error = refusal(body, headers)
    assert error.check == missing.lower()
    assert f"{missing} header is missing" in str(error)


def test_header_names_are_case_insensitive_and_api_version_optional() -> None:
    body = body_of()
    headers = {name.lower(): value for name, value in signed(body).items() if name != "API-Version"}
    request = verify(body, headers, SECRET, now=NOW)
    assert request.api_version is None


def test_a_repeated_header_is_refused() -> None:
    body = body_of()
    pairs = [*signed(body).items(), ("signature", signed(body, OLD_SECRET)["Signature"])]
    assert "repeated" in str(refusal(body, pairs, [SECRET, OLD_SECRET]))


def test_raw_asgi_header_pairs_are_read() -> None:
    body = body_of()
    pairs = [(name.lower().encode(), value.encode()) for name, value in signed(body).items()]
    assert verify(body, pairs, SECRET, now=NOW).api_version == API_VERSION


@pytest.mark.parametrize(
    "signature",
    [
        "é" * 64,  # non-ASCII text: hmac.compare_digest would raise TypeError on it
        "ab" * 31 + "a",  # odd length
        "zz" * 32,  # not hex
        "",
        "ab" * 64,  # too long
        "sha256=" + "ab" * 32,
    ],
    ids=["non-ascii", "odd-length", "not-hex", "empty", "too-long", "prefixed"],
)
def test_malformed_signatures_are_refusals_not_crashes(signature: str) -> None:
    body = body_of()
    headers = {**signed(body), "Signature": signature}
    assert refusal(body, headers).check == "signature"


def test_non_ascii_bytes_in_a_raw_header_are_refused() -> None:
    body = body_of()
    pairs = [(b"signature", b"\xe9" * 64), (b"timestamp", str(int(NOW)).encode())]
    assert "not ASCII" in str(refusal(body, pairs))


def test_an_uppercase_hex_signature_is_accepted() -> None:
    body = body_of()
    headers = signed(body)
    headers["Signature"] = headers["Signature"].upper()
    assert verify(body, headers, SECRET, now=NOW).order_id == ORDER_ID


@pytest.mark.parametrize("stamp", ["", "soon", "1.7e9", "-5", "١٧٦٧٢٢٥٦٠٠", "17672256000000000"])
def test_malformed_timestamps_are_refused(stamp: str) -> None:
    body = body_of()
    headers = {**signed(body), "Timestamp": stamp}
    error = refusal(body, headers)
    assert error.check == "timestamp"


def test_an_authentic_body_that_is_not_json_is_a_payload_refusal() -> None:
    body = b"<order/>"
    error = refusal(body, signed(body))
    assert error.check == "payload"


@pytest.mark.parametrize(
    "payload",
    [
        {"orderId": ORDER_ID},
        {"order": {"orderId": ORDER_ID}},
        {"order": {"id": ORDER_ID, "items": []}},
        {"orderId": ORDER_ID.upper()},
        {"orderId": "not-a-uuid", "order": {"id": ORDER_ID}},
    ],
    ids=["top-level", "under-order", "order-id", "uppercase", "first-uuid-wins"],
)
def test_the_order_id_is_found_tolerantly(payload: dict[str, Any]) -> None:
    body = body_of(payload)
    assert verify(body, signed(body), SECRET, now=NOW).order_id == ORDER_ID


@pytest.mark.parametrize("payload", [{"orderId": 42}, {"order": "x"}, [ORDER_ID], "text", {"orderId": "n/a"}])
def test_no_order_id_is_none_and_the_payload_is_still_kept(payload: Any) -> None:
    body = body_of(payload)
    request = verify(body, signed(body), SECRET, now=NOW)
    assert request.order_id is None
    assert request.payload == payload


def test_the_inferred_shape_is_overridable() -> None:
    body = body_of({"data": {"gettOrderId": ORDER_ID}})
    shape = PayloadShape(order_id_at=(("data", "gettOrderId"),))
    assert verify(body, signed(body), SECRET, now=NOW, shape=shape).order_id == ORDER_ID
    assert verify(body, signed(body), SECRET, now=NOW).order_id is None


async def test_a_placed_order_becomes_a_tracker_at_pending() -> None:
    body = body_of()
    request = verify(body, signed(body), SECRET, now=NOW)
    async with GettClient(api_key="zpka_test_key", base_url="http://127.0.0.1:9") as gett:
        tracker = request.track(gett)
        assert (tracker.order_id, tracker.status, tracker.strict) == (ORDER_ID, "pending", False)
        assert request.track(gett.orders, strict=True).strict
        empty = body_of({"items": []})
        with pytest.raises(GettValidationError, match="order_id"):
            verify(empty, signed(empty), SECRET, now=NOW).track(gett)


@pytest.mark.parametrize("secrets", [[], "", b"", [SECRET, ""], [None]])
def test_missing_or_empty_secrets_are_refused(secrets: Any) -> None:
    body = body_of()
    with pytest.raises(GettValidationError, match="secret"):
        verify(body, signed(body), secrets, now=NOW)


def test_nothing_shows_a_secret_or_the_expected_signature() -> None:
    body = body_of()
    good = signed(body)
    tampered = body + b" "
    expected_for_tampered = signed(tampered)["Signature"]
    secrets = WebhookSecrets(SECRET, OLD_SECRET)
    assert_no_secret(repr(secrets) + str(secrets))
    request = verify(body, good, secrets, now=NOW)
    assert_no_secret(repr(request))
    assert "Ring twice" not in repr(request)  # the payload (customer data) stays out of reprs
    for headers, raw_secrets in ((good, [SECRET, OLD_SECRET]), ({**good, "Timestamp": "1"}, SECRET)):
        with pytest.raises(WebhookVerificationError) as info:
            verify(tampered, headers, raw_secrets, now=NOW)
        error = info.value
        shown = [str(error), repr(error), repr(error.args), repr(vars(error))]
        shown.append("".join(traceback.format_exception(type(error), error, error.__traceback__)))
        # What a crash reporter that shows frame locals would print, from verify's frame on (this
        # test's own frame holds the raw secrets, as the caller's would).
        assert error.__traceback__ is not None
        inner = traceback.TracebackException(
            type(error), error, error.__traceback__.tb_next, capture_locals=True
        )
        shown.append("".join(inner.format()))
        assert "verify" in shown[-1]
        for text in shown:
            assert_no_secret(text)
            assert expected_for_tampered not in text
