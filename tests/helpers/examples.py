"""The OpenAPI examples of the three services: where they live, the schema each must meet,
and the stand-ins they use for what only a running Overt has (a site id, a subject, a
token, today's dates), swapped both ways when examples are sent and answers recorded."""

from __future__ import annotations

import base64
import hashlib
import re
import string
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
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
# The preference page's: its per-browser nonce (cookie), the form token bound to it, a
# hand-over link's token and an e-mail verification link's token.
EXAMPLE_NONCE = "Xw3YkP0vQm8TnR5sLa2Jd7Hc9FbGe4Uu"
EXAMPLE_CSRF = "8d0f3c2a9b7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c"
EXAMPLE_HANDOVER = (
    "oct1.eyJzaXRlIjoiM2Y5YzJhN2I0MWQwIiwic3ViIjoiNWIxZTBjOWE3ZDJmNGU4YTljM2I2ZDFmMGUyYTRjN2IiLC"
    "JwdXIiOiJwcmVmZXJlbmNlLXBhZ2UifQ.Qm9yN2uXc3Hk1pZ8d0sVfL4aTy6Rb5WnEo9Jg2MiKqU"
)
EXAMPLE_VERIFICATION = "q7VnC2xR9mK4tL8wP1sY6bD3fH0jZ5aG-eU_iO2kN4c"


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


# A recorded answer's clock: every time a run makes up is put at this time of day, on the
# day as far from EXAMPLE_LAST_DAY as the real one was from the run's today (EXAMPLE_MS's).
EXAMPLE_TIME_OF_DAY = timedelta(hours=15)
DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(\.\d+)?")
DATE = re.compile(r"(?<![\dT])\d{4}-\d{2}-\d{2}(?![\dT])")
ENCODED_JSON = re.compile(r"eyJ[A-Za-z0-9_-]+")
HEX = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-f]{64}|[0-9a-f]{32}|[0-9a-f]{16})(?![0-9A-Za-z])")
OPAQUE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])")
# An export's zip holds random ids compressed: its size moves by a few bytes from run to run.
EXAMPLE_EXPORT_BYTES = 3500
EPOCH_SECONDS = range(1_500_000_000, 2_500_000_000)
EPOCH_MS = range(1_500_000_000_000, 2_500_000_000_000)


class Stabiliser:
    """Makes a recorded answer the same on every run: the values a run makes up (ids, hashes,
    signatures, keys, times) become stand-ins, the same stand-in for the same value wherever
    it appears (a JWS's or token's JSON is decoded, stabilised and encoded again), so that
    re-recording changes an example file only where Overt's answers changed."""

    def __init__(self, *, today: date, swaps: Mapping[str, str]) -> None:
        self.today = today
        # Real value: stand-in, for what the run's world made; the longest first, so that
        # a credential is put back whole before the subject id inside it.
        self.swaps = dict(sorted(swaps.items(), key=lambda item: -len(item[0])))
        self.made: dict[str, str] = {}
        kept = " ".join(v for v in globals().values() if isinstance(v, str))
        self.kept = set(re.findall(r"[A-Za-z0-9_-]+", kept))

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            stable = {key: self(item) for key, item in value.items()}
            if value.get("kind") == "export" and value.get("size"):
                stable["size"] = EXAMPLE_EXPORT_BYTES
            return stable
        if isinstance(value, list):
            return [self(item) for item in value]
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and (value in EPOCH_SECONDS or value in EPOCH_MS):
            scale = 1000 if value in EPOCH_MS else 1
            moved = self.moved(datetime.fromtimestamp(value / scale, UTC).date())
            return (
                int((datetime.combine(moved, time(), UTC) + EXAMPLE_TIME_OF_DAY).timestamp())
                * scale
            )
        if isinstance(value, str):
            return self.text(value)
        return value

    def moved(self, day: date) -> date:
        return date.fromisoformat(EXAMPLE_LAST_DAY) + (day - self.today)

    def text(self, value: str) -> str:
        value = ENCODED_JSON.sub(self.encoded_json, value)
        value = swapped(value, self.swaps)
        value = DATETIME.sub(self.datetime, value)
        value = DATE.sub(self.date, value)
        value = HEX.sub(lambda m: self.stand_in(m.group(), "0123456789abcdef"), value)
        alphabet = string.ascii_letters + string.digits + "-_"
        return OPAQUE.sub(lambda m: self.opaque(m.group(), alphabet), value)

    def encoded_json(self, match: re.Match[str]) -> str:
        encoded = match.group()
        try:
            decoded = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        except ValueError:
            return encoded
        again = base64.urlsafe_b64encode(orjson.dumps(self(decoded)))
        return again.decode().rstrip("=")

    def datetime(self, match: re.Match[str]) -> str:
        day = self.moved(date.fromisoformat(match.group(1))).isoformat()
        fraction = "." + "0" * (len(match.group(2)) - 1) if match.group(2) else ""
        clock = str(EXAMPLE_TIME_OF_DAY).zfill(8)
        return f"{day}T{clock}{fraction}"

    def date(self, match: re.Match[str]) -> str:
        day = date.fromisoformat(match.group())
        window = self.today - timedelta(days=6) <= day <= self.today
        return self.moved(day).isoformat() if window else match.group()

    def opaque(self, token: str, alphabet: str) -> str:
        mixed = any(c.isdigit() for c in token) and token.lower() != token != token.upper()
        return self.stand_in(token, alphabet) if mixed else token

    def stand_in(self, token: str, alphabet: str) -> str:
        """The same stand-in for the same token, by its order of first appearance."""
        if token in self.kept:
            return token
        if token not in self.made:
            seed = hashlib.shake_256(f"{len(self.made)}:{alphabet}".encode())
            stream = seed.digest(len(token))
            self.made[token] = "".join(alphabet[byte % len(alphabet)] for byte in stream)
        return self.made[token]
