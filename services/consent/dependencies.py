"""The site a request is about, and the subject behind a credential."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.consent.exceptions import InvalidSubject, SubjectRequired
from services.consent.identities import MailSettings
from services.consent.service import authenticate_subject, ensure_site
from shared.runtime import ResourcesDep
from shared.sites import Site

bearer = HTTPBearer(
    auto_error=False, description="The subject credential returned with the first decision."
)

SiteIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]


async def get_site(site_id: SiteIdPath, resources: ResourcesDep) -> Site:
    """The site in the path, set up for consent on first use; 404 when unknown."""
    return await ensure_site(
        engine=resources.engine, secret=resources.settings.secret(), site_id=site_id
    )


SiteDep = Annotated[Site, Depends(get_site)]


@dataclass(frozen=True, slots=True)
class Subject:
    site: Site
    subject_id: str


async def get_subject(
    site: SiteDep,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Subject:
    """The subject behind the Bearer credential, for the site in the path; 401 otherwise."""
    if credentials is None:
        raise SubjectRequired()
    subject_id = await authenticate_subject(
        engine=resources.engine, site_id=site.id, credential=credentials.credentials
    )
    if subject_id is None:
        raise InvalidSubject()
    return Subject(site=site, subject_id=subject_id)


SubjectDep = Annotated[Subject, Depends(get_subject)]


def mail_settings() -> MailSettings:
    """SMTP settings from OVERT_SMTP_* (tests override this dependency)."""
    return MailSettings()


MailDep = Annotated[MailSettings, Depends(mail_settings)]
