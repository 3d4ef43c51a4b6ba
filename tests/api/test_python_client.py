"""The typed Python client (clients/python, generated from the API's OpenAPI document): the
committed package is what the generator makes of today's API, and it works against a
running Overt on both backends: an outcome recorded, a query, a report, the contacts and
the webhook subscriptions, and a refusal parsed as a problem."""

from __future__ import annotations

import filecmp
import subprocess
import sys
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

from shared.app import asgi_app
from shared.settings import Settings
from tests.helpers.overt import Overt, overt_with
from tests.helpers.people import consent_site, consented_subject, full_key, name_subject, visit

CLIENTS = Path(__file__).parents[2] / "clients" / "python"


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ, or are only on one side, between two trees (caches aside)."""
    compared = filecmp.dircmp(left, right, ignore=["__pycache__"])
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


def client_of(overt: Overt, key: str) -> AuthenticatedClient:
    """The client as a tool would make it, its HTTP going to the app under test."""
    client = AuthenticatedClient(base_url="http://overt.test", token=key)
    transport = httpx.ASGITransport(app=asgi_app(overt.app), client=("203.0.113.9", 50000))
    return client.set_async_httpx_client(
        httpx.AsyncClient(
            transport=transport,
            base_url="http://overt.test",
            headers={"Authorization": f"Bearer {key}"},
        )
    )


@pytest.mark.anyio
async def test_the_client_against_a_running_overt(settings: Settings) -> None:
    async with overt_with(settings, webhook_allow_private=True) as overt:
        site = await consent_site(overt)
        key = await full_key(overt)
        subject = await consented_subject(overt, site, "ada")
        await name_subject(overt, site, subject, "ada@example.com")
        await visit(overt, subject, "/", "/pricing", "/pricing")
        client = client_of(overt, key)
        today = datetime.now(UTC).date()

        recorded = await record_outcome.asyncio_detailed(
            site.id,
            client=client,
            body=OutcomeIn(
                id="deal-4711",
                kind=OutcomeKind.DEAL_WON,
                subject_id=subject.subject_id,
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
                site_id=site.id,
                metrics=[Metric.VISITORS, Metric.PAGEVIEWS],
                date_range=QueryInDateRangeType1.DAY,
            ),
        )
        assert isinstance(answer, QueryOut)
        assert answer.results == [{"dimensions": [], "metrics": [1, 3]}]
        assert answer.query.site_id == site.id

        report = await report_outcomes.asyncio(
            client=client, body=OutcomeReportIn(site_id=site.id, date_range=[today, today])
        )
        assert isinstance(report, OutcomeReport)
        assert report.date_range == [today, today]
        assert report.k == 5
        assert report.subjects is None  # one subject: fewer than k, so withheld
        assert [band.suppressed for band in report.score_bands] == [True] * 4

        contacts = await list_contacts.asyncio(site.id, client=client)
        assert contacts is not None
        assert not isinstance(contacts, Problem)
        assert [contact.subject_id for contact in contacts.contacts] == [subject.subject_id]
        assert contacts.contacts[0].summary.pageviews == 3

        made = await create_webhook.asyncio(
            site.id,
            client=client,
            body=WebhookIn(
                url="http://127.0.0.1:9/hooks/overt",
                events=[WebhookEvent.CONTACT_INTENT_THRESHOLD_CROSSED],
            ),
        )
        assert made is not None
        assert not isinstance(made, Problem)
        hooks = await list_webhooks.asyncio(site.id, client=client)
        assert hooks is not None
        assert not isinstance(hooks, Problem)
        assert [(hook.id, hook.url) for hook in hooks.webhooks] == [
            (made.id, "http://127.0.0.1:9/hooks/overt")
        ]

        refused = await list_webhooks.asyncio_detailed(
            site.id, client=client_of(overt, "ovk_not_a_key")
        )
        assert refused.status_code == 401
        assert isinstance(refused.parsed, Problem)
        assert refused.parsed.type_.endswith("/invalid-api-key")
