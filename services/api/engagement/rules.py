"""What a definition decides: an engaged session (in SQL and in memory), a score and intent.

`score()` is pure: the contacts feature gives it a subject's sessions and shows the
contributions it returns as the explanation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from services.api.engagement.schemas import (
    Definition,
    DefinitionIn,
    EngagedOnPageRule,
    GoalRule,
    PageRepeatRule,
    RepeatSessionsRule,
)


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
class ScoreContribution:
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
    contributions: list[ScoreContribution] = field(default_factory=list)
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
        ScoreContribution(signal, amount, per[signal], round(amount * per[signal], 3))
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
