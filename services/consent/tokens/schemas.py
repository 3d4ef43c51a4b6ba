"""Wire models of identification consent tokens."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


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
