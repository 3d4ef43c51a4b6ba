"""The reports page's forms: a user's choices, and the site's alert rule (admins)."""

from __future__ import annotations

from collections.abc import Mapping

from services.api.web.reports.service import AlertRule, Choices
from services.api.web.settings.forms import FormError

MAX_URL = 2048


def choices_from_form(fields: Mapping[str, str]) -> Choices:
    """Checkboxes: present and "on" is chosen, anything else is not."""
    return Choices(
        weekly=fields.get("weekly") == "on",
        monthly=fields.get("monthly") == "on",
        alerts=fields.get("alerts") == "on",
    )


def _whole(text: str, low: int, high: int) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if low <= value <= high else None


def rule_from_form(fields: Mapping[str, str]) -> AlertRule:
    """A change of 10 to 1000 percent, 1 to 1,000,000 visitors, an optional Slack URL."""
    problems: dict[str, str] = {}
    change = _whole(fields.get("change_pct", ""), 10, 1000)
    if change is None:
        problems["change_pct"] = "Enter a whole percentage from 10 to 1000."
    least = _whole(fields.get("min_visitors", ""), 1, 1_000_000)
    if least is None:
        problems["min_visitors"] = "Enter a whole number of visitors from 1 to 1,000,000."
    url = fields.get("slack_url", "").strip()
    if url and (len(url) > MAX_URL or not url.startswith("https://")):
        problems["slack_url"] = "Enter the Slack incoming webhook's https URL, or leave it empty."
    if problems:
        raise FormError(problems)
    assert change is not None
    assert least is not None
    return AlertRule(change_pct=change, min_visitors=least, slack_url=url or None)
