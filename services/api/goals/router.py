"""HTTP surface of goals: list, register, delete a site's goals."""

from __future__ import annotations

from fastapi import APIRouter, Response

from services.api.goals.schemas import GoalIn, GoalList, GoalOut
from services.api.goals.service import create_goal, delete_goal, list_goals
from services.api.keys.dependencies import KEY_ERRORS, SiteDefinitionsWriteKey, SiteStatsKey
from shared.errors import problem_responses
from shared.runtime import ResourcesDep
from shared.storable import IdPath

router = APIRouter(prefix="/v1")  # composed with the other domains by services.api.router

GOALS = "/sites/{site_id}/goals"
GoalId = IdPath


@router.get(
    GOALS,
    tags=["goals"],
    operation_id="listGoals",
    summary="The site's goals (and whether custom events count as goals without any)",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def goals(key: SiteStatsKey, resources: ResourcesDep) -> GoalList:
    found = await list_goals(engine=resources.engine, site_id=key.site_id)
    return GoalList(goals=found, implicit=not found)


# Writing a goal changes every conversion figure from then on: it needs definitions:write,
# as changing the engagement definition does.
@router.post(
    GOALS,
    tags=["goals"],
    operation_id="createGoal",
    summary="Register a page, custom-event or revenue goal",
    description="The first goal registered ends the implicit rule (every custom event a "
    "goal): from then on only registered goals convert.",
    status_code=201,
    responses=problem_responses(*KEY_ERRORS, 409, 422),
)
async def add_goal(body: GoalIn, key: SiteDefinitionsWriteKey, resources: ResourcesDep) -> GoalOut:
    return await create_goal(engine=resources.engine, site_id=key.site_id, body=body)


@router.delete(
    GOALS + "/{goal_id}",
    tags=["goals"],
    operation_id="deleteGoal",
    summary="Delete a goal (its events stay; they stop converting)",
    status_code=204,
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def remove_goal(
    key: SiteDefinitionsWriteKey, goal_id: GoalId, resources: ResourcesDep
) -> Response:
    await delete_goal(engine=resources.engine, site_id=key.site_id, goal_id=goal_id)
    return Response(status_code=204)
