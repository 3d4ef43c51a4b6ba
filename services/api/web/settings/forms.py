"""The settings forms: what an admin typed, as the arguments of the services behind the API
and `overt site set` (which validate it as they always do).

Each parser takes the form's fields (strings) and returns what the service takes, or raises
FormError with a sentence per refused field. None of them stores anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.api.goals.schemas import GoalIn
from services.api.people.schemas import TRIGGERS, DestinationKind, WebhookIn
from services.api.stats.schemas import FilterOp, SegmentIn

MAX_TEXT = 4000


class FormError(ValueError):
    """Fields a form refuses: {field: what is wrong, in a sentence}."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def _text(fields: Mapping[str, str], name: str) -> str:
    return fields.get(name, "")[:MAX_TEXT].strip()


def _lines(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.replace(",", "\n").splitlines() if part.strip())


def _whole(fields: Mapping[str, str], name: str, problems: dict[str, str]) -> int | None:
    text = _text(fields, name)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        problems[name] = "Enter a whole number."
        return None


def _sentence(message: str) -> str:
    message = message.removeprefix("Value error, ")
    text = message[:1].upper() + message[1:]
    return text if text.endswith(".") else text + "."


def _problems(exc: ValidationError, names: Mapping[str, str], default: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for error in exc.errors():
        first = str(error["loc"][0]) if error["loc"] else ""
        found.setdefault(names.get(first, default), _sentence(str(error["msg"])))
    return found


# --- the site --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SiteChanges:
    """What `update_site` and `change_k` take, as `overt site set` passes them."""

    timezone: str
    changes: dict[str, Any]
    k: int


def site_changes(fields: Mapping[str, str]) -> SiteChanges:
    """Time zone, extra hosts (one a line or comma-separated), retention of raw events and of
    rollups (empty: kept), consent required (a checkbox), k."""
    problems: dict[str, str] = {}
    timezone = _text(fields, "timezone")
    if not timezone:
        problems["timezone"] = "Choose a time zone."
    retention = _whole(fields, "raw_retention_months", problems)
    if retention is None and "raw_retention_months" not in problems:
        problems["raw_retention_months"] = "Enter a number of months."
    rollups = _whole(fields, "rollup_retention_months", problems)
    k = _whole(fields, "k", problems)
    if k is None and "k" not in problems:
        problems["k"] = "Enter k (1 turns k-anonymity off)."
    elif k is not None and not 1 <= k <= 50:
        problems["k"] = "k is between 1 and 50."
    if problems:
        raise FormError(problems)
    assert retention is not None
    assert k is not None
    return SiteChanges(
        timezone=timezone,
        changes={
            "extra_hosts": _lines(_text(fields, "extra_hosts")),
            "raw_retention_months": retention,
            "rollup_retention_months": rollups,
            "consent_required": fields.get("consent_required") == "on",
        },
        k=k,
    )


SITE_FIELDS = ("extra_hosts", "raw_retention_months", "rollup_retention_months", "timezone")


def site_problems(message: str) -> dict[str, str]:
    """A SiteError's "field: problem; ..." as sentences beside the fields it names (the rest
    above the form)."""
    problems: dict[str, str] = {}
    for part in message.split("; "):
        name, _, text = part.partition(": ")
        if name.split(".")[0] in SITE_FIELDS and text:
            problems.setdefault(name.split(".")[0], _sentence(text))
        else:
            problems.setdefault("site", _sentence(part))
    return problems


# --- goals -----------------------------------------------------------------------------------


def goal_in(fields: Mapping[str, str]) -> GoalIn:
    """A page goal (`target` is a path) or an event goal (`target` is the event's name),
    with an optional display name and, for an event, a revenue currency."""
    kind = fields.get("kind", "page")
    target = _text(fields, "target")
    body: dict[str, Any] = {"name": _text(fields, "name") or None}
    body["page" if kind == "page" else "event"] = target or None
    if kind != "page":
        body["currency"] = _text(fields, "currency") or None
    if not target:
        raise FormError({"target": "Enter a path (page goal) or an event name (event goal)."})
    try:
        return GoalIn.model_validate(body)
    except ValidationError as exc:
        raise FormError(
            _problems(exc, {"name": "name", "currency": "currency"}, "target")
        ) from None


# --- segments --------------------------------------------------------------------------------


def segment_in(fields: Mapping[str, str]) -> SegmentIn:
    """A named segment of one condition: a dimension, an operator and its values (one a line
    or comma-separated). Segments with several conditions are made through the API."""
    values = list(_lines(_text(fields, "values")))
    body = {
        "name": _text(fields, "name"),
        "filters": {
            "dimension": _text(fields, "dimension"),
            "op": fields.get("op", FilterOp.is_.value),
            "values": values,
        },
    }
    try:
        return SegmentIn.model_validate(body)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            field = "name" if loc[:1] == ["name"] else "values"
            if "dimension" in loc:
                field = "dimension"
            problems.setdefault(field, _sentence(str(error["msg"])))
        raise FormError(problems) from None


# --- destinations ----------------------------------------------------------------------------


def destination_in(fields: Mapping[str, str]) -> WebhookIn:
    """A signed-JSON webhook or a Slack incoming webhook, the events it gets (checkboxes
    named `event`, read by the caller into `events`, comma-joined) and, for Slack, its
    cooldown: at most one alert per contact in that many hours."""
    problems: dict[str, str] = {}
    kind = fields.get("kind", DestinationKind.webhook.value)
    if kind not in (DestinationKind.webhook.value, DestinationKind.slack.value):
        problems["kind"] = "Choose a webhook or Slack."
    events = [e for e in _text(fields, "events").split(",") if e]
    if not events:
        problems["events"] = "Choose at least one event to send."
    cooldown = _whole(fields, "cooldown_hours", problems) if kind == "slack" else None
    if problems:
        raise FormError(problems)
    if kind == DestinationKind.slack.value:
        events = [e for e in events if e in TRIGGERS]
        if not events:
            raise FormError({"events": "Slack gets intent and goal alerts: choose one."})
    try:
        return WebhookIn.model_validate(
            {
                "kind": kind,
                "url": _text(fields, "url"),
                "events": events,
                "cooldown_hours": cooldown,
            }
        )
    except ValidationError as exc:
        raise FormError(
            _problems(
                exc, {"url": "url", "events": "events", "cooldown_hours": "cooldown_hours"}, "url"
            )
        ) from None
