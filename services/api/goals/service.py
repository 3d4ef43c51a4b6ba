"""Goals per site, and the one definition of "this event reached goal G" every report uses.

A site with no registered goals keeps the rule it had before goals could be registered:
every custom event (any name but the built-in pageview, engagement, outbound, download and
404) is a goal under its own name, so existing sites keep their conversions. Registering the
first goal switches the site to Plausible's rule: only registered goals are goals (a custom
event not registered is still stored and still answers the `event` and `prop:*` views, but
converts nothing). The switch is explicit and visible (`GET .../goals` says `implicit`).

`GoalSet` is that definition as SQL over event rows: the `goal` dimension, goal filters,
`conversions` / `conversion_rate`, funnel goal steps and the revenue metrics all read it,
so they agree on what a goal is.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    String,
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.api.goals.exceptions import GoalNameTaken, GoalNotFound, TooManyGoals
from services.api.goals.models import goals
from services.api.goals.schemas import MAX_GOALS, GoalIn, GoalOut
from shared.dialect import compile_regex
from shared.models import BUILTIN_EVENTS, events

REVENUE_AMOUNT, REVENUE_CURRENCY = "revenue_amount", "revenue_currency"
MISSING = "(none)"  # the text of a missing dimension value, as stats reads it
REGEX_SPECIAL = frozenset("\\.^$|?+()[]{}")


def page_regex(pattern: str) -> str:
    """A page goal's pattern as an anchored regular expression (RE2 and PostgreSQL alike):
    `**` any characters, `*` any but `/`, everything else itself. `(?s)`: `.` takes a
    newline too, as PostgreSQL's does by default."""
    parts = ["(?s)^"]
    index = 0
    while index < len(pattern):
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        char = pattern[index]
        parts.append("[^/]*" if char == "*" else "\\" + char if char in REGEX_SPECIAL else char)
        index += 1
    parts.append("$")
    return "".join(parts)


def _out(row: Any) -> GoalOut:
    return GoalOut(
        id=row.id,
        name=row.name,
        page=row.page,
        event=row.event,
        props=row.props,
        currency=row.currency,
        created_at=row.created_at,
    )


async def list_goals(*, engine: AsyncEngine, site_id: str) -> list[GoalOut]:
    async with engine.connect() as conn:
        return await goals_in(conn, site_id)


async def goals_in(conn: AsyncConnection, site_id: str) -> list[GoalOut]:
    """The site's goals by name, read on a connection already open."""
    rows = await conn.execute(
        select(goals).where(goals.c.site_id == site_id).order_by(goals.c.name)
    )
    return [_out(row) for row in rows]


async def create_goal(*, engine: AsyncEngine, site_id: str, body: GoalIn) -> GoalOut:
    made = GoalOut(
        id=secrets.token_hex(8),
        name=body.display_name(),
        page=body.page,
        event=body.event,
        props=body.props or None,
        currency=body.currency,
        created_at=datetime.now(UTC),
    )
    try:
        async with engine.begin() as conn:
            count = (
                await conn.execute(select(func.count()).where(goals.c.site_id == site_id))
            ).scalar_one()
            if count >= MAX_GOALS:
                raise TooManyGoals(MAX_GOALS)
            await conn.execute(insert(goals).values(site_id=site_id, **made.model_dump()))
    except IntegrityError:
        raise GoalNameTaken() from None
    return made


async def delete_goal(*, engine: AsyncEngine, site_id: str, goal_id: str) -> None:
    async with engine.begin() as conn:
        deleted = await conn.execute(
            delete(goals).where(goals.c.site_id == site_id, goals.c.id == goal_id)
        )
    if deleted.rowcount == 0:
        raise GoalNotFound()


def name_passes(name: str, op: str, values: Sequence[str]) -> bool:
    """A filter test (is, contains, matches) on a goal's name, as stats tests any text."""
    if op == "is":
        return name in values
    if op == "contains":
        return any(value.lower() in name.lower() for value in values)
    return any(compile_regex(pattern).search(name) is not None for pattern in values)


@dataclass(frozen=True, slots=True)
class GoalSet:
    """A site's goals as SQL over `events` rows: which events reach which goal.

    `implicit` (no goals registered): every custom event is a goal named by its event."""

    goals: tuple[GoalOut, ...]
    dialect_name: str

    @property
    def implicit(self) -> bool:
        return not self.goals

    def reached(self, goal: GoalOut) -> ColumnElement[bool]:
        """This event reaches `goal`."""
        if goal.page is not None:
            return and_(
                events.c.name == "pageview", events.c.path.regexp_match(page_regex(goal.page))
            )
        tests = [events.c.name == goal.event]
        for key, value in (goal.props or {}).items():
            tests.append(events.c.props[key].as_string() == value)
        return and_(*tests)

    def reached_any(self) -> ColumnElement[bool]:
        """This event reaches some goal (a conversion)."""
        if self.implicit:
            return events.c.name.not_in(sorted(BUILTIN_EVENTS))
        return or_(*(self.reached(goal) for goal in self.goals))

    def implicit_name(self) -> ColumnElement[Any]:
        """Implicit goals only: the goal an event reaches (its name), NULL for none."""
        return case((self.reached_any(), events.c.name))

    def reached_named(self, op: str, values: Sequence[str]) -> ColumnElement[bool]:
        """This event reaches a goal whose name passes the test `op` (is, is_not, contains,
        matches) on `values`; "(none)" among `is` values: or reaches none."""
        if op.endswith("_not"):  # is_not, contains_not, matches_not: the complement
            return not_(self.reached_named(op.removesuffix("_not"), values))
        if self.implicit:
            name = events.c.name
            if op == "is":
                found: ColumnElement[bool] = name.in_([v for v in values if v != MISSING])
            elif op == "contains":
                found = or_(
                    *(func.lower(name).contains(v.lower(), autoescape=True) for v in values)
                )
            else:
                found = or_(*(name.regexp_match(pattern) for pattern in values))
            found = and_(self.reached_any(), found)
        else:
            chosen = [goal for goal in self.goals if name_passes(goal.name, op, values)]
            found = or_(*(self.reached(goal) for goal in chosen)) if chosen else false()
        if op == "is" and MISSING in values:
            return or_(found, not_(self.reached_any()))
        return found

    def rows(self) -> FromClause:
        """Registered goals only: one row per goal (goal, goal_currency), to join to the
        events that reach them (`join_condition`) for a breakdown by goal: an event that
        reaches two goals counts in both rows."""
        parts = [
            select(
                literal(goal.name, String).label("goal"),
                literal(goal.currency, String).label("goal_currency"),
            )
            for goal in self.goals
        ]
        both = union_all(*parts) if len(parts) > 1 else parts[0]
        return both.subquery("goal_rows")

    def join_condition(self, rows: FromClause) -> ColumnElement[bool]:
        return or_(*(and_(rows.c.goal == goal.name, self.reached(goal)) for goal in self.goals))

    # --- revenue ---------------------------------------------------------------------------

    def revenue_currencies(self, names: Sequence[str] | None = None) -> set[str]:
        """Currencies of the revenue goals (among `names` when given)."""
        return {
            goal.currency
            for goal in self.goals
            if goal.currency is not None and (names is None or goal.name in names)
        }

    def revenue_amount(self) -> ColumnElement[Any]:
        """The event's revenue amount when it is a number, else NULL (props come from
        outside: a text amount is never cast)."""
        if self.dialect_name == "postgresql":
            kind = func.json_typeof(events.c.props[REVENUE_AMOUNT])
            return case((kind == "number", events.c.props[REVENUE_AMOUNT].as_float()))
        kind = func.json_type(events.c.props, f"$.{REVENUE_AMOUNT}")
        return case((kind.in_(["real", "integer"]), events.c.props[REVENUE_AMOUNT].as_float()))

    def revenue_reached(self, rows: FromClause | None = None) -> ColumnElement[bool]:
        """This event is a revenue goal's conversion with an amount in that goal's currency
        (joined to `rows`: the row's goal's). Amounts in another currency count for nothing:
        Overt holds no exchange rates, and adding euros to yen would be a wrong total."""
        currency = events.c.props[REVENUE_CURRENCY].as_string()
        if rows is not None:
            return and_(rows.c.goal_currency.is_not(None), currency == rows.c.goal_currency)
        revenue = [goal for goal in self.goals if goal.currency is not None]
        if not revenue:
            return false()
        return or_(*(and_(self.reached(g), currency == g.currency) for g in revenue))


async def goal_set(*, engine: AsyncEngine, site_id: str) -> GoalSet:
    """The site's goals as the queries read them."""
    return GoalSet(tuple(await list_goals(engine=engine, site_id=site_id)), engine.dialect.name)


async def goal_set_in(conn: AsyncConnection, site_id: str) -> GoalSet:
    """`goal_set` on a connection already open."""
    return GoalSet(tuple(await goals_in(conn, site_id)), conn.dialect.name)
