"""Wire model of the widget's hand-over to the preference page."""

from __future__ import annotations

from pydantic import BaseModel, Field


class HandoverOut(BaseModel):
    url: str = Field(
        description="the preference page's hand-over link (path on Overt's origin); it opens "
        "the visitor's choices when followed from the site's pages before expires_at"
    )
    expires_at: str
