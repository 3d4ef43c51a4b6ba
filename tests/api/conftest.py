"""An all-in-one app whose webhook sender may call a receiver on 127.0.0.1, retrying fast."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.api.keys.service import create_key
from shared.keys import KeyScope
from shared.runtime import open_resources
from shared.settings import Settings
from shared.sites import create_site
from tests.helpers.overt import Overt, make_app, running


@pytest.fixture
async def people(settings: Settings) -> AsyncIterator[Overt]:
    """Like `overt`, with local webhook targets allowed and quick retries; the webhook sender
    is driven by the tests (webhook_pass), not a background task, so every step is seen."""
    tuned = settings.model_copy(
        update={
            "webhook_allow_private": True,
            "webhook_retry_base_s": 0.05,
            "webhook_poll_s": 0.05,
            "webhook_intent_scan_s": 0.05,
            "api_rate_window_s": 3600,  # rate-limit counts never straddle a window in a test
        }
    )
    async with open_resources(tuned) as resources:
        site = await create_site(engine=resources.engine, domain="example.com")
        _, key = await create_key(
            engine=resources.engine, site_id=site.id, scopes=[KeyScope.stats_read]
        )
        app = make_app(resources)
        async with running(app) as client:
            yield Overt(resources=resources, app=app, client=client, site=site, key=key)
