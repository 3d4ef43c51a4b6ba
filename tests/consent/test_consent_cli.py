"""`overt consent secret` and `overt consent requests`, on both backends."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from services.cli import main
from services.consent.verification.service import sign_assertion
from shared.sites import Site
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio


async def test_secret_printed_by_the_cli_signs_valid_assertions(
    overt: Overt, site: Site, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["consent", "secret", "--site", site.id]) == 0
    secret_hex = capsys.readouterr().out.strip()
    assert len(secret_hex) == 64
    decided = (
        await overt.client.post(
            f"/consent/sites/{site.id}/decisions", json={"choices": {"identification": True}}
        )
    ).json()
    issued = int(time.time())
    signature = sign_assertion(
        assertion_secret=bytes.fromhex(secret_hex),
        site_id=site.id,
        subject_id=decided["subject_id"],
        kind="external_id",
        value="crm-42",
        issued_at=issued,
    )
    response = await overt.client.post(
        f"/consent/sites/{site.id}/identity/assert",
        json={
            "subject_id": decided["subject_id"],
            "kind": "external_id",
            "value": "crm-42",
            "issued_at": issued,
            "signature": signature,
        },
    )
    assert response.status_code == 200, response.text
    assert await asyncio.to_thread(main, ["consent", "secret", "--site", "nope"]) == 1


async def test_requests_are_listed_with_deadlines(
    overt: Overt, site: Site, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    decided = (
        await overt.client.post(
            f"/consent/sites/{site.id}/decisions", json={"choices": {"analytics": True}}
        )
    ).json()
    auth = {"authorization": f"Bearer {decided['credential']}"}
    assert (await overt.client.get(f"/consent/sites/{site.id}/export", headers=auth)).is_success
    assert (
        await overt.client.post(f"/consent/sites/{site.id}/erase?regime=ccpa", headers=auth)
    ).is_success
    capsys.readouterr()
    argv = ["consent", "requests", "--site", site.id, "--json"]
    assert await asyncio.to_thread(main, argv) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["regime"]) for r in listed] == [("export", "gdpr"), ("erasure", "ccpa")]
    assert all(r["completed_at"] and not r["overdue"] for r in listed)
    assert await asyncio.to_thread(main, ["consent", "requests", "--site", site.id]) == 0
    assert "erasure" in capsys.readouterr().out


async def test_cli_publishes_a_notice_that_asks_again_only_what_changed(
    overt: Overt, site: Site, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    decided = (
        await overt.client.post(
            f"/consent/sites/{site.id}/decisions",
            json={"choices": {"analytics": True, "identification": True}},
        )
    ).json()
    argv = ["consent", "notice", "--site", site.id, "--text", "analytics=New words."]
    capsys.readouterr()
    assert await asyncio.to_thread(main, argv) == 0
    assert "notice version 2 published; asked again: analytics" in capsys.readouterr().out
    state = await overt.client.get(
        f"/consent/sites/{site.id}/state",
        headers={"authorization": f"Bearer {decided['credential']}"},
    )
    purposes = {p["purpose"]: p for p in state.json()["purposes"]}
    assert state.json()["notice_version"] == 2
    assert purposes["analytics"]["ask"] is True
    assert purposes["analytics"]["description"] == "New words."
    assert purposes["identification"]["granted"] is True
    bad = ["consent", "notice", "--site", site.id, "--text", "telepathy=Hi."]
    assert await asyncio.to_thread(main, bad) == 1
    assert "telepathy" in capsys.readouterr().err


async def test_cli_sets_a_lifetime_within_the_cap(
    overt: Overt, site: Site, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["consent", "lifetime", "--site", site.id, "--purpose", "analytics"]
    capsys.readouterr()
    assert await asyncio.to_thread(main, [*base, "--days", "180", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"purpose": "analytics", "lifetime_days": 180}
    assert await asyncio.to_thread(main, [*base, "--days", "400"]) == 1
    assert "1 to 395 days" in capsys.readouterr().err
    purposes = (await overt.client.get(f"/consent/sites/{site.id}/purposes")).json()["purposes"]
    assert purposes[0]["lifetime_days"] == 180
