"""The reports page over HTTP, on both backends: each user's own choices (any role), the
alert rule (admins only), CSRF on both forms."""

from __future__ import annotations

import pytest

from services.api.web.reports.service import alert_rule, user_choices
from tests.helpers.overt import Overt
from tests.helpers.web import csrf_of, member, sign_in

pytestmark = pytest.mark.anyio


async def test_a_viewer_chooses_reports_but_not_the_alert_rule(overt: Overt) -> None:
    engine, site_id = overt.resources.engine, overt.site.id
    user_id = await member(engine, "viewer@example.com", site_id, role="viewer")
    await sign_in(overt.client, "viewer@example.com")
    path = f"/app/sites/{site_id}/reports"
    page = await overt.client.get(path)
    assert page.status_code == 200
    assert "No mail server is set" in page.text
    token = csrf_of(page.text)
    assert (await overt.client.post(path, data={"weekly": "on"})).status_code == 403
    chosen = await overt.client.post(path, data={"csrf_token": token, "weekly": "on"})
    assert chosen.status_code == 303
    choices = await user_choices(engine=engine, site_id=site_id, user_id=user_id)
    assert (choices.weekly, choices.monthly, choices.alerts) == (True, False, False)
    rule = {"csrf_token": token, "change_pct": "30", "min_visitors": "10"}
    assert (await overt.client.post(path + "/alerts", data=rule)).status_code == 403
    none = await overt.client.post(path, data={"csrf_token": token})
    assert none.status_code == 303
    assert (await user_choices(engine=engine, site_id=site_id, user_id=user_id)).weekly is False


async def test_an_admin_sets_the_rule_and_a_bad_one_is_refused_in_words(overt: Overt) -> None:
    engine, site_id = overt.resources.engine, overt.site.id
    await member(engine, "admin@example.com", site_id, role="admin")
    await sign_in(overt.client, "admin@example.com")
    path = f"/app/sites/{site_id}/reports/alerts"
    token = csrf_of((await overt.client.get(f"/app/sites/{site_id}/reports")).text)
    bad = await overt.client.post(
        path,
        data={
            "csrf_token": token,
            "change_pct": "5",
            "min_visitors": "10",
            "slack_url": "http://hooks",
        },
    )
    assert bad.status_code == 422
    assert "Enter a whole percentage from 10 to 1000." in bad.text
    assert "https URL" in bad.text
    good = await overt.client.post(
        path, data={"csrf_token": token, "change_pct": "30", "min_visitors": "10"}
    )
    assert good.status_code == 303
    stored = await alert_rule(engine=engine, site_id=site_id)
    assert (stored.change_pct, stored.min_visitors, stored.slack_url) == (30, 10, None)
