"""What the first-run forms send, parsed (outside data: every field bounded and checked)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.api.web.accounts.schemas import NewAccountForm, check_link_token
from shared.sites import normalise_domain


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


class OwnerForm(NewAccountForm):
    """The first owner's account, made with the setup link's token."""

    token: Annotated[str, Field(max_length=64), AfterValidator(check_link_token)]


class SiteForm(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(check_domain)]
    timezone: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(check_zone)] = "UTC"
