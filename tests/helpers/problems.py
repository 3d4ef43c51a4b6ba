"""Checking a refusal: an RFC 9457 problem+json with the expected status, type and a title."""

from __future__ import annotations


def assert_problem(response: object, status: int, type_suffix: str) -> dict[str, object]:
    import httpx

    assert isinstance(response, httpx.Response)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + type_suffix)
    assert body["title"]
    return dict(body)
