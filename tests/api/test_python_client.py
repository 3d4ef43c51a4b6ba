"""The typed Python client (clients/python, generated from the API's OpenAPI document): the
committed package is what the generator makes of today's API, and it works against a real
`overt up` over TCP on both backends: an outcome recorded, a query, a report, the contacts
and the webhook subscriptions, and a refusal parsed as a problem.

The server is seeded as an operator and a site would seed it: the site and key through its
CLI, the visitor's consent, name and pageviews through its HTTP API."""

from __future__ import annotations

import asyncio
import filecmp
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from overt_client import AuthenticatedClient
from overt_client.api.contacts import list_contacts
from overt_client.api.outcomes import record_outcome, report_outcomes
from overt_client.api.stats import query
from overt_client.api.webhooks import create_webhook, list_webhooks
from overt_client.events import ServerEvent, send_events, send_events_sync
from overt_client.models import (
    Metric,
    OutcomeIn,
    OutcomeKind,
    OutcomeOut,
    OutcomeReport,
    OutcomeReportIn,
    Problem,
    QueryIn,
    QueryInDateRangeType1,
    QueryOut,
    WebhookEvent,
    WebhookIn,
)
from overt_client.types import Response

from services.consent.verification.service import sign_assertion
from shared.keys import KeyScope
from shared.settings import Settings
from tests.helpers.backends import BACKENDS, make_settings
from tests.helpers.browser import Server, overt_up
from tests.helpers.pages import wait_events

CLIENTS = Path(__file__).parents[2] / "clients" / "python"
HAND_KEPT = ["events.py"]  # generate.py keeps them; the generator does not make them
DOMAIN = "example.com"
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ, or are only on one side, between two trees (caches aside)."""
    compared = filecmp.dircmp(left, right, ignore=["__pycache__", *HAND_KEPT])
    found = [str(left / name) for name in compared.left_only + compared.right_only]
    found += [str(left / name) for name in compared.diff_files]
    for name in compared.common_dirs:
        found += differences(left / name, right / name)
    return found


def test_regenerating_the_client_gives_the_committed_package(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(CLIENTS / "generate.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    made = tmp_path / "overt_client"
    assert (made / "api" / "stats" / "query.py").is_file()
    assert differences(CLIENTS / "overt_client", made) == []


@dataclass(frozen=True)
class Seeded:
    """A running `overt up` with a site (example.com) and a key with every scope."""

    server: Server
    site_id: str
    key: str


@pytest.fixture(scope="module", params=BACKENDS)
def module_settings(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: Path,
    pg_database: str | None,
) -> Iterator[tuple[Settings, Path]]:
    """A backend for the whole module, and a directory for its server's log."""
    where = tmp_path_factory.mktemp("client")
    backend = make_settings(request.param, where, sqlite_template, pg_database)
    settings = next(backend)
    try:
        yield settings, where
    finally:
        next(backend, None)  # the backend's cleanup (Redis keys)


@pytest.fixture(scope="module")
async def seeded(module_settings: tuple[Settings, Path]) -> AsyncIterator[Seeded]:
    """One server per backend for the module; loopback webhook receivers allowed."""
    settings, where = module_settings
    async with overt_up(settings, where, webhook_allow_private="true") as server:
        site_id = server.cli("site", "add", DOMAIN)["id"]
        scopes = [scope.value for scope in KeyScope]
        key = server.cli("key", "create", "--site", site_id, "--scope", *scopes)["key"]
        yield Seeded(server=server, site_id=site_id, key=key)


def client_of(seeded: Seeded, key: str) -> AuthenticatedClient:
    """The client as a tool would make it: the server's URL and a key."""
    return AuthenticatedClient(base_url=seeded.server.base_url, token=key)


async def consented_subject(api: httpx.AsyncClient, site_id: str) -> tuple[str, str]:
    """A visitor who gave identification consent through the consent API: subject, token."""
    granted = await api.post(
        f"/consent/sites/{site_id}/decisions",
        json={"choices": {"identification": True}, "method": "api", "jurisdiction": "EU"},
    )
    assert granted.status_code == 201, granted.text
    body = granted.json()
    return body["subject_id"], body["token"]


async def name_subject(api: httpx.AsyncClient, seeded: Seeded, subject_id: str) -> None:
    """The site's backend asserts who the subject is, signed with the secret the CLI prints."""
    issued_at = int(time.time())
    fields = {"subject_id": subject_id, "kind": "email", "value": "ada@example.com"}
    signature = sign_assertion(
        assertion_secret=await seeded.server.assertion_secret(seeded.site_id),
        site_id=seeded.site_id,
        issued_at=issued_at,
        display_name=None,
        **fields,
    )
    asserted = await api.post(
        f"/consent/sites/{seeded.site_id}/identity/assert",
        json={**fields, "issued_at": issued_at, "signature": signature},
    )
    assert asserted.status_code == 200, asserted.text


async def visit(api: httpx.AsyncClient, site_id: str, token: str, *paths: str) -> None:
    """Pageviews through the collector's /e, linked to the subject by its consent token, a
    millisecond apart by client time."""
    start = int(time.time() * 1000) - len(paths)
    for offset, path in enumerate(paths):
        event = {
            "s": site_id,
            "n": "pageview",
            "u": f"https://{DOMAIN}{path}",
            "r": None,
            "i": uuid.uuid4().hex,
            "k": token,
            "t": start + offset,
        }
        sent = await api.post(
            "/e",
            content=json.dumps(event),
            headers={"user-agent": AGENT, "content-type": "text/plain"},
        )
        assert sent.status_code == 202, sent.text


@pytest.mark.anyio
async def test_the_client_against_a_running_overt(seeded: Seeded) -> None:
    site_id = seeded.site_id
    async with httpx.AsyncClient(base_url=seeded.server.base_url) as api:
        subject_id, token = await consented_subject(api, site_id)
        await name_subject(api, seeded, subject_id)
        await visit(api, site_id, token, "/", "/pricing", "/pricing")
    stored = await wait_events(seeded.server, site_id, "pageview", 3)
    assert [row.subject_id for row in stored] == [subject_id] * 3
    async with (
        client_of(seeded, seeded.key) as client,
        client_of(seeded, "ovk_not_a_key") as stranger,
    ):
        today = datetime.now(UTC).date()

        recorded = await record_outcome.asyncio_detailed(
            site_id,
            client=client,
            body=OutcomeIn(
                id="deal-4711",
                kind=OutcomeKind.DEAL_WON,
                subject_id=subject_id,
                amount="1200.00",
                currency="EUR",
            ),
        )
        assert recorded.status_code == 201
        assert isinstance(recorded.parsed, OutcomeOut)
        assert recorded.parsed.kind is OutcomeKind.DEAL_WON
        assert recorded.parsed.amount is not None
        assert Decimal(recorded.parsed.amount) == Decimal("1200.00")

        answer = await query.asyncio(
            client=client,
            body=QueryIn(
                site_id=site_id,
                metrics=[Metric.VISITORS, Metric.PAGEVIEWS],
                date_range=QueryInDateRangeType1.DAY,
            ),
        )
        assert isinstance(answer, QueryOut)
        assert answer.results == [{"dimensions": [], "metrics": [1, 3]}]
        assert answer.query.site_id == site_id

        report = await report_outcomes.asyncio(
            client=client, body=OutcomeReportIn(site_id=site_id, date_range=[today, today])
        )
        assert isinstance(report, OutcomeReport)
        assert report.date_range == [today, today]
        assert report.k == 5
        assert report.subjects is None  # one subject: fewer than k, so withheld
        assert [band.suppressed for band in report.score_bands] == [True] * 4

        contacts = await list_contacts.asyncio(site_id, client=client)
        assert contacts is not None
        assert not isinstance(contacts, Problem)
        assert [contact.subject_id for contact in contacts.contacts] == [subject_id]
        assert contacts.contacts[0].summary.pageviews == 3

        made = await create_webhook.asyncio(
            site_id,
            client=client,
            body=WebhookIn(
                url="http://127.0.0.1:9/hooks/overt",
                events=[WebhookEvent.CONTACT_INTENT_THRESHOLD_CROSSED],
            ),
        )
        assert made is not None
        assert not isinstance(made, Problem)
        hooks = await list_webhooks.asyncio(site_id, client=client)
        assert hooks is not None
        assert not isinstance(hooks, Problem)
        assert [(hook.id, hook.url) for hook in hooks.webhooks] == [
            (made.id, "http://127.0.0.1:9/hooks/overt")
        ]

        refused = await list_webhooks.asyncio_detailed(site_id, client=stranger)
        assert refused.status_code == 401
        assert isinstance(refused.parsed, Problem)
        assert refused.parsed.type_.endswith("/invalid-api-key")


def send_elsewhere(seeded: Seeded) -> Response[Problem]:
    """The blocking call: an event whose URL is not the site's, refused."""
    elsewhere = ServerEvent(name="signup", url="https://elsewhere.example/", domain=DOMAIN)
    with client_of(seeded, seeded.key) as client:
        return send_events_sync(client=client, events=[elsewhere])


@pytest.mark.anyio
async def test_a_backend_sends_events_with_the_client(seeded: Seeded) -> None:
    """`send_events` (and `send_events_sync`) post to the collector's /api/event with the key
    (scope events:write): a batch stored once however often it is sent, and a refusal parsed
    as a problem."""
    signup = ServerEvent(
        name="signup",
        url=f"https://{DOMAIN}/welcome",
        domain=DOMAIN,
        props={"plan": "team", "seats": 3},
        id=uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        ip="198.51.100.7",
        user_agent=AGENT,
    )
    async with client_of(seeded, seeded.key) as client:
        for _ in range(2):  # a retry: the same id, stored once
            sent = await send_events(client=client, events=[signup])
            assert sent.status_code == 202, sent.content
            assert sent.content == b"ok"
            assert sent.parsed is None
        stored = await wait_events(seeded.server, seeded.site_id, "signup")
        assert [(row.name, row.path) for row in stored] == [("signup", "/welcome")]

        refused = await asyncio.to_thread(send_elsewhere, seeded)
        assert 400 <= refused.status_code < 500
        assert isinstance(refused.parsed, Problem)
        assert refused.parsed.status == refused.status_code
