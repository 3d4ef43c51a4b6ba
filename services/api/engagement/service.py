"""Engagement definitions: per site, versioned, append-only, and applied at query time.

A definition says what counts as an engaged session, how an engagement score is weighted,
which pages show high intent, which rules make intent, the intent threshold and the k of
k-anonymity. Every PUT stores version n+1 and old versions stay, so an answer can cite the
version it used and be reproduced later. A site that never stored one has version 0: the
defaults, with the engaged-session thresholds of its SiteSettings (what ingest used).

Engagement is evaluated from stored session facts (engaged_ms, pageviews, goals) when a
query runs, so a new version applies to history too; `sessions.is_engaged` is only the
ingest-time flag under the site settings.

`score()` is pure: the contacts feature gives it a subject's sessions and shows the
contributions it returns as the explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    ForeignKey,
    Integer,
    String,
    Table,
    and_,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import UtcDateTime, metadata
from shared.errors import ProblemError
from shared.sites import get_site

# Append-only (database triggers, see migration 0200): a version is never edited or deleted.
engagement_definitions = Table(
    "engagement_definitions",
    metadata,
    Column("site_id", String(32), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("body", JSON, nullable=False),
)

Pattern = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^/")]
RuleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_ .:-]+$")]


class ScoreWeights(BaseModel):
    """Points per signal; the sum is capped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_engaged_second: float = Field(default=0.1, ge=0, le=1000)
    per_pageview: float = Field(default=1.0, ge=0, le=1000)
    per_high_intent_page: float = Field(default=5.0, ge=0, le=1000)
    per_goal: float = Field(default=10.0, ge=0, le=1000)
    per_return_visit: float = Field(default=3.0, ge=0, le=1000)
    cap: float = Field(default=100.0, gt=0, le=1_000_000)


class PageRepeatRule(BaseModel):
    """Pages matching `pattern` viewed at least `min_visits` times within `within_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["page_repeat"] = "page_repeat"
    name: RuleName
    pattern: Pattern
    min_visits: int = Field(default=2, ge=1, le=1000)
    within_days: int = Field(default=7, ge=1, le=366)


class EngagedOnPageRule(BaseModel):
    """At least `min_engaged_ms` engaged in one session on pages matching `pattern`
    (the high-intent pages when no pattern is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["engaged_on_page"] = "engaged_on_page"
    name: RuleName
    pattern: Pattern | None = None
    min_engaged_ms: int = Field(default=120_000, ge=1, le=86_400_000)


class RepeatSessionsRule(BaseModel):
    """At least `min_sessions` sessions within `within_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["repeat_sessions"] = "repeat_sessions"
    name: RuleName
    min_sessions: int = Field(default=2, ge=2, le=1000)
    within_days: int = Field(default=7, ge=1, le=366)


class GoalRule(BaseModel):
    """The goal `goal` reached at least `min_count` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["goal"] = "goal"
    name: RuleName
    goal: Annotated[str, Field(min_length=1, max_length=120)]
    min_count: int = Field(default=1, ge=1, le=1000)


IntentRule = Annotated[
    PageRepeatRule | EngagedOnPageRule | RepeatSessionsRule | GoalRule,
    Field(discriminator="kind"),
]


class DefinitionIn(BaseModel):
    """What a site may set; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engaged_min_ms: int = Field(
        default=10_000, ge=0, le=86_400_000, description="engaged session: at least this long"
    )
    engaged_min_pageviews: int = Field(
        default=2, ge=1, le=10_000, description="engaged session: or at least this many pages"
    )
    engaged_min_goals: int = Field(
        default=1, ge=0, le=10_000, description="engaged session: or this many goals (0: off)"
    )
    weights: ScoreWeights = ScoreWeights()
    high_intent_pages: Annotated[
        tuple[Pattern, ...],
        Field(max_length=50, description="globs on the path, e.g. /pricing*"),
    ] = ()
    intent_rules: Annotated[tuple[IntentRule, ...], Field(max_length=20)] = ()
    intent_threshold: float = Field(
        default=30.0, ge=0, description="intent needs a matched rule and at least this score"
    )
    k: int = Field(default=5, ge=2, le=1000, description="k-anonymity: smallest group reported")


class Definition(DefinitionIn):
    """A stored version (0: the defaults of a site that never stored one)."""

    version: int = Field(ge=0)
    created_at: datetime | None = None


class DefinitionConflict(ProblemError):
    def __init__(self) -> None:
        super().__init__(
            409,
            "Definition changed concurrently",
            slug="definition-conflict",
            detail="Another version was stored at the same moment; read it and retry.",
        )


class UnknownDefinitionVersion(ProblemError):
    def __init__(self, version: int) -> None:
        super().__init__(
            404,
            "No such definition version",
            slug="unknown-definition-version",
            detail=f"This site has no engagement definition version {version}.",
        )


def _from_row(row: Any) -> Definition:
    return Definition.model_validate(
        {**row.body, "version": row.version, "created_at": row.created_at}
    )


async def _default_definition(engine: AsyncEngine, site_id: str) -> Definition:
    site = await get_site(engine=engine, site_id=site_id)
    if site is None:
        return Definition(version=0)
    return Definition(
        version=0,
        engaged_min_ms=site.settings.engaged_min_ms,
        engaged_min_pageviews=site.settings.engaged_min_pageviews,
    )


async def current_definition(engine: AsyncEngine, site_id: str) -> Definition:
    """The site's latest definition (version 0, the defaults, when it never stored one)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(engagement_definitions)
                .where(engagement_definitions.c.site_id == site_id)
                .order_by(engagement_definitions.c.version.desc())
                .limit(1)
            )
        ).first()
    return _from_row(row) if row is not None else await _default_definition(engine, site_id)


async def definition_at(engine: AsyncEngine, site_id: str, version: int) -> Definition | None:
    """One stored version (0 is the defaults), or None when the site has no such version."""
    if version == 0:
        return await _default_definition(engine, site_id)
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                select(engagement_definitions).where(
                    engagement_definitions.c.site_id == site_id,
                    engagement_definitions.c.version == version,
                )
            )
        ).first()
    return _from_row(row) if row is not None else None


async def store_definition(*, engine: AsyncEngine, site_id: str, body: DefinitionIn) -> Definition:
    """Append version n+1; the earlier versions stay as they were."""
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            latest = (
                await conn.execute(
                    select(func.max(engagement_definitions.c.version)).where(
                        engagement_definitions.c.site_id == site_id
                    )
                )
            ).scalar_one_or_none()
            version = int(latest or 0) + 1
            await conn.execute(
                insert(engagement_definitions).values(
                    site_id=site_id,
                    version=version,
                    created_at=now,
                    body=body.model_dump(mode="json"),
                )
            )
    except IntegrityError:
        raise DefinitionConflict() from None
    return Definition.model_validate({**body.model_dump(), "version": version, "created_at": now})


def engaged_condition(
    definition: DefinitionIn,
    *,
    engaged_ms: ColumnElement[Any],
    pageviews: ColumnElement[Any],
    goals: ColumnElement[Any],
) -> ColumnElement[bool]:
    """SQL for 'this session is engaged' under `definition`, over stored session facts."""
    parts = [engaged_ms >= definition.engaged_min_ms, pageviews >= definition.engaged_min_pageviews]
    if definition.engaged_min_goals > 0:
        parts.append(goals >= definition.engaged_min_goals)
    return or_(*parts) if len(parts) > 1 else and_(*parts)


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageVisit:
    path: str
    at: datetime
    engaged_ms: int = 0


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What scoring needs of one session."""

    started_at: datetime
    engaged_ms: int
    pageviews: int
    goals: tuple[str, ...] = ()
    pages: tuple[PageVisit, ...] = ()


@dataclass(frozen=True, slots=True)
class Contribution:
    signal: str
    amount: float
    weight: float
    points: float


@dataclass(frozen=True, slots=True)
class IntentSignal:
    rule: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Score:
    """A capped weighted sum, what contributed to it, and the intent rules that matched."""

    value: float
    uncapped: float
    contributions: list[Contribution] = field(default_factory=list)
    intent_signals: list[IntentSignal] = field(default_factory=list)
    has_intent: bool = False
    definition_version: int = 0


def is_engaged(definition: DefinitionIn, session: SessionFacts) -> bool:
    """The same test as `engaged_condition`, for one session in memory."""
    return (
        session.engaged_ms >= definition.engaged_min_ms
        or session.pageviews >= definition.engaged_min_pageviews
        or (definition.engaged_min_goals > 0 and len(session.goals) >= definition.engaged_min_goals)
    )


def matches_any(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatchcase(path, pattern) for pattern in patterns)


def _most_within(moments: Sequence[datetime], days: int) -> int:
    """The largest number of `moments` inside any window of `days` days."""
    ordered = sorted(moments)
    window = timedelta(days=days)
    best = start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _rule_signal(
    rule: PageRepeatRule | EngagedOnPageRule | RepeatSessionsRule | GoalRule,
    definition: DefinitionIn,
    sessions: Sequence[SessionFacts],
) -> IntentSignal | None:
    if isinstance(rule, PageRepeatRule):
        visits = [
            page.at for s in sessions for page in s.pages if fnmatchcase(page.path, rule.pattern)
        ]
        most = _most_within(visits, rule.within_days)
        if most >= rule.min_visits:
            return IntentSignal(
                rule.name, f"{most} views of {rule.pattern} within {rule.within_days} days"
            )
    elif isinstance(rule, EngagedOnPageRule):
        patterns = [rule.pattern] if rule.pattern else list(definition.high_intent_pages)
        best = max(
            (sum(p.engaged_ms for p in s.pages if matches_any(p.path, patterns)) for s in sessions),
            default=0,
        )
        if patterns and best >= rule.min_engaged_ms:
            where = rule.pattern or "high-intent pages"
            return IntentSignal(rule.name, f"{best // 1000} s engaged on {where} in one session")
    elif isinstance(rule, RepeatSessionsRule):
        most = _most_within([s.started_at for s in sessions], rule.within_days)
        if most >= rule.min_sessions:
            return IntentSignal(rule.name, f"{most} sessions within {rule.within_days} days")
    else:
        count = sum(s.goals.count(rule.goal) for s in sessions)
        if count >= rule.min_count:
            return IntentSignal(rule.name, f"goal {rule.goal} reached {count} times")
    return None


def score(definition: Definition, sessions_summary: Sequence[SessionFacts]) -> Score:
    """The engagement score of one visitor's (or subject's) sessions, explained."""
    weights = definition.weights
    high_intent = sum(
        1
        for s in sessions_summary
        for page in s.pages
        if matches_any(page.path, definition.high_intent_pages)
    )
    amounts = {
        "engaged_seconds": sum(s.engaged_ms for s in sessions_summary) / 1000,
        "pageviews": float(sum(s.pageviews for s in sessions_summary)),
        "high_intent_pages": float(high_intent),
        "goals": float(sum(len(s.goals) for s in sessions_summary)),
        "return_visits": float(max(0, len(sessions_summary) - 1)),
    }
    per = {
        "engaged_seconds": weights.per_engaged_second,
        "pageviews": weights.per_pageview,
        "high_intent_pages": weights.per_high_intent_page,
        "goals": weights.per_goal,
        "return_visits": weights.per_return_visit,
    }
    contributions = [
        Contribution(signal, amount, per[signal], round(amount * per[signal], 3))
        for signal, amount in amounts.items()
        if amount and per[signal]
    ]
    uncapped = round(sum(c.points for c in contributions), 3)
    value = min(uncapped, weights.cap)
    signals = [
        signal
        for rule in definition.intent_rules
        if (signal := _rule_signal(rule, definition, sessions_summary)) is not None
    ]
    return Score(
        value=value,
        uncapped=uncapped,
        contributions=contributions,
        intent_signals=signals,
        has_intent=bool(signals) and value >= definition.intent_threshold,
        definition_version=definition.version,
    )
