"""Slack alerts: Block Kit messages for a Slack incoming webhook, rendered when they are sent.

An alert names the person (the identity they shared), says what they agreed to and when, and
lists the signals with their explanation and a link to the contact. It is rendered from what
is true at send time (consent, identity and agreements are read again then), never from what
was true when it was queued. A withdrawal or an erasure is a follow-up message that names no
one: by then Overt no longer knows who it was.

Everything a visitor or a site wrote (a display name, an external id, a goal name, a rule
name) is escaped for mrkdwn (&, <, >: Slack's own rule, so no link or mention can be
injected) and cut to Block Kit's limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shared.consent_state import Agreement
from shared.identities import SharedIdentity

HEADER_MAX = 150  # plain_text in a header block
TEXT_MAX = 3000  # a section's text
FALLBACK_MAX = 400  # the notification text


def escape(text: str) -> str:
    """mrkdwn-safe: Slack's three control characters, as its docs say to escape them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int = HEADER_MAX) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": False}


def _section(markdown: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(markdown, TEXT_MAX)}}


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def who(identity: SharedIdentity) -> str:
    """The person as plain text: display name and value, or the value."""
    if identity.display_name and identity.display_name != identity.value:
        return f"{identity.display_name} ({identity.value})"
    return identity.value


def alert(
    *,
    event_type: str,
    identity: SharedIdentity,
    agreed: Sequence[Agreement],
    contact: dict[str, Any],
    goal: dict[str, Any] | None,
    link: str,
) -> dict[str, Any]:
    """The Block Kit body of an intent or goal alert about one consented contact."""
    person = who(identity)
    if goal is not None:
        headline = f"{identity.label} completed “{goal['name']}”"
    else:
        headline = f"{identity.label} is showing buying intent"
    invites = any(a.invites_contact for a in agreed)
    permission = (
        "They agreed to be contacted about your products: you may reach out."
        if invites
        else "They did *not* agree to be contacted: do not reach out on the strength of this."
    )
    agreements = "\n".join(
        f"• {escape(a.title)} (`{escape(a.purpose)}`), since {_when(a.given_at)}" for a in agreed
    )
    signals = "\n".join(
        f"• *{escape(str(s['rule']))}*: {escape(str(s['explanation']))}"
        for s in contact.get("signals", [])
    )
    explanation = ", ".join(
        f"{escape(str(c['signal']))} {c['points']:g}"
        for c in contact.get("explanation", [])
        if c.get("points")
    )
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(headline)},
        _section(
            f"*{escape(person)}*, score {contact['score']:g} "
            f"(intent threshold {contact['intent_threshold']:g})"
            + (f"\n{explanation}" if explanation else "")
        ),
        _section(f"*What they agreed to*\n{agreements or '• (nothing else)'}"),
    ]
    if signals:
        blocks.append(_section(f"*Signals*\n{signals}"))
    if goal is not None:
        blocks.append(
            _section(f"*Goal*: {escape(str(goal['name']))} on {escape(str(goal['page']))}")
        )
    blocks += [
        _section(permission),
        {
            "type": "actions",
            "elements": [
                {"type": "button", "text": _plain("Open the contact"), "url": link[:3000]}
            ],
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Overt · {escape(event_type)} · consent checked at sending",
                }
            ],
        },
    ]
    return {"text": _cut(f"{headline}. {permission}", FALLBACK_MAX), "blocks": blocks}


def consent_ended(*, event_type: str, subject_id: str, reason: str) -> dict[str, Any]:
    """The follow-up when a contact withdrew or was erased (it names no one: Overt no longer
    knows who it was)."""
    erased = event_type == "contact.deleted"
    what = "was erased at their request" if erased else "withdrew their consent"
    text = (
        f"A contact you were alerted about {what} (`{escape(subject_id)}`, {escape(reason)}). "
        "Do not contact them on the strength of Overt's alerts, and delete what you copied "
        "from them."
    )
    return {
        "text": _cut(f"A contact {what}.", FALLBACK_MAX),
        "blocks": [{"type": "header", "text": _plain(f"A contact {what}")}, _section(text)],
    }
