"""The traffic the query and report tests count: `traffic` sends it through POST /e and waits
for the worker; `ask` and `rows` query it over the last two days.

What `traffic` sends, and every number it adds up to, is written out in the docstring of
tests/api/test_query_engine.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers.overt import Overt

GOOGLE, BING, DDG = "https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/"


def agent(name: str) -> dict[str, str]:
    return {"user-agent": f"Mozilla/5.0 (X11; Linux x86_64) Visitor-{name}/1.0"}


async def visit(
    overt: Overt,
    who: str,
    path: str,
    *,
    referrer: str | None = None,
    engaged_ms: int | None = None,
    scroll: int | None = None,
    extra: list[dict[str, object]] | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    pageview = overt.event(u=f"https://example.com{path}", r=referrer)
    batch: list[dict[str, object]] = [pageview]
    if engaged_ms is not None:
        batch.append(
            overt.event(
                n="engagement",
                u=f"https://example.com{path}",
                v=pageview["i"],
                e=engaged_ms,
                d=scroll,
            )
        )
    batch.extend(extra or [])
    response = await overt.send(batch, **agent(who), **(headers or {}))
    assert response.status_code == 202, response.text


async def traffic(overt: Overt) -> None:
    for i in range(6):
        goal = (
            [overt.event(n="Signup", u="https://example.com/pricing", p={"plan": "pro"})]
            if i < 5
            else []
        )
        await visit(
            overt,
            f"a{i}",
            "/pricing",
            referrer=GOOGLE,
            engaged_ms=12_000 + 1000 * i,
            scroll=40 + 10 * i,
            extra=goal,
        )
    for i in range(6):
        docs = [overt.event(u="https://example.com/docs")] if i == 0 else []
        await visit(overt, f"b{i}", "/", engaged_ms=1000 * (i + 1), scroll=10 * (i + 1), extra=docs)
    for i in range(3):
        await visit(overt, f"c{i}", "/blog", referrer=BING)
    for i in range(2):
        await visit(overt, f"d{i}", "/blog", referrer=DDG)
    await overt.drained()


def days() -> list[str]:
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=1)).isoformat(), today.isoformat()]


async def ask(overt: Overt, key: str | None = None, **query: Any) -> httpx.Response:
    body = {"site_id": overt.site.id, "date_range": days(), **query}
    return await overt.client.post(
        "/v1/query", json=body, headers={"authorization": f"Bearer {key or overt.key}"}
    )


async def rows(overt: Overt, **query: Any) -> list[list[Any]]:
    response = await ask(overt, **query)
    assert response.status_code == 200, response.text
    return [[row["dimensions"], row["metrics"]] for row in response.json()["results"]]
