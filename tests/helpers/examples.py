"""The OpenAPI examples of the three services: where they live, the schema each must meet,
and the stand-ins they use for what only a running Overt has (a site id, a subject, a
token, today's dates), swapped both ways when examples are sent and answers recorded."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from services.api.app import EXAMPLES as API_EXAMPLES
from services.collector.app import EXAMPLES as COLLECTOR_EXAMPLES
from services.consent.app import EXAMPLES as CONSENT_EXAMPLES
from shared.app import HEALTH_EXAMPLES

EXAMPLE_FILES: dict[str, Path] = {
    "health": HEALTH_EXAMPLES,
    "collector": COLLECTOR_EXAMPLES,
    "consent": CONSENT_EXAMPLES,
    "api": API_EXAMPLES,
}

# The values the example files use for things a running Overt makes up.
EXAMPLE_SITE = "3f9c2a7b41d0"
EXAMPLE_FIRST_DAY = "2026-11-30"
EXAMPLE_LAST_DAY = "2026-12-06"
EXAMPLE_MS = 1796569200000  # an event's client time
EXAMPLE_SECONDS = 1796569200  # an identity assertion's time
EXAMPLE_SUBJECT = "5b1e0c9a7d2f4e8a9c3b6d1f0e2a4c7b"
EXAMPLE_CREDENTIAL = f"ocs1.{EXAMPLE_SUBJECT}.M1pn0Ui7g9-Au0CfRC2N5PeV3C04WP4yx5S_uKr3HM8"
EXAMPLE_TOKEN = (
    "oct1.eyJzaXRlIjoiM2Y5YzJhN2I0MWQwIiwic3ViIjoiNWIxZTBjOWE3ZDJmNGU4YTljM2I2ZDFmMGUyYTRjN2IiLC"
    "JwdXIiOiJpZGVudGlmaWNhdGlvbiJ9.hH7fnkYwTaSp460o1ubM4-2lOrK4IjUFmO_h8RqzrSo"
)
EXAMPLE_HOOK = "https://crm.example.com/hooks/overt"  # a webhook's target


def validator(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Draft202012Validator:
    """A validator for `schema`, its `#/components/...` references resolved in `spec`."""
    rooted = {**schema, "components": spec.get("components", {})}
    return Draft202012Validator(rooted, format_checker=Draft202012Validator.FORMAT_CHECKER)


def operations(spec: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def swapped(value: Any, swaps: Mapping[Any, Any]) -> Any:
    """`value` with every scalar in `swaps` replaced (and, inside longer strings, every
    string key of `swaps` that is long enough not to match by chance)."""
    if isinstance(value, dict):
        return {key: swapped(item, swaps) for key, item in value.items()}
    if isinstance(value, list):
        return [swapped(item, swaps) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, str | int) and value in swaps:
        return swaps[value]
    if isinstance(value, str):
        for old, new in swaps.items():
            if isinstance(old, str) and isinstance(new, str) and len(old) >= 8:
                value = value.replace(old, new)
    return value
