"""Outcomes the site reports (what happened after the click) and the lift report.

An outcome is about one subject with active identification consent, or about a campaign.
The report asks: of the consented subjects showing an intent signal (or in a score band),
how often did a good outcome follow, against the base rate of all consented subjects?
Groups of fewer than k subjects are not reported.

The report reads one date range (local days of the site's time zone): subjects are scored
on their linked events in it, outcomes count when they occurred in it, and the population
is the consented subjects with an event or an outcome in it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.days import day_bounds, site_timezone
from services.api.people.contacts import score_subjects
from services.api.people.exceptions import NoIdentificationConsent, OutcomeIdReused
from services.api.people.models import outcomes
from services.api.people.schemas import (
    GOOD_OUTCOMES,
    CampaignOutcomes,
    LiftRow,
    OutcomeIn,
    OutcomeKind,
    OutcomeOut,
    OutcomeReport,
    OutcomeReportIn,
)
from shared.consent_state import identified_subjects
from shared.dialect import insert_if_absent

MICROS = Decimal(1_000_000)
INTENT = "intent"  # the pseudo-signal "an intent rule matched and the threshold was reached"


def fingerprint(body: OutcomeIn) -> str:
    """What the client sent (defaults excluded, so a retry matches the original)."""
    sent = body.model_dump(mode="json", exclude_unset=True)
    return hashlib.sha256(orjson.dumps(sent, option=orjson.OPT_SORT_KEYS)).hexdigest()


def outcome_out(row: Any) -> OutcomeOut:
    amount = None
    if row.amount_micros is not None:
        amount = str((Decimal(row.amount_micros) / MICROS).normalize())
    return OutcomeOut(
        id=row.outcome_id,
        kind=OutcomeKind(row.kind),
        subject_id=row.subject_id,
        utm_campaign=row.utm_campaign,
        utm_source=row.utm_source,
        amount=amount,
        currency=row.currency,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
    )


async def record_outcome(
    *, engine: AsyncEngine, site_id: str, body: OutcomeIn
) -> tuple[OutcomeOut, bool]:
    """Store the outcome once; returns it and whether this call created it.

    A repeat with the same id and body returns the stored one; a different body is 409.
    """
    now = datetime.now(UTC)
    digest = fingerprint(body)
    async with engine.begin() as conn:
        if body.subject_id is not None:
            consented = await identified_subjects(
                conn=conn, site_id=site_id, subject_ids=[body.subject_id], now=now
            )
            if body.subject_id not in consented:
                raise NoIdentificationConsent()
        await insert_if_absent(
            conn,
            outcomes,
            {
                "site_id": site_id,
                "outcome_id": body.id,
                "kind": body.kind.value,
                "subject_id": body.subject_id,
                "utm_campaign": body.utm_campaign,
                "utm_source": body.utm_source,
                "amount_micros": int(body.amount * MICROS) if body.amount is not None else None,
                "currency": body.currency,
                "occurred_at": body.occurred_at or now,
                "recorded_at": now,
                "fingerprint": digest,
            },
        )
        row = (
            await conn.execute(
                select(outcomes).where(
                    outcomes.c.site_id == site_id, outcomes.c.outcome_id == body.id
                )
            )
        ).one()
    if row.fingerprint != digest:
        raise OutcomeIdReused()
    return outcome_out(row), row.recorded_at == now


BANDS = 4  # score bands: quarters of the definition's score cap


def band_edges(cap: float) -> list[float]:
    return [cap * index / BANDS for index in range(1, BANDS)]


def band_name(edges: list[float], value: float) -> str:
    lower = 0.0
    for edge in edges:
        if value < edge:
            return f"[{lower:g}, {edge:g})"
        lower = edge
    return f"[{edges[-1]:g}, max]"


def lift_row(group: str, subjects: int, good: int, base_rate: float | None, k: int) -> LiftRow:
    if subjects < k:
        return LiftRow(
            group=group, subjects=None, good_outcomes=None, rate=None, lift=None, suppressed=True
        )
    rate = good / subjects
    return LiftRow(
        group=group,
        subjects=subjects,
        good_outcomes=good,
        rate=round(rate, 6),
        lift=round(rate / base_rate, 6) if base_rate else None,
        suppressed=False,
    )


async def _campaign_rows(
    *, engine: AsyncEngine, site_id: str, between: tuple[datetime, datetime]
) -> list[Any]:
    """Outcomes reported for campaigns (not for subjects) that occurred in [start, end)."""
    async with engine.connect() as conn:
        result = await conn.execute(
            select(
                outcomes.c.utm_source,
                outcomes.c.utm_campaign,
                outcomes.c.kind,
                outcomes.c.amount_micros,
                outcomes.c.currency,
            ).where(
                outcomes.c.site_id == site_id,
                outcomes.c.subject_id.is_(None),
                outcomes.c.occurred_at >= between[0],
                outcomes.c.occurred_at < between[1],
            )
        )
        return list(result.all())


async def campaign_outcomes(
    *, engine: AsyncEngine, site_id: str, between: tuple[datetime, datetime]
) -> list[CampaignOutcomes]:
    """Outcomes reported for campaigns (not for subjects) that occurred in [start, end):
    counts per kind, revenue per currency."""
    rows = await _campaign_rows(engine=engine, site_id=site_id, between=between)
    counts: dict[tuple[str | None, str | None], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    revenue: dict[tuple[str | None, str | None], dict[str, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for row in rows:
        campaign = (row.utm_source, row.utm_campaign)
        counts[campaign][row.kind] += 1
        if row.amount_micros is not None:
            revenue[campaign][row.currency] += row.amount_micros
    return [
        CampaignOutcomes(
            utm_source=source,
            utm_campaign=campaign,
            outcomes=dict(sorted(counts[(source, campaign)].items())),
            revenue={
                currency: str((Decimal(micros) / MICROS).normalize())
                for currency, micros in sorted(revenue[(source, campaign)].items())
            },
        )
        for source, campaign in sorted(counts, key=lambda pair: (pair[0] or "", pair[1] or ""))
    ]


async def outcomes_by_campaign(
    engine: AsyncEngine, site_id: str, by: str, date_range: tuple[date, date]
) -> dict[str, dict[str, float]]:
    """For the after-the-click report grouped by utm_campaign or utm_source: the campaign
    outcomes (not subjects') that occurred in the range, per group value: a count per kind and
    "revenue:CUR" sums. Any other grouping has no campaign to match: empty."""
    if by not in ("utm_campaign", "utm_source"):
        return {}
    timezone = await site_timezone(engine=engine, site_id=site_id)
    rows = await _campaign_rows(
        engine=engine, site_id=site_id, between=day_bounds(*date_range, timezone)
    )
    found: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        value = getattr(row, by)
        if value is None:
            continue
        found[value][row.kind] += 1
        if row.amount_micros is not None:
            found[value][f"revenue:{row.currency}"] += row.amount_micros / 1_000_000
    return {value: dict(sorted(kinds.items())) for value, kinds in found.items()}


async def outcome_report(*, engine: AsyncEngine, query: OutcomeReportIn) -> OutcomeReport:
    """Lift of good outcomes per intent signal and per score band among consented subjects."""
    timezone = await site_timezone(engine=engine, site_id=query.site_id)
    between = day_bounds(*query.date_range, timezone)
    definition, scored, linked = await score_subjects(
        engine=engine, site_id=query.site_id, between=between
    )
    k = max(definition.k, query.k or definition.k)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(outcomes.c.subject_id, outcomes.c.kind).where(
                    outcomes.c.site_id == query.site_id,
                    outcomes.c.subject_id.is_not(None),
                    outcomes.c.occurred_at >= between[0],
                    outcomes.c.occurred_at < between[1],
                )
            )
        ).all()
        with_outcomes = {row.subject_id for row in rows}
        good_subjects = {row.subject_id for row in rows if OutcomeKind(row.kind) in GOOD_OUTCOMES}
        # Consent is checked again: a subject withdrawn since scoring is not counted.
        still = await identified_subjects(
            conn=conn, site_id=query.site_id, subject_ids=[s.subject_id for s in scored]
        )
    population = [
        s
        for s in scored
        if s.subject_id in still and (linked[s.subject_id] or s.subject_id in with_outcomes)
    ]
    total = len(population)
    good_total = sum(1 for s in population if s.subject_id in good_subjects)
    base_rate = good_total / total if total >= k and total else None

    by_signal: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    edges = band_edges(definition.weights.cap)
    by_band: dict[str, list[int]] = {band_name(edges, value): [0, 0] for value in [0.0, *edges]}
    for subject in population:
        good = int(subject.subject_id in good_subjects)
        names = {signal.rule for signal in subject.score.intent_signals}
        if subject.score.has_intent:
            names.add(INTENT)
        for name in names:
            by_signal[name][0] += 1
            by_signal[name][1] += good
        band = by_band[band_name(edges, subject.score.value)]
        band[0] += 1
        band[1] += good
    below_k = total < k
    return OutcomeReport(
        site_id=query.site_id,
        date_range=query.date_range,
        timezone=timezone,
        k=k,
        definition_version=definition.version,
        subjects=None if below_k else total,
        good_outcomes=None if below_k else good_total,
        base_rate=None if base_rate is None else round(base_rate, 6),
        signals=[
            lift_row(name, n, good, base_rate, k) for name, (n, good) in sorted(by_signal.items())
        ],
        score_bands=[lift_row(name, n, good, base_rate, k) for name, (n, good) in by_band.items()],
        campaigns=await campaign_outcomes(engine=engine, site_id=query.site_id, between=between),
    )
