"""What the first-run forms send, parsed (outside data: every field bounded and checked)."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.api.web.accounts.schemas import Email
from services.api.web.accounts.service import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS
from shared.sites import normalise_domain

# The setup link's token as `issue_setup_token` makes it (token_urlsafe(32): 43 characters).
SETUP_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def check_setup_token(raw: str) -> str:
    if not SETUP_TOKEN.match(raw):
        raise ValueError("not a setup token")
    return raw


def check_zone(raw: str) -> str:
    zone = raw.strip()
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        raise ValueError("not a time zone") from None
    if "/" not in zone and zone != "UTC":
        raise ValueError("not a time zone")  # "Zulu", "EST": legacy names, ambiguous
    return zone


def check_domain(raw: str) -> str:
    return normalise_domain(raw)


Password = Annotated[str, Field(min_length=MIN_PASSWORD_CHARS, max_length=MAX_PASSWORD_CHARS)]


class OwnerForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    token: Annotated[str, Field(max_length=64), AfterValidator(check_setup_token)]
    email: Email
    password: Password
    password_again: str = Field(max_length=MAX_PASSWORD_CHARS)

    @model_validator(mode="after")
    def same_password(self) -> OwnerForm:
        if self.password != self.password_again:
            raise ValueError("the two passwords differ")
        return self


class SiteForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(check_domain)]
    timezone: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_zone)] = "UTC"
