"""Collector errors, each a problem+json with its own type."""

from __future__ import annotations

from shared.errors import ProblemError


class UnknownSite(ProblemError):
    def __init__(
        self, detail: str = "No site is registered with this id; check data-site in the script tag."
    ) -> None:
        super().__init__(422, "Unknown site", slug="unknown-site", detail=detail)


class WrongOrigin(ProblemError):
    def __init__(self, domain: str) -> None:
        super().__init__(
            403,
            "Origin not allowed",
            slug="wrong-origin",
            detail=f"This site only accepts events from {domain} and its subdomains.",
        )


class BodyTooLarge(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "Payload too large",
            slug="payload-too-large",
            detail=f"The body exceeds {limit} bytes.",
            headers={"Connection": "close"},  # the unread rest must not be parsed as a request
        )


class BadJson(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            400, "Malformed JSON", slug="malformed-json", detail="The body is not valid UTF-8 JSON."
        )


class UnsupportedMediaType(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            415,
            "Unsupported media type",
            slug="unsupported-media-type",
            detail="Send text/plain or application/json.",
        )


class QueueBusy(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            503,
            "Temporarily unavailable",
            slug="queue-unavailable",
            detail="The event was not accepted; retry shortly.",
            headers={"Retry-After": "2"},
        )


class InvalidEvent(ProblemError):
    def __init__(self, message: str, *, index: int | None = None) -> None:
        reason, _, where = message.partition(" - at `")
        loc = where.rstrip("`") if where else (f"$[{index}]" if index is not None else "$")
        if loc.startswith("key` in `"):  # msgspec's wording for a bad mapping key
            loc = loc.removeprefix("key` in `") + " (key)"
        super().__init__(
            422,
            "Invalid event",
            slug="invalid-event",
            detail=f"{reason} (at {loc}); see the wire format for the limits.",
            errors=[{"loc": loc, "msg": reason, "type": "value_error"}],
        )


class RateLimited(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            429,
            "Too many events",
            slug="rate-limited",
            detail="This site is over its event rate; retry shortly.",
            headers={"Retry-After": "1"},
        )
