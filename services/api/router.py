"""HTTP surface of the API for marketing tools: the one /v1 router, composed of each domain's.

It is also where the domains meet: people's campaign outcomes reach the stats reports
through the reports' provider hook, so that stats and people never import each other; and
imported data (transfer) reaches /v1/query through the query's imports provider.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.api.engagement.router import router as engagement_router
from services.api.goals.router import router as goals_router
from services.api.people.outcomes import outcomes_by_campaign
from services.api.people.router import router as people_router
from services.api.stats.imports import register_imports_provider
from services.api.stats.reports import register_outcome_provider
from services.api.stats.router import router as stats_router
from services.api.transfer.included import imported_rows
from services.api.transfer.router import router as transfer_router
from services.api.web.router import router as web_router

register_outcome_provider(outcomes_by_campaign)
register_imports_provider(imported_rows)

# Each domain's router carries the /v1 prefix itself: a request's route template (the
# metrics label) is the path its own router declared, so a prefix added here would be lost.
router = APIRouter()
router.include_router(stats_router)
router.include_router(engagement_router)
router.include_router(goals_router)
router.include_router(people_router)
router.include_router(transfer_router)
router.include_router(web_router)
