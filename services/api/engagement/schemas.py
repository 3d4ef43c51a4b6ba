"""Wire models of engagement definitions: what a site may set, and a stored version."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.storable import JsonFloat, JsonInt, StorableBody

# Versions count up from 0 in an INTEGER column (int32 on PostgreSQL).
MAX_VERSION = 2**31 - 1
DefinitionVersion = Annotated[JsonInt, Field(ge=0, le=MAX_VERSION)]
Pattern = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^/")]
RuleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_ .:-]+$")]


class ScoreWeights(BaseModel):
    """Points per signal; the sum is capped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_engaged_second: JsonFloat = Field(default=0.1, ge=0, le=1000)
    per_pageview: JsonFloat = Field(default=1.0, ge=0, le=1000)
    per_high_intent_page: JsonFloat = Field(default=5.0, ge=0, le=1000)
    per_goal: JsonFloat = Field(default=10.0, ge=0, le=1000)
    per_return_visit: JsonFloat = Field(default=3.0, ge=0, le=1000)
    cap: JsonFloat = Field(default=100.0, gt=0, le=1_000_000)


class PageRepeatRule(BaseModel):
    """Pages matching `pattern` viewed at least `min_visits` times within `within_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["page_repeat"] = "page_repeat"
    name: RuleName
    pattern: Pattern
    min_visits: JsonInt = Field(default=2, ge=1, le=1000)
    within_days: JsonInt = Field(default=7, ge=1, le=366)


class EngagedOnPageRule(BaseModel):
    """At least `min_engaged_ms` engaged in one session on pages matching `pattern`
    (the high-intent pages when no pattern is given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["engaged_on_page"] = "engaged_on_page"
    name: RuleName
    pattern: Pattern | None = None
    min_engaged_ms: JsonInt = Field(default=120_000, ge=1, le=86_400_000)


class RepeatSessionsRule(BaseModel):
    """At least `min_sessions` sessions within `within_days`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["repeat_sessions"] = "repeat_sessions"
    name: RuleName
    min_sessions: JsonInt = Field(default=2, ge=2, le=1000)
    within_days: JsonInt = Field(default=7, ge=1, le=366)


class GoalRule(BaseModel):
    """The goal `goal` reached at least `min_count` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["goal"] = "goal"
    name: RuleName
    goal: Annotated[str, Field(min_length=1, max_length=120)]
    min_count: JsonInt = Field(default=1, ge=1, le=1000)


IntentRule = Annotated[
    PageRepeatRule | EngagedOnPageRule | RepeatSessionsRule | GoalRule,
    Field(discriminator="kind"),
]


class DefinitionIn(StorableBody):
    """What a site may set; every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engaged_min_ms: JsonInt = Field(
        default=10_000,
        ge=0,
        le=86_400_000,
        description="engaged session: at least this long",
    )
    engaged_min_pageviews: JsonInt = Field(
        default=2,
        ge=1,
        le=10_000,
        description="engaged session: or at least this many pages",
    )
    engaged_min_goals: JsonInt = Field(
        default=1,
        ge=0,
        le=10_000,
        description="engaged session: or this many goals (0: off)",
    )
    weights: ScoreWeights = ScoreWeights()
    high_intent_pages: Annotated[
        tuple[Pattern, ...],
        Field(max_length=50, description="globs on the path, e.g. /pricing*"),
    ] = ()
    intent_rules: Annotated[tuple[IntentRule, ...], Field(max_length=20)] = ()
    intent_threshold: JsonFloat = Field(
        default=30.0,
        ge=0,
        description="intent needs a matched rule and at least this score",
    )
    k: JsonInt = Field(
        default=5,
        ge=1,
        le=50,
        description="k-anonymity: smallest group of visitors shown in a breakdown by where, "
        "which device or where from (1: off, an explicit choice; totals, time, pages and goals "
        "are always answered)",
    )


class Definition(DefinitionIn):
    """A stored version (0: the defaults of a site that never stored one)."""

    # Versions stored before k was capped at 50 may hold up to 1000: read them as stored.
    k: int = Field(default=5, ge=1, le=1000, description="k-anonymity: smallest group shown")
    version: DefinitionVersion
    created_at: datetime | None = None
