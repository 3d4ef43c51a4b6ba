"""Imported data in answers (`include.imports`): the one place query.py hands a query over.

The site's own answer is computed as usual (all its rows), the imported rows for the same
query are asked of the provider (registered by the API's composition root, so that stats
never imports the transfer domain that stores them), and rows with the same dimension values
are added up; then the rows are ordered and paginated as the query asks. The provider says
when the imported aggregates cannot answer a query (a metric, dimension or filter they do
not hold); the answer is then the site's own, and `meta.imports_skip_reason` says why.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.stats.schemas import Include, QueryIn, QueryOut, QueryRow

Row = tuple[list[str], list[int | float | None]]


@dataclass(frozen=True, slots=True)
class ImportedRows:
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


# (engine, query, site time zone, k) -> the imported rows, or why there can be none
ImportsProvider = Callable[[AsyncEngine, QueryIn, str, int], Awaitable[ImportedRows | str]]
_providers: list[ImportsProvider] = []
NATIVE_PAGE = 1000


def register_imports_provider(provider: ImportsProvider) -> None:
    """Set where imported rows come from (the API's router does, once)."""
    _providers[:] = [provider]


async def with_imports(
    *,
    engine: AsyncEngine,
    query: QueryIn,
    timeout_s: float,
    native: Callable[..., Awaitable[QueryOut]],
) -> QueryOut:
    """The answer to `query` with the site's imports added where they can answer it."""
    from services.api.stats.query import shape_rows  # one home for ordering and pages

    if query.comparisons is not None:
        alone = await native(
            engine=engine,
            query=query.model_copy(update={"include": Include()}),
            timeout_s=timeout_s,
        )
        reason = "imported data is not added to comparisons"
        skipped = alone.meta.model_copy(update={"imports_skip_reason": reason})
        return alone.model_copy(update={"meta": skipped, "query": query})
    own = query.model_copy(update={"include": Include(), "offset": 0, "limit": NATIVE_PAGE})
    first = await native(engine=engine, query=own, timeout_s=timeout_s)
    rows: list[Row] = [(r.dimensions, r.metrics) for r in first.results]
    offset = NATIVE_PAGE
    while offset < first.meta.total_rows:
        page = own.model_copy(update={"offset": offset})
        answer = await native(engine=engine, query=page, timeout_s=timeout_s)
        rows += [(r.dimensions, r.metrics) for r in answer.results]
        offset += NATIVE_PAGE
    meta = first.meta
    imported: ImportedRows | str = "no source of imported data is set up"
    if _providers:
        # the days answered: a relative range ("7d") resolved by the site's own answer
        days = query.model_copy(update={"date_range": meta.date_range or query.date_range})
        imported = await _providers[0](engine, days, meta.timezone, meta.k)
    if isinstance(imported, str):
        shaped = shape_rows(
            [(d, v, 0, 0, False) for d, v in rows], query=query, k=1, folded_groups=0
        )
        skipped = meta.model_copy(update={"imports_skip_reason": imported})
        return QueryOut(
            results=[QueryRow(dimensions=d, metrics=v) for d, v in shaped.rows],
            meta=skipped,
            query=query,
        )
    merged: dict[tuple[str, ...], list[int | float | None]] = {}
    for dims, values in [*rows, *imported.rows]:
        key = tuple(dims)
        if key not in merged:
            merged[key] = list(values)
            continue
        merged[key] = [
            None if a is None and b is None else (a or 0) + (b or 0)
            for a, b in zip(merged[key], values, strict=True)
        ]
    shaped = shape_rows(
        [(list(d), v, 0, 0, False) for d, v in merged.items()],
        query=query,
        k=1,
        folded_groups=0,
    )
    return QueryOut(
        results=[QueryRow(dimensions=d, metrics=v) for d, v in shaped.rows],
        meta=meta.model_copy(
            update={
                "imports_included": True,
                "total_rows": shaped.total_rows,
                "notes": [*meta.notes, *imported.notes],
            }
        ),
        query=query,
    )
