"""Wire models of a decision: the choices sent, the state and receipt returned."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from services.consent.ledger.service import Source
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
    method: Literal["widget", "api", "cmp"] = "api"
    jurisdiction: Jurisdiction | None = None
    shown: Annotated[
        dict[PurposeName, Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]] | None,
        Field(
            max_length=20,
            description="The notice_sha256 of each purpose's text as shown to the visitor. "
            "When sent, consent (true) to a text that is no longer current is refused (409).",
        ),
    ] = None
    credential: Annotated[
        str | None,
        Field(
            max_length=255,
            description="The subject credential, for clients that cannot send an "
            "Authorization header (text/plain posts from the widget).",
        ),
    ] = None
    source: Annotated[
        Source | None,
        Field(
            description="With method `cmp`: the consent manager whose dialog the visitor "
            "answered (its bridge script, /consent/cmp/NAME.js, sends it).",
        ),
    ] = None
    notice_sha256: Annotated[
        str | None,
        Field(
            pattern=r"^[0-9a-f]{64}$",
            description="With method `cmp`: SHA-256 (hex) of the text that consent manager "
            "showed, recorded in the ledger instead of Overt's notice.",
        ),
    ] = None

    @model_validator(mode="after")
    def cmp_fields_go_together(self) -> DecisionIn:
        cmp = self.method == "cmp"
        if cmp != (self.source is not None) or cmp != (self.notice_sha256 is not None):
            raise ValueError(
                "method `cmp` needs `source` and `notice_sha256`, and only it has them"
            )
        return self


decision_in_adapter: TypeAdapter[DecisionIn] = TypeAdapter(DecisionIn)


class DecisionOut(StateOut):
    credential: str | None = Field(
        None, description="Only when the decision created the subject: keep it, it is shown once."
    )
    receipt: dict[str, Any] | None
    token: str | None = Field(None, description="An identification consent token, when granted.")
