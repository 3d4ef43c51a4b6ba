"""Wire models of goals."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pycountry
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.storable import StorableBody

MAX_GOALS = 100  # per site
PropKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
PropValue = Annotated[str, Field(max_length=256)]


class GoalIn(StorableBody):
    """A page goal (`page`) or a custom-event goal (`event`, optionally with `props`); a
    custom-event goal with a `currency` is a revenue goal.

    `page` is a path pattern with Plausible's wildcards: `*` matches within one path segment
    (no `/`), `**` matches across segments; nothing else is special. `props`: the event
    counts only when each of these props has exactly this value. `name` is what reports
    show (the `goal` dimension and filter, funnel steps): by default the event's name, or
    "Visit " and the page pattern."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str | None, Field(min_length=1, max_length=300)] = None
    page: Annotated[str | None, Field(min_length=1, max_length=256, pattern=r"^/")] = None
    event: Annotated[str | None, Field(min_length=1, max_length=120)] = None
    props: Annotated[dict[PropKey, PropValue] | None, Field(max_length=10)] = None
    currency: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z]{3}$",
            description="ISO 4217 code: a revenue goal, whose events carry an amount in it",
        ),
    ] = None

    @model_validator(mode="after")
    def _one_kind(self) -> GoalIn:
        if (self.page is None) == (self.event is None):
            raise ValueError("a goal is either a page or an event")
        if self.page is not None and (self.props or self.currency):
            raise ValueError("props and currency are for event goals")
        if self.currency is not None:
            self.currency = self.currency.upper()
            if pycountry.currencies.get(alpha_3=self.currency) is None:
                raise ValueError(f"currency: {self.currency} is not an ISO 4217 code")
        return self

    def display_name(self) -> str:
        if self.name is not None:
            return self.name
        return self.event if self.event is not None else f"Visit {self.page}"


class GoalOut(BaseModel):
    id: str
    name: str
    page: str | None
    event: str | None
    props: dict[str, str] | None
    currency: str | None
    created_at: datetime


class GoalList(BaseModel):
    goals: list[GoalOut]
    implicit: bool = Field(
        description="true while the site has no goals: then every custom event (not pageview, "
        "engagement, outbound, download or 404) is a goal under its own name, as before goals "
        "could be registered; the first goal registered ends this"
    )
