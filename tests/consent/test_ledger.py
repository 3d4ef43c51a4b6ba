"""Purposes, notices and the hash-chained ledger, on both backends; tampering is caught."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

from services.cli import main
from services.consent.crypto import sha256_hex
from services.consent.decisions.service import record_decisions
from services.consent.expiry.service import expire_all, expire_consents
from services.consent.keys.models import consent_site_keys
from services.consent.ledger.models import consent_checkpoints, consent_ledger
from services.consent.ledger.service import Method, ledger_sites, row_hash, verify_site
from services.consent.notices.exceptions import UnknownPurpose
from services.consent.notices.service import (
    DEFAULT_PURPOSES,
    get_notice,
    publish_notice,
    set_lifetime,
)
from services.consent.sites.service import ensure_site
from services.consent.state.service import consent_state
from services.consent.subjects.service import create_subject
from shared.consent_state import LedgerEvent
from shared.runtime import open_resources
from shared.settings import Settings
from shared.sites import Site, create_site
from tests.helpers.backends import empty_postgres
from tests.helpers.consent import as_attacker
from tests.helpers.overt import Overt

pytestmark = pytest.mark.anyio


async def decide(overt: Overt, site: Site, subject_id: str, **choices: bool) -> None:
    await record_decisions(
        resources=overt.resources,
        site=site,
        subject_id=subject_id,
        choices=choices,
        method=Method.api,
    )


async def verify(overt: Overt, site: Site) -> list[str]:
    report = await verify_site(
        engine=overt.resources.engine, secret=overt.resources.settings.secret(), site_id=site.id
    )
    return report.problems


async def ledger_rows(overt: Overt, site: Site) -> int:
    async with overt.resources.engine.connect() as conn:
        return int(
            (
                await conn.execute(select(func.count()).where(consent_ledger.c.site_id == site.id))
            ).scalar_one()
        )


async def test_default_purposes_have_text_hash_dpv_and_consent_mode(
    overt: Overt, site: Site
) -> None:
    notice = await get_notice(engine=overt.resources.engine, site_id=site.id)
    assert notice.version == 1
    assert [p.purpose for p in notice.purposes] == [
        "analytics",
        "identification",
        "marketing_contact",
    ]
    by_name = {p.purpose: p for p in notice.purposes}
    for definition in DEFAULT_PURPOSES:
        purpose = by_name[definition.purpose]
        assert purpose.text_hash == sha256_hex(purpose.text)
        assert purpose.dpv_term.startswith("dpv:")
        assert purpose.consent_mode
    assert by_name["analytics"].consent_mode == ("analytics_storage",)
    assert by_name["identification"].gpc_opt_out
    assert not by_name["analytics"].gpc_opt_out


async def test_new_notice_asks_again_only_for_changed_text(overt: Overt, site: Site) -> None:
    engine = overt.resources.engine
    subject = await create_subject(engine=engine, site_id=site.id)
    await decide(overt, site, subject.subject_id, analytics=True, identification=True)
    notice = await get_notice(engine=engine, site_id=site.id)
    change = await publish_notice(
        engine=engine,
        site_id=site.id,
        texts={
            "identification": "We now also link your visits to your company.",
            "analytics": notice.purpose("analytics").text,  # same words: not a change
        },
    )
    assert change.version == 2
    assert change.changed == ["identification"]
    states = {
        s.purpose.purpose: s
        for s in await consent_state(engine=engine, site_id=site.id, subject_id=subject.subject_id)
    }
    assert states["analytics"].granted
    assert not states["analytics"].ask
    assert not states["identification"].granted
    assert states["identification"].ask
    assert states["marketing_contact"].ask
    assert states["marketing_contact"].status is None
    # The old text is kept: version 1 still reads as it was shown.
    first = await get_notice(engine=engine, site_id=site.id, version=1)
    assert first.purpose("identification").text == notice.purpose("identification").text


async def test_every_event_type_is_chained_and_verifies(overt: Overt, site: Site) -> None:
    engine = overt.resources.engine
    a = await create_subject(engine=engine, site_id=site.id)
    b = await create_subject(engine=engine, site_id=site.id)
    await decide(overt, site, a.subject_id, analytics=True, identification=True)
    await decide(overt, site, a.subject_id, identification=False)  # withdrawn
    await decide(overt, site, b.subject_id, marketing_contact=False)  # refused
    await record_decisions(
        resources=overt.resources,
        site=site,
        subject_id=b.subject_id,
        choices={"identification": True},
        method=Method.widget,
        gpc=True,
    )
    later = datetime.now(UTC) + timedelta(days=400)
    assert await expire_consents(resources=overt.resources, site_id=site.id, now=later) == 1
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(consent_ledger)
                .where(consent_ledger.c.site_id == site.id)
                .order_by(consent_ledger.c.seq)
            )
        ).all()
    events = [(row.subject_id, row.purpose, row.event, row.method) for row in rows]
    assert events == [
        (a.subject_id, "analytics", "given", "api"),
        (a.subject_id, "identification", "given", "api"),
        (a.subject_id, "identification", "withdrawn", "api"),
        (b.subject_id, "marketing_contact", "refused", "api"),
        (b.subject_id, "identification", "gpc_opt_out", "gpc"),
        (b.subject_id, "marketing_contact", "gpc_opt_out", "gpc"),
        (a.subject_id, "analytics", "expired", "system"),
    ]
    assert [row.seq for row in rows] == list(range(1, 8))
    assert rows[0].prev_hash == "0" * 64
    assert all(rows[i].prev_hash == rows[i - 1].row_hash for i in range(1, len(rows)))
    notice = await get_notice(engine=engine, site_id=site.id)
    assert rows[0].notice_version == 1
    assert rows[0].notice_hash == notice.purpose("analytics").text_hash
    assert rows[0].expires_at is not None
    assert rows[2].expires_at is None
    assert await verify(overt, site) == []


async def test_database_refuses_update_and_delete_of_ledger_rows(overt: Overt, site: Site) -> None:
    engine = overt.resources.engine
    subject = await create_subject(engine=engine, site_id=site.id)
    await decide(overt, site, subject.subject_id, analytics=True)
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(update(consent_ledger).values(event="refused"))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(delete(consent_ledger))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(delete(consent_checkpoints))
    assert await ledger_rows(overt, site) == 1
    assert await verify(overt, site) == []


async def _three_rows(overt: Overt, site: Site) -> None:
    engine = overt.resources.engine
    for choice in (True, False, True):
        one = await create_subject(engine=engine, site_id=site.id)
        await decide(overt, site, one.subject_id, analytics=choice)
    assert await ledger_rows(overt, site) == 3


async def test_edited_row_is_named(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            update(consent_ledger)
            .where(consent_ledger.c.site_id == site.id, consent_ledger.c.seq == 2)
            .values(event=LedgerEvent.given.value)
        )
    problems = await verify(overt, site)
    assert problems
    assert f"site {site.id} row 2 " in problems[0]
    assert "edited" in problems[0]


async def test_deleted_row_is_named(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            delete(consent_ledger).where(
                consent_ledger.c.site_id == site.id, consent_ledger.c.seq == 2
            )
        )
    problems = await verify(overt, site)
    assert problems
    assert f"site {site.id} row 2 missing" in problems[0]


async def test_deleted_last_row_is_named(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            delete(consent_ledger).where(
                consent_ledger.c.site_id == site.id, consent_ledger.c.seq == 3
            )
        )
    problems = await verify(overt, site)
    assert any(f"site {site.id} row 3 missing" in p for p in problems), problems


async def test_reordered_rows_are_named(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    where = consent_ledger.c.site_id == site.id
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            update(consent_ledger).where(where, consent_ledger.c.seq == 1).values(seq=-1)
        )
        await conn.execute(
            update(consent_ledger).where(where, consent_ledger.c.seq == 2).values(seq=1)
        )
        await conn.execute(
            update(consent_ledger).where(where, consent_ledger.c.seq == -1).values(seq=2)
        )
    problems = await verify(overt, site)
    assert problems
    assert f"site {site.id} row 1 " in problems[0]


async def test_rehashed_chain_is_caught_by_signed_checkpoints(overt: Overt, site: Site) -> None:
    """An attacker who edits a row and recomputes every hash still fails the signatures."""
    await _three_rows(overt, site)
    where = consent_ledger.c.site_id == site.id
    async with as_attacker(overt.resources.engine) as conn:
        rows = (
            await conn.execute(select(consent_ledger).where(where).order_by(consent_ledger.c.seq))
        ).all()
        prev = "0" * 64
        for row in rows:
            fields = dict(row._mapping)
            if row.seq == 2:
                fields["event"] = "given"
            digest = row_hash(site_id=site.id, seq=row.seq, fields=fields, prev_hash=prev)
            await conn.execute(
                update(consent_ledger)
                .where(where, consent_ledger.c.seq == row.seq)
                .values(event=fields["event"], prev_hash=prev, row_hash=digest)
            )
            prev = digest
    problems = await verify(overt, site)
    assert problems
    assert f"site {site.id} row 2 does not match its signed checkpoint" in problems[0]


async def test_swapped_signing_key_is_caught(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    async with overt.resources.engine.begin() as conn:
        await conn.execute(
            update(consent_site_keys)
            .where(consent_site_keys.c.site_id == site.id)
            .values(public_key=b"\x01" * 32)
        )
    problems = await verify(overt, site)
    assert problems
    assert "keys do not verify" in problems[0]


async def test_cli_ledger_verify_exits_non_zero_naming_the_row(
    overt: Overt,
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    settings = overt.resources.settings
    monkeypatch.setenv("OVERT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    monkeypatch.delenv("OVERT_REDIS_URL", raising=False)
    if settings.secret_key is not None:
        monkeypatch.setenv("OVERT_SECRET_KEY", settings.secret_key.get_secret_value())
    else:
        monkeypatch.delenv("OVERT_SECRET_KEY", raising=False)
    await _three_rows(overt, site)
    prom = tmp_path / "overt-ledger.prom"
    assert await _run_cli(["ledger", "verify", "--site", site.id, "--metrics-file", str(prom)]) == 0
    assert "3 rows" in capsys.readouterr().out
    assert _ledger_metrics(prom)[f'overt_ledger_intact{{site="{site.id}"}}'] == 1
    async with as_attacker(overt.resources.engine) as conn:
        await conn.execute(
            update(consent_ledger)
            .where(consent_ledger.c.site_id == site.id, consent_ledger.c.seq == 3)
            .values(purpose="identification")
        )
    assert await _run_cli(["ledger", "verify", "--metrics-file", str(prom)]) == 1
    err = capsys.readouterr().err
    assert f"TAMPERED: site {site.id} row 3 " in err
    tampered = _ledger_metrics(prom)
    assert tampered[f'overt_ledger_intact{{site="{site.id}"}}'] == 0
    assert abs(tampered["overt_ledger_verified_timestamp_seconds"] - time.time()) < 600
    assert await _run_cli(["ledger", "verify", "--site", "nope"]) == 1


def _ledger_metrics(path: Path) -> dict[str, float]:
    """The samples of a textfile, as `name{labels}` -> value."""
    return {
        sample.name + "".join(f'{{{k}="{v}"}}' for k, v in sample.labels.items()): sample.value
        for family in text_string_to_metric_families(path.read_text())
        for sample in family.samples
    }


async def _run_cli(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


async def test_the_per_test_reset_still_clears_the_ledger(postgres_settings: Settings) -> None:
    """The append-only triggers refuse a DELETE; the per-test reset (a DELETE as a replica
    role, which skips them) still empties the ledger."""
    async with open_resources(postgres_settings) as resources:
        made = await create_site(engine=resources.engine, domain="truncate.example")
        await ensure_site(
            engine=resources.engine, secret=resources.settings.secret(), site_id=made.id
        )
        subject = await create_subject(engine=resources.engine, site_id=made.id)
        await record_decisions(
            resources=resources,
            site=made,
            subject_id=subject.subject_id,
            choices={"analytics": True},
            method=Method.api,
        )
        await asyncio.to_thread(empty_postgres, postgres_settings.database_url)
        async with resources.engine.connect() as conn:
            left = (await conn.execute(select(func.count()).select_from(consent_ledger))).scalar()
    assert left == 0


async def test_concurrent_decisions_keep_one_unbroken_chain(overt: Overt, site: Site) -> None:
    engine = overt.resources.engine
    subjects = [await create_subject(engine=engine, site_id=site.id) for _ in range(8)]
    await asyncio.gather(
        *(
            decide(overt, site, subject.subject_id, analytics=True, identification=False)
            for subject in subjects
        )
    )
    assert await ledger_rows(overt, site) == 16
    assert await verify(overt, site) == []


async def test_deleted_site_keys_do_not_hide_a_chain(overt: Overt, site: Site) -> None:
    await _three_rows(overt, site)
    async with overt.resources.engine.begin() as conn:
        await conn.execute(delete(consent_site_keys).where(consent_site_keys.c.site_id == site.id))
    reports = [
        await verify_site(
            engine=overt.resources.engine, secret=overt.resources.settings.secret(), site_id=one
        )
        for one in await ledger_sites(engine=overt.resources.engine)
    ]
    problems = [p for report in reports for p in report.problems]
    assert problems
    assert f"site {site.id} checkpoint at row 1: bad signature" in problems


async def test_expiry_pass_reaches_every_site_past_one_without_consent(
    overt: Overt, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sites that never set up consent have no keys; the hourly pass skips them, and
    still expires the consents of the sites after them in id order."""
    engine = overt.resources.engine
    subject = await create_subject(engine=engine, site_id=site.id)
    await decide(overt, site, subject.subject_id, analytics=True)
    # A site whose id sorts first. Ids are random: drawing until one sorts first failed
    # when the consented site's own id was small, so this one's id is the smallest there is.
    with monkeypatch.context() as patched:
        patched.setattr("shared.sites.secrets.token_hex", lambda nbytes: "0" * (2 * nbytes))
        keyless = await create_site(engine=engine, domain="keyless.example")
    assert keyless.id < site.id

    later = datetime.now(UTC) + timedelta(days=400)
    assert await expire_all(resources=overt.resources, now=later) == 1
    states = {
        s.purpose.purpose: s
        for s in await consent_state(
            engine=engine, site_id=site.id, subject_id=subject.subject_id, now=later
        )
    }
    assert states["analytics"].status == LedgerEvent.expired
    assert not states["analytics"].granted
    assert await expire_all(resources=overt.resources, now=later) == 0  # once only


async def test_per_purpose_lifetimes_set_expiry_and_expiry_honours_them(
    overt: Overt, site: Site
) -> None:
    engine = overt.resources.engine
    with pytest.raises(ValueError, match="1 to 395 days"):
        await set_lifetime(engine=engine, site_id=site.id, purpose="analytics", days=396)
    with pytest.raises(UnknownPurpose):
        await set_lifetime(engine=engine, site_id=site.id, purpose="nosuch", days=30)
    await set_lifetime(engine=engine, site_id=site.id, purpose="analytics", days=30)
    subject = await create_subject(engine=engine, site_id=site.id)
    now = datetime.now(UTC)
    await record_decisions(
        resources=overt.resources,
        site=site,
        subject_id=subject.subject_id,
        choices={"analytics": True, "identification": True},
        method=Method.widget,
        now=now,
    )
    purposes = (await overt.client.get(f"/consent/sites/{site.id}/purposes")).json()["purposes"]
    assert {p["purpose"]: p["lifetime_days"] for p in purposes} == {
        "analytics": 30,
        "identification": 365,
        "marketing_contact": 365,
    }
    states = {
        s.purpose.purpose: s
        for s in await consent_state(engine=engine, site_id=site.id, subject_id=subject.subject_id)
    }
    assert states["analytics"].expires_at == now + timedelta(days=30)
    assert states["identification"].expires_at == now + timedelta(days=365)
    # Day 29: nothing lapsed; day 31: analytics alone expires; identification stands.
    assert (
        await expire_consents(
            resources=overt.resources, site_id=site.id, now=now + timedelta(days=29)
        )
        == 0
    )
    assert (
        await expire_consents(
            resources=overt.resources, site_id=site.id, now=now + timedelta(days=31)
        )
        == 1
    )
    later = await consent_state(
        engine=engine, site_id=site.id, subject_id=subject.subject_id, now=now + timedelta(days=31)
    )
    assert {s.purpose.purpose: s.status for s in later} == {
        "analytics": "expired",
        "identification": "given",
        "marketing_contact": None,
    }
    # Back to the default for the next decisions.
    assert await set_lifetime(engine=engine, site_id=site.id, purpose="analytics", days=None) == (
        timedelta(days=365)
    )
