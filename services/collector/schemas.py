"""Wire format of the snippet (terse keys keep the script small; the names here explain them)."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, TypeAdapter

EventName = Annotated[str, StringConstraints(min_length=1, max_length=120, strip_whitespace=True)]
SiteId = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
PageUrl = Annotated[HttpUrl, Field(max_length=2048)]


class EventIn(BaseModel):
    """One event as the snippet sends it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    site_id: SiteId = Field(alias="s", description="The site id from the script tag.")
    name: EventName = Field(alias="n", description="'pageview' or a custom event name.")
    url: PageUrl = Field(alias="u", description="The page URL (query and fragment are dropped).")
    referrer: Annotated[str, Field(max_length=2048)] | None = Field(
        default=None, alias="r", description="document.referrer (query is dropped)."
    )
    event_id: uuid.UUID = Field(
        alias="i", description="Random id made by the snippet; a resend with it counts once."
    )


event_in_adapter: TypeAdapter[EventIn] = TypeAdapter(EventIn)
