"""An all-in-one app whose webhook sender may call a receiver on 127.0.0.1, retrying fast."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.settings import Settings
from tests.helpers.overt import Overt, overt_with


@pytest.fixture
async def people(settings: Settings) -> AsyncIterator[Overt]:
    """Like `overt`, with local webhook targets allowed and quick retries; the webhook sender
    is driven by the tests (webhook_pass), not a background task, so every step is seen."""
    async with overt_with(
        settings,
        webhook_allow_private=True,
        webhook_retry_base_s=0.05,
        webhook_poll_s=0.05,
        webhook_intent_scan_s=0.05,
        api_rate_window_s=3600,  # rate-limit counts never straddle a window in a test
    ) as overt:
        yield overt
