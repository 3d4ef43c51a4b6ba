"""Wire models of identity verification: a site's assertion, a visitor's address."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.storable import JsonInt


class AssertionIn(BaseModel):
    """An identity the site's backend vouches for, signed with the site's assertion secret."""

    model_config = ConfigDict(extra="forbid")

    subject_id: Annotated[str, Field(min_length=32, max_length=32, pattern=r"^[0-9a-f]{32}$")]
    kind: Literal["email", "external_id"]
    value: Annotated[str, Field(min_length=1, max_length=254)]
    issued_at: Annotated[JsonInt, Field(description="Unix seconds; at most 5 minutes old.")]
    signature: Annotated[
        str,
        Field(
            min_length=64,
            max_length=64,
            description='hex HMAC-SHA256 over "overt-identity-v1\\n{site}\\n{subject}\\n'
            '{kind}\\n{value}\\n{issued_at}", followed by "\\n{display_name}" when one is given',
        ),
    ]
    display_name: (
        Annotated[
            str,
            Field(
                min_length=1,
                max_length=200,
                pattern=r"^[^\x00-\x1f\x7f]+$",
                description="how the person is named (optional, no control characters); "
                "shown with the contact while identification consent lasts",
            ),
        ]
        | None
    ) = None


class EmailIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[str, Field(min_length=3, max_length=254)]


class IdentityOut(BaseModel):
    kind: str
    method: str
    purpose: str
    verified_at: str | None
