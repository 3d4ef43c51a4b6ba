"""Fixtures for consent tests: a site set up for consent (helpers: tests/helpers/consent.py)."""

from __future__ import annotations

import pytest

from services.consent.sites.service import ensure_site
from shared.sites import Site
from tests.helpers.overt import Overt


@pytest.fixture
async def site(overt: Overt) -> Site:
    """The test site with its consent keys, chain and default purposes."""
    return await ensure_site(
        engine=overt.resources.engine,
        secret=overt.resources.settings.secret(),
        site_id=overt.site.id,
    )


@pytest.fixture
def cli_env(overt: Overt, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `overt` command's environment pointed at the test's database and secret."""
    settings = overt.resources.settings
    monkeypatch.setenv("OVERT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    monkeypatch.delenv("OVERT_REDIS_URL", raising=False)
    if settings.secret_key is not None:
        monkeypatch.setenv("OVERT_SECRET_KEY", settings.secret_key.get_secret_value())
    else:
        monkeypatch.delenv("OVERT_SECRET_KEY", raising=False)
