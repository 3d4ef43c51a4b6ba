"""The numbers of Overt's own views are the API's: each view's data, on both backends, against
the /v1 endpoint that answers the same question (or, for consent, against the ledger rows
worked out by hand)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from services.api.engagement.schemas import DefinitionIn
from services.api.engagement.service import store_definition
from services.api.web.views.service import (
    after_click_view,
    consent_view,
    contacts_view,
    definition_history,
    funnel_view,
    parse_steps,
    retention_view,
    view_days,
)
from services.consent.rights.models import consent_requests
from shared.models import sessions
from tests.helpers.consent import as_attacker, post_decisions
from tests.helpers.overt import Overt
from tests.helpers.people import (
    auth,
    consent_site,
    consented_subject,
    erase,
    full_key,
    pricing_definition,
    visit,
)
from tests.helpers.traffic import agent, traffic

pytestmark = pytest.mark.anyio
TIMEOUT = 10.0


async def v1(overt: Overt, path: str, **body: Any) -> Any:
    key = await full_key(overt)
    response = await overt.client.post(f"/v1/{path}", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def test_after_the_click_is_the_reports_with_lift_against_the_sites_own_rates(
    overt: Overt,
) -> None:
    await traffic(overt)
    days = await view_days(engine=overt.resources.engine, site_id=overt.site.id, period="7d")
    assert (days.last - days.first).days == 6
    view = await after_click_view(
        engine=overt.resources.engine,
        site_id=overt.site.id,
        days=days,
        by="source",
        timeout_s=TIMEOUT,
    )
    date_range = [days.first.isoformat(), days.last.isoformat()]
    api = await v1(overt, "reports/after-the-click", site_id=overt.site.id, date_range=date_range)
    assert view.report.model_dump(mode="json") == api
    totals = await v1(
        overt,
        "query",
        site_id=overt.site.id,
        date_range=date_range,
        metrics=["engagement_rate", "conversion_rate"],
    )
    engagement, conversion = totals["results"][0]["metrics"]
    assert (view.site_engagement_rate, view.site_conversion_rate) == (engagement, conversion)
    # 17 visitors, 7 engaged sessions of 17 (6 Google, b0); 5 Signups of 17 sessions.
    assert engagement == round(7 / 17, 4)
    google = next(i for i, row in enumerate(view.report.rows) if row.value == "Google")
    assert view.lifts[google].engagement == round(1.0 / engagement, 2)
    assert view.lifts[google].conversion == round(round(5 / 6, 4) / conversion, 2)
    outcomes = await v1(overt, "reports/outcomes", site_id=overt.site.id, date_range=date_range)
    assert view.outcomes.model_dump(mode="json") == outcomes


async def test_funnel_and_retention_are_the_reports(overt: Overt) -> None:
    await traffic(overt)
    engine = overt.resources.engine
    days = await view_days(engine=engine, site_id=overt.site.id, period="nonsense")
    assert days.period == "30d"
    steps = parse_steps("/\n\n  /pric*  \ngoal:   Signup\n")
    view = await funnel_view(
        engine=engine, site_id=overt.site.id, days=days, steps=steps, timeout_s=TIMEOUT
    )
    date_range = [days.first.isoformat(), days.last.isoformat()]
    api = await v1(
        overt,
        "reports/funnel",
        site_id=overt.site.id,
        date_range=date_range,
        steps=[{"page": "/"}, {"page": "/pric*"}, {"goal": "Signup"}],
    )
    assert view.funnel.model_dump(mode="json") == api
    assert [s.sessions for s in view.funnel.steps] == [6, 0, 0]  # b0..b5 start at /
    assert view.definition_version == 0

    monday = datetime.now(UTC) - timedelta(days=datetime.now(UTC).weekday(), hours=1)
    rows = [
        {
            "session_id": uuid.uuid4(),
            "site_id": overt.site.id,
            "visitor_hash": n,
            "started_at": monday - timedelta(days=7 * weeks_ago),
            "last_seen_at": monday - timedelta(days=7 * weeks_ago),
            "entry_path": "/",
            "exit_path": "/",
            "analytics_id": analytics_id,
        }
        for n, (analytics_id, weeks_ago) in enumerate(
            [("a", 2), ("b", 2), ("c", 2), ("d", 2), ("a", 1), ("b", 1), ("a", 0), ("e", 1)]
        )
    ]
    async with engine.begin() as conn:
        await conn.execute(insert(sessions), rows)
    days = await view_days(engine=engine, site_id=overt.site.id, period="28d")
    kept = await retention_view(engine=engine, site_id=overt.site.id, days=days, timeout_s=TIMEOUT)
    api = await v1(
        overt,
        "reports/retention",
        site_id=overt.site.id,
        date_range=[days.first.isoformat(), days.last.isoformat()],
    )
    assert kept.retention.model_dump(mode="json") == api
    cohorts = {c.week: (c.visitors, c.returned) for c in kept.retention.cohorts}
    assert sorted(cohorts.values(), key=lambda c: -c[0])[0] == (4, [4, 2, 1])
    first = max(range(len(kept.rates)), key=lambda i: kept.retention.cohorts[i].visitors)
    assert kept.rates[first] == [1.0, 0.5, 0.25]


async def test_definition_history_lists_every_version_as_the_api_reads_it(overt: Overt) -> None:
    engine = overt.resources.engine
    assert [d.version for d in await definition_history(engine=engine, site_id=overt.site.id)] == [
        0
    ]
    await store_definition(engine=engine, site_id=overt.site.id, body=DefinitionIn(k=7))
    await store_definition(
        engine=engine, site_id=overt.site.id, body=DefinitionIn(engaged_min_ms=30_000)
    )
    history = await definition_history(engine=engine, site_id=overt.site.id)
    assert [d.version for d in history] == [2, 1, 0]
    key = await full_key(overt)
    for definition in history:
        response = await overt.client.get(
            f"/v1/sites/{overt.site.id}/definitions",
            params={"version": definition.version},
            headers=auth(key),
        )
        assert definition.model_dump(mode="json") == response.json()
    assert (history[0].engaged_min_ms, history[1].k) == (30_000, 7)


@pytest.mark.usefixtures("verifier")
async def test_consent_rates_gpc_share_requests_and_ledger(overt: Overt) -> None:
    """s1 grants analytics and identification; s2 analytics only, refusing identification;
    s3 grants both with Sec-GPC: 1, which refuses identification (and marketing contact) as
    a GPC opt-out; s2 then changes its mind on identification (its latest decision counts),
    and s1 erases itself (a GDPR erasure, done at once, due a month after it was asked)."""
    site = await consent_site(overt)
    engine = overt.resources.engine
    s1 = await consented_subject(overt, site, "s1", analytics=True)
    s2 = await post_decisions(overt, site, None, analytics=True, identification=False)
    assert s2.status_code == 201
    gpc = await overt.client.post(
        f"/consent/sites/{site.id}/decisions",
        json={"choices": {"analytics": True, "identification": True}},
        headers={"sec-gpc": "1"},
    )
    assert gpc.status_code == 201
    again = await post_decisions(overt, site, s2.json()["credential"], identification=True)
    assert again.status_code == 200, again.text
    await erase(overt, site, s1)

    days = await view_days(engine=engine, site_id=site.id, period="7d")
    view = await consent_view(
        engine=engine, secret=overt.resources.settings.secret(), site_id=site.id, days=days
    )
    rates = {(r.purpose, r.notice_version): (r.given, r.refused, r.gpc_refused) for r in view.rates}
    assert rates[("analytics", 1)] == (3, 0, 0)
    assert rates[("identification", 1)] == (2, 1, 1)  # s1, s2 (changed its mind); s3 by GPC
    assert rates[("marketing_contact", 1)][2] == 1
    identification = next(r for r in view.rates if r.purpose == "identification")
    assert identification.opt_in_rate == pytest.approx(2 / 3)
    assert identification.refusal_rate == pytest.approx(1 / 3)
    assert (view.gpc.subjects, view.gpc.with_gpc) == (3, 1)
    assert [(r.kind, r.regime) for r in view.requests] == [("erasure", "gdpr")]
    request = view.requests[0]
    assert request.completed_at is not None
    assert not request.overdue(view.now)
    assert 28 <= (request.due_at - request.received_at).days <= 31
    assert (view.open_requests, view.overdue_requests) == (0, 0)
    assert view.ledger is not None
    assert view.ledger.intact
    assert view.ledger.rows >= 8

    # An open request past its deadline, and a ledger row edited behind the service's back.
    past = datetime.now(UTC) - timedelta(days=40)
    async with engine.begin() as conn:
        await conn.execute(
            insert(consent_requests).values(
                request_id="r" * 32,
                site_id=site.id,
                subject_id="x" * 32,
                kind="export",
                regime="gdpr",
                received_at=past,
                due_at=past + timedelta(days=30),
            )
        )
    async with as_attacker(engine) as conn:
        await conn.execute(
            text("UPDATE consent_ledger SET purpose = 'tampered' WHERE site_id = :s AND seq = 2"),
            {"s": site.id},
        )
    view = await consent_view(
        engine=engine, secret=overt.resources.settings.secret(), site_id=site.id, days=days
    )
    assert view.requests[0].kind == "export"
    assert view.requests[0].overdue(view.now)
    assert (view.open_requests, view.overdue_requests) == (1, 1)
    assert view.ledger is not None
    assert not view.ledger.intact
    assert any("row 2" in problem for problem in view.ledger.problems)


@pytest.mark.usefixtures("no_verifier")
async def test_consent_view_says_when_no_verifier_is_composed(overt: Overt) -> None:
    site = await consent_site(overt)
    days = await view_days(engine=overt.resources.engine, site_id=site.id, period="7d")
    view = await consent_view(
        engine=overt.resources.engine,
        secret=overt.resources.settings.secret(),
        site_id=site.id,
        days=days,
    )
    assert view.ledger is None
    assert (view.rates, view.gpc.subjects, view.gpc.share, view.requests) == ([], 0, None, [])


async def test_contacts_are_the_apis_and_nobody_consented_is_said(overt: Overt) -> None:
    site = await consent_site(overt)
    engine, secret = overt.resources.engine, overt.resources.settings.secret()
    empty = await contacts_view(engine=engine, secret=secret, site_id=site.id)
    assert (empty.contacts, empty.consented) == ([], 0)
    await pricing_definition(overt)
    alice = await consented_subject(overt, site, "Alice")
    bob = await consented_subject(overt, site, "Bob")
    await visit(overt, alice, "/pricing", "/docs", "/pricing")
    await visit(overt, bob, "/")
    await overt.send(overt.event(u="https://example.com/pricing"), **agent("anonymous"))
    await overt.drained()
    view = await contacts_view(engine=engine, secret=secret, site_id=site.id)
    key = await full_key(overt)
    api = await overt.client.get(f"/v1/sites/{site.id}/contacts", headers=auth(key))
    assert [c.model_dump(mode="json") for c in view.contacts] == api.json()["contacts"]
    assert view.definition_version == api.json()["definition_version"] == 1
    assert [c.subject_id for c in view.contacts] == [alice.subject_id, bob.subject_id]
    assert view.consented == 2
