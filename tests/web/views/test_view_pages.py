"""The own views' pages over HTTP, on both backends: who may see them, what they show (the
numbers of the /v1 reports), and the engagement form (admins, CSRF, refusals in words)."""

from __future__ import annotations

import re

import pytest

from services.api.engagement.service import current_definition
from shared.sites import create_site
from tests.helpers.overt import Overt
from tests.helpers.people import consent_site, consented_subject, pricing_definition, visit
from tests.helpers.traffic import traffic
from tests.helpers.web import csrf_of, member, sign_in

pytestmark = pytest.mark.anyio

VIEWS = ("after-click", "funnels", "retention", "engagement", "consent", "contacts")


def views(site_id: str) -> list[str]:
    return [f"/app/sites/{site_id}/views/{name}" for name in VIEWS]


async def as_role(overt: Overt, role: str) -> None:
    await member(overt.resources.engine, f"{role}@example.com", overt.site.id, role=role)
    assert (await sign_in(overt.client, f"{role}@example.com")).status_code == 303


async def test_signed_out_every_view_asks_to_sign_in(overt: Overt) -> None:
    for path in views(overt.site.id):
        answer = await overt.client.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["location"] == "/app/login?next=" + path


async def test_a_viewer_sees_every_view_and_another_sites_are_not_there(overt: Overt) -> None:
    await traffic(overt)
    await as_role(overt, "viewer")
    for path in views(overt.site.id):
        page = await overt.client.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert "script-src 'nonce-" in page.headers["content-security-policy"]
        assert 'aria-current="page"' in page.text
    other = await create_site(engine=overt.resources.engine, domain="other.example")
    for path in views(other.id):
        assert (await overt.client.get(path)).status_code == 404, path


async def test_after_the_click_shows_the_reports_rows_lift_and_what_k_folded(
    overt: Overt,
) -> None:
    await traffic(overt)
    await as_role(overt, "viewer")
    page = await overt.client.get(f"/app/sites/{overt.site.id}/views/after-click?period=7d")
    text = page.text
    # Google: 6 visitors, all engaged (100.0 %), 5 of 6 converted; the site: 7 of 17 engaged.
    google = re.search(r"<th scope=\"row\">Google</th>(.*?)</tr>", text, re.S)
    assert google is not None
    cells = re.findall(r"<td class=\"num\">(.*?)</td>", google.group(1), re.S)
    assert cells[:2] == ["6", "6"]
    assert "100.0&#8239;%" in cells[2]
    assert f"{1 / (7 / 17):.2f}\N{MULTIPLICATION SIGN}" in cells[3]
    assert "2 groups smaller than 5 are left out" in text
    assert "engagement definition version 0" in text
    assert "Fewer than 5 consented people" in text


async def test_funnel_steps_typed_wrong_are_refused_in_words(overt: Overt) -> None:
    await as_role(overt, "viewer")
    path = f"/app/sites/{overt.site.id}/views/funnels"
    refused = await overt.client.get(path, params={"steps": "/\npricing"})
    assert refused.status_code == 422
    assert "Line 2: a step is a path starting with /" in refused.text
    shown = await overt.client.get(path, params={"steps": "/\ngoal: Signup", "period": "28d"})
    assert shown.status_code == 200
    assert "goal Signup" in shown.text


async def test_the_engagement_definition_is_stored_by_admins_with_the_forms_token(
    overt: Overt,
) -> None:
    path = f"/app/sites/{overt.site.id}/views/engagement"
    await as_role(overt, "viewer")
    page = await overt.client.get(path)
    assert "can read the definition; admins and owners can change it" in page.text
    form = {"csrf_token": csrf_of(page.text), "engaged_min_s": "20", "k": "7"}
    assert (await overt.client.post(path, data=form)).status_code == 403
    overt.client.cookies.clear()

    await as_role(overt, "admin")
    page = await overt.client.get(path)
    fields = dict(re.findall(r'name="([a-z_]+)" type="number"[^>]*value="([^"]*)"', page.text))
    fields["high_intent_pages"] = "/pricing*\n/demo"
    fields["engaged_min_s"] = "20"
    fields["k"] = "7"
    forged = await overt.client.post(path, data=fields)
    assert forged.status_code == 403
    refused = await overt.client.post(
        path, data={**fields, "k": "0", "csrf_token": csrf_of(page.text)}
    )
    assert refused.status_code == 422
    assert "greater than or equal to 1" in refused.text
    assert (await current_definition(overt.resources.engine, overt.site.id)).version == 0
    stored = await overt.client.post(path, data={**fields, "csrf_token": csrf_of(page.text)})
    assert stored.status_code == 303
    definition = await current_definition(overt.resources.engine, overt.site.id)
    assert (definition.version, definition.engaged_min_ms, definition.k) == (1, 20_000, 7)
    assert definition.high_intent_pages == ("/pricing*", "/demo")
    after = await overt.client.get(stored.headers["location"])
    assert "Saved as version 1" in after.text
    assert "answering now" in after.text


async def test_contacts_explain_an_empty_list_and_show_a_consented_one(overt: Overt) -> None:
    await as_role(overt, "viewer")
    path = f"/app/sites/{overt.site.id}/views/contacts"
    empty = await overt.client.get(path)
    assert "Nobody has consented to be identified yet." in empty.text
    site = await consent_site(overt)
    await pricing_definition(overt)
    subject = await consented_subject(overt, site, "Ada")
    await visit(overt, subject, "/pricing", "/pricing")
    listed = await overt.client.get(path)
    assert "1 consented contact" in listed.text
    assert f"/contacts/{subject.subject_id}" in listed.text
    detail = await overt.client.get(f"{path}/{subject.subject_id}")
    assert detail.status_code == 200
    assert "Why this score" in detail.text
    assert detail.text.count("example.com/pricing") == 2
    assert (await overt.client.get(f"{path}/{'0' * 32}")).status_code == 404


@pytest.mark.usefixtures("no_verifier")
async def test_consent_page_says_when_the_ledger_cannot_be_checked_here(overt: Overt) -> None:
    await consent_site(overt)
    await as_role(overt, "viewer")
    page = await overt.client.get(f"/app/sites/{overt.site.id}/views/consent")
    assert "Nobody answered the consent notice in these days." in page.text
    assert "overt ledger verify --site " + overt.site.id in page.text


@pytest.mark.usefixtures("verifier")
async def test_the_ledger_is_verified_when_asked_with_or_without_script(overt: Overt) -> None:
    """It reads every row, so not on every view of the page: a link (the whole page again,
    verified) that htmx turns into a fetch of the card alone."""
    site = await consent_site(overt)
    await consented_subject(overt, site, "Ada")
    await as_role(overt, "viewer")
    path = f"/app/sites/{overt.site.id}/views/consent"
    page = await overt.client.get(path, params={"period": "7d"})
    assert "Intact" not in page.text
    link = re.search(r'<a class="button secondary" href="([^"]+)" hx-get="([^"]+)"', page.text)
    assert link is not None
    assert link.group(1).replace("&amp;", "&") == f"{path}?period=7d&verify=1#ledger"
    verified = await overt.client.get(link.group(1).replace("&amp;", "&").split("#")[0])
    assert "Intact: " in verified.text
    card = await overt.client.get(link.group(2), headers={"HX-Request": "true"})
    assert card.status_code == 200
    assert card.text.startswith('<section class="card" id="ledger"')
    assert "signed checkpoints recomputed just now" in card.text
