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
