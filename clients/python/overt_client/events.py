"""Hand-kept, not generated: events sent by a backend to the collector's `POST /api/event`
(the generator reads the API's document, which does not hold the collector's routes).

A key with scope `events:write` sends one event or a batch of up to 50 for its site, each
with the visitor's IP and User-Agent (or an analytics id) and an optional id, so that a
retry is stored once. See services/collector/WIRE.md for every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any
from uuid import UUID

import httpx
from attrs import define

from .client import AuthenticatedClient
from .models.problem import Problem
from .types import Response


@define(frozen=True)
class ServerEvent:
    """One event in the collector's long keys (Plausible's Events API and Overt's own)."""

    name: str
    url: str
    domain: str
    referrer: str | None = None
    props: Mapping[str, str | int | float | bool] | None = None
    id: UUID | None = None
    analytics_id: str | None = None
    consent_token: str | None = None
    ip: str | None = None
    user_agent: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "url": self.url, "domain": self.domain}
        optional = {
            "referrer": self.referrer,
            "props": dict(self.props) if self.props is not None else None,
            "id": str(self.id) if self.id is not None else None,
            "analytics_id": self.analytics_id,
            "consent_token": self.consent_token,
            "ip": self.ip,
            "user_agent": self.user_agent,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return body


def send_events_sync(
    *, client: AuthenticatedClient, events: Sequence[ServerEvent]
) -> Response[Problem]:
    """Send 1 to 50 events (all or nothing): 202 with nothing parsed, or the refusal as a
    Problem."""
    return _answer(client.get_httpx_client().post("/api/event", json=_body(events)))


async def send_events(
    *, client: AuthenticatedClient, events: Sequence[ServerEvent]
) -> Response[Problem]:
    """`send_events_sync`, on the client's async transport."""
    return _answer(await client.get_async_httpx_client().post("/api/event", json=_body(events)))


def _body(events: Sequence[ServerEvent]) -> list[dict[str, Any]]:
    return [event.to_dict() for event in events]


def _answer(answer: httpx.Response) -> Response[Problem]:
    parsed = None
    if answer.status_code != HTTPStatus.ACCEPTED and answer.headers.get(
        "content-type", ""
    ).startswith("application/problem+json"):
        parsed = Problem.from_dict(answer.json())
    return Response(
        status_code=HTTPStatus(answer.status_code),
        content=answer.content,
        headers=answer.headers,
        parsed=parsed,
    )
