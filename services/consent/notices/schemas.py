"""Wire models of purposes and notices."""

from __future__ import annotations

from pydantic import BaseModel


class PurposeOut(BaseModel):
    purpose: str
    title: str
    description: str
    notice_sha256: str
    dpv_term: str
    consent_mode: list[str]
    gpc_opt_out: bool
    lifetime_days: int


class PurposesOut(BaseModel):
    site_id: str
    notice_version: int
    purposes: list[PurposeOut]


class NoticeOut(PurposesOut):
    pass
