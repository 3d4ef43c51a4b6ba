"""The site a request is about, the subject behind a credential, the mail settings, whether
the browser asks for Global Privacy Control, and the client's rate-limit budgets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.consent.limits.service import Budget, request_budget
from services.consent.sites.service import ensure_site
from services.consent.subjects.exceptions import InvalidSubject, SubjectRequired
from services.consent.subjects.service import authenticate_subject
from shared.mail import MailSettings
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


def gpc_requested(sec_gpc: Annotated[str | None, Header()] = None) -> bool:
    """Whether the browser sent Global Privacy Control (`Sec-GPC: 1`)."""
    return (sec_gpc or "").strip() == "1"


GpcDep = Annotated[bool, Depends(gpc_requested)]


def get_budget(request: Request, resources: ResourcesDep) -> Budget:
    """The rate-limit budgets of the client behind the request."""
    return request_budget(request, resources)


BudgetDep = Annotated[Budget, Depends(get_budget)]


async def limit_writes(request: Request, budget: BudgetDep) -> None:
    """Every consent write (a POST about a site) spends one from the client's and the site's
    budgets, before any work is done; 429 + Retry-After when either is spent."""
    site_id = request.path_params.get("site_id")
    if request.method == "POST" and isinstance(site_id, str):
        await budget.spend_write(site_id)
