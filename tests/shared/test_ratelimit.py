"""The window limiter shared by the API (per key) and consent (per client, site, address)."""

from __future__ import annotations

import pytest
from starlette.datastructures import State

from shared.ratelimit import InProcessRateLimiter, note_verdict, rate_limit_headers
from tests.helpers.ratelimit import sf_list

pytestmark = pytest.mark.anyio


async def test_a_window_allows_its_limit_then_resets() -> None:
    limiter = InProcessRateLimiter()
    verdicts = [await limiter.hit("k", limit=2, window_s=60, now=130.0) for _ in range(3)]
    assert [v.allowed for v in verdicts] == [True, True, False]
    assert verdicts[-1].retry_after_s == 50  # the window [120, 180) ends at 180
    assert (await limiter.hit("k", limit=2, window_s=60, now=180.0)).allowed


async def test_many_distinct_keys_do_not_grow_memory_without_bound() -> None:
    """Consent counts per client: a spray of addresses must not keep every ended window."""

    class Small(InProcessRateLimiter):
        PRUNE_ABOVE = 100

    limiter = Small()
    for n in range(100):
        await limiter.hit(f"old-{n}", limit=5, window_s=60, now=10.0)
    assert len(limiter) == 100
    await limiter.hit("new", limit=5, window_s=60, now=70.0)  # the old windows have ended
    assert len(limiter) == 1
    for n in range(150):
        await limiter.hit(f"live-{n}", limit=5, window_s=60, now=75.0)
    assert len(limiter) == 151  # windows still running are kept: their counts matter


async def test_verdicts_become_ratelimit_fields_of_the_ietf_draft() -> None:
    """`RateLimit-Policy: "name";q=..;w=..` and `RateLimit: "name";r=..;t=..`, one list
    member per budget the request spent, parsed here as structured-field lists."""
    assert rate_limit_headers(None) == []
    assert rate_limit_headers({}) == []
    scope_state: dict[str, object] = {}
    state = State(scope_state)
    limiter = InProcessRateLimiter()
    for _ in range(3):
        note_verdict(state, "client", await limiter.hit("c", limit=5, window_s=60, now=130.0))
    note_verdict(state, "site", await limiter.hit("s", limit=100, window_s=3600, now=130.0))
    fields = dict(rate_limit_headers(scope_state))
    policy = sf_list(fields[b"ratelimit-policy"])
    now = sf_list(fields[b"ratelimit"])
    assert policy == [
        ("client", {"q": 5, "w": 60}),
        ("site", {"q": 100, "w": 3600}),
    ]
    assert now == [
        ("client", {"r": 2, "t": 50}),  # the third request of five; the window ends at 180
        ("site", {"r": 99, "t": 3470}),
    ]
