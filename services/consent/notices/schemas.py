"""Wire models of purposes and notices."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PurposeOut(BaseModel):
    purpose: str
    title: str
    description: str
    notice_sha256: str
    dpv_term: str
    consent_mode: list[str]
    gpc_opt_out: bool
    lifetime_days: int


class NoticeOut(BaseModel):
    site_id: str
    notice_version: int
    purposes: list[PurposeOut]


class PurposesOut(NoticeOut):
    controller: str = Field(
        description="who decides about the data: the site's controller setting, else its domain"
    )
    privacy_url: str | None = Field(description="the site's privacy policy, if set")
    lang: str = Field(
        description="the language the words are in (en when the one asked is not spoken)"
    )
    strings: dict[str, str] = Field(
        description="the site's own wording of the widget in that language, over "
        "/consent/i18n/{lang}.json"
    )
