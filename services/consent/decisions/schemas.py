"""Wire models of a decision: the choices sent, the state and receipt returned."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from services.consent.state.schemas import StateOut

PurposeName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
Jurisdiction = Annotated[
    str,
    Field(
        max_length=16,
        pattern=r"^[A-Z]{2,3}(-[A-Z0-9]{1,3})?$",
        description="A hint the site gives (e.g. EU, US-CA), never derived from the IP address.",
    ),
]


class DecisionIn(BaseModel):
    """The visitor's choices, purpose by purpose (true: give, false: refuse or withdraw)."""

    model_config = ConfigDict(extra="forbid")

    choices: Annotated[dict[PurposeName, bool], Field(min_length=1, max_length=20)]
    method: Literal["widget", "api"] = "api"
    jurisdiction: Jurisdiction | None = None
    credential: Annotated[
        str | None,
        Field(
            max_length=255,
            description="The subject credential, for clients that cannot send an "
            "Authorization header (text/plain posts from the widget).",
        ),
    ] = None


decision_in_adapter: TypeAdapter[DecisionIn] = TypeAdapter(DecisionIn)


class DecisionOut(StateOut):
    credential: str | None = Field(
        None, description="Only when the decision created the subject: keep it, it is shown once."
    )
    receipt: dict[str, Any] | None
    token: str | None = Field(None, description="An identification consent token, when granted.")
