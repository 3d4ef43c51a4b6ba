"""Reading the IETF httpapi RateLimit fields with a structured-field parser."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from http_sf import parse


def sf_list(value: str | bytes) -> list[tuple[str, dict[str, Any]]]:
    """A structured-field list of `"name";key=value` members, as (name, parameters)."""
    raw = value.encode() if isinstance(value, str) else value
    parsed: Any = parse(raw, tltype="list")
    return [(str(name), dict(params)) for name, params in parsed]


def rate_limits(headers: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(policy by name, state by name) from an answer's RateLimit-Policy and RateLimit."""
    return dict(sf_list(headers["ratelimit-policy"])), dict(sf_list(headers["ratelimit"]))
