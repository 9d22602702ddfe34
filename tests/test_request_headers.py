"""`ApiRequest.with_headers` is `attrs.evolve(request, headers=...)`, field for field."""

from __future__ import annotations

import attrs

from gett_async._core.wire import ApiRequest


def test_with_headers_carries_every_other_field() -> None:
    request = ApiRequest(
        "POST", "/v1/x/1", query={"a": "b"}, body=b"{}", template="/v1/x/{id}", headers={"A": "1"}, reads_body=False
    )
    headers = {"Authorization": "Bearer k"}
    # Every field set to a non-default value, so a field the method forgot would show.
    assert {f.name for f in attrs.fields(ApiRequest)} == {
        "method", "path", "query", "body", "template", "headers", "reads_body"
    }
    assert request.with_headers(headers) == attrs.evolve(request, headers=headers)
    assert request.with_headers(headers).headers is headers
