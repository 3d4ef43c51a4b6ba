"""Wire models of the consent API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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


class PurposeOut(BaseModel):
    purpose: str
    title: str
    description: str
    notice_sha256: str
    dpv_term: str
    consent_mode: list[str]
    gpc_opt_out: bool


class PurposeStateOut(PurposeOut):
    status: str | None
    granted: bool
    ask: bool
    decided_at: str | None
    expires_at: str | None


class PurposesOut(BaseModel):
    site_id: str
    notice_version: int
    purposes: list[PurposeOut]


class NoticeOut(PurposesOut):
    pass


class StateOut(BaseModel):
    subject_id: str
    notice_version: int
    purposes: list[PurposeStateOut]
    consent_mode: dict[str, Literal["granted", "denied"]]


class DecisionOut(StateOut):
    credential: str | None = Field(
        None, description="Only when the decision created the subject: keep it, it is shown once."
    )
    receipt: dict[str, Any] | None
    token: str | None = Field(None, description="An identification consent token, when granted.")


class HistoryOut(BaseModel):
    subject_id: str
    entries: list[dict[str, Any]]
    receipts: list[dict[str, Any]]


class KeysOut(BaseModel):
    keys: list[dict[str, str]]


class TokenOut(BaseModel):
    token: str
    expires_at: str


class TokenCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Annotated[str, Field(max_length=2048)]


class TokenCheckOut(BaseModel):
    linkable: bool
    subject_id: str
    expires_at: str


class AssertionIn(BaseModel):
    """An identity the site's backend vouches for, signed with the site's assertion secret."""

    model_config = ConfigDict(extra="forbid")

    subject_id: Annotated[str, Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
    kind: Literal["email", "external_id"]
    value: Annotated[str, Field(min_length=1, max_length=254)]
    issued_at: Annotated[int, Field(description="Unix seconds; at most 5 minutes old.")]
    signature: Annotated[
        str,
        Field(
            min_length=64,
            max_length=64,
            description='hex HMAC-SHA256 over "overt-identity-v1\\n{site}\\n{subject}\\n'
            '{kind}\\n{value}\\n{issued_at}"',
        ),
    ]


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(min_length=3, max_length=254)]


class IdentityOut(BaseModel):
    kind: str
    method: str
    purpose: str
    verified_at: str | None


class RequestOut(BaseModel):
    request_id: str
    kind: str
    regime: str
    due_at: str | None
    completed_at: str | None
