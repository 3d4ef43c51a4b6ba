"""HTTP surface of people: contacts, outcomes and their report, webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from services.api.keys.dependencies import (
    KEY_ERRORS,
    ContactsKey,
    OutcomesKey,
    StatsKey,
    WebhooksKey,
    check_own_site,
)
from services.api.people.contacts import get_contact, list_contacts
from services.api.people.exceptions import ContactNotFound
from services.api.people.outcomes import outcome_report, record_outcome
from services.api.people.schemas import (
    ContactDetail,
    ContactList,
    DeliveryList,
    OutcomeIn,
    OutcomeOut,
    OutcomeReport,
    OutcomeReportIn,
    WebhookCreated,
    WebhookIn,
    WebhookList,
)
from services.api.people.webhooks import (
    create_subscription,
    delete_subscription,
    delivery_log,
    list_subscriptions,
)
from shared.errors import problem_responses
from shared.runtime import ResourcesDep
from shared.storable import IdPath

router = APIRouter(prefix="/v1")  # composed with the other domains by services.api.router

SITE = "/sites/{site_id}"
WebhookId = IdPath
SubjectPath = IdPath


@router.get(
    SITE + "/contacts",
    tags=["contacts"],
    operation_id="listContacts",
    summary="Consented contacts (active identification consent) with score and intent",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def contacts(
    key: ContactsKey,
    resources: ResourcesDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="contacts per page")] = 100,
    offset: Annotated[int, Query(ge=0, description="contacts to skip (by score order)")] = 0,
) -> ContactList:
    version, found = await list_contacts(
        engine=resources.engine, secret=resources.settings.secret(), site_id=key.site_id
    )
    return ContactList(
        contacts=found[offset : offset + limit], total=len(found), definition_version=version
    )


@router.get(
    SITE + "/contacts/{subject_id}",
    tags=["contacts"],
    operation_id="getContact",
    summary="One consented contact with its engagement timeline",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def contact(
    key: ContactsKey, subject_id: SubjectPath, resources: ResourcesDep
) -> ContactDetail:
    found = await get_contact(
        engine=resources.engine,
        secret=resources.settings.secret(),
        site_id=key.site_id,
        subject_id=subject_id,
    )
    if found is None:
        raise ContactNotFound()
    return found


@router.post(
    SITE + "/outcomes",
    tags=["outcomes"],
    operation_id="recordOutcome",
    summary="Record what happened later, for a consented subject or a campaign (idempotent)",
    status_code=201,
    responses={
        200: {"description": "already recorded with this id and body", "model": OutcomeOut},
        **problem_responses(*KEY_ERRORS, 409, 422),
    },
)
async def outcomes(
    body: OutcomeIn, key: OutcomesKey, resources: ResourcesDep, response: Response
) -> OutcomeOut:
    stored, created = await record_outcome(engine=resources.engine, site_id=key.site_id, body=body)
    if not created:
        response.status_code = 200
    return stored


@router.post(
    "/reports/outcomes",
    tags=["outcomes"],
    operation_id="reportOutcomes",
    summary="How often good outcomes followed each intent signal and score band (lift)",
    description="Over a date range in the site's time zone: subjects are scored on their "
    "events in it, outcomes count when they occurred in it, and only consented subjects with "
    "an event or an outcome in it are counted. Groups of fewer than k subjects are reported "
    "as null (`suppressed`). A reversed range or one longer than ten years is a 422.",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def outcomes_report(
    body: OutcomeReportIn, key: StatsKey, resources: ResourcesDep
) -> OutcomeReport:
    check_own_site(key, body.site_id)
    return await outcome_report(engine=resources.engine, query=body)


@router.post(
    SITE + "/webhooks",
    tags=["webhooks"],
    operation_id="createWebhook",
    summary="Subscribe an endpoint; the signing secret is in this answer only",
    status_code=201,
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def create_webhook(
    body: WebhookIn, key: WebhooksKey, resources: ResourcesDep
) -> WebhookCreated:
    made, secret = await create_subscription(
        engine=resources.engine, settings=resources.settings, site_id=key.site_id, body=body
    )
    return WebhookCreated(**made.model_dump(), secret=secret)


@router.get(
    SITE + "/webhooks",
    tags=["webhooks"],
    operation_id="listWebhooks",
    summary="The site's webhook subscriptions",
    responses=problem_responses(*KEY_ERRORS, 422),
)
async def webhooks(key: WebhooksKey, resources: ResourcesDep) -> WebhookList:
    return WebhookList(
        webhooks=await list_subscriptions(engine=resources.engine, site_id=key.site_id)
    )


@router.delete(
    SITE + "/webhooks/{webhook_id}",
    tags=["webhooks"],
    operation_id="deleteWebhook",
    summary="Unsubscribe (erasure notices still reach it for subjects it received)",
    status_code=204,
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def remove_webhook(
    key: WebhooksKey, webhook_id: WebhookId, resources: ResourcesDep
) -> Response:
    await delete_subscription(engine=resources.engine, site_id=key.site_id, webhook_id=webhook_id)
    return Response(status_code=204)


@router.get(
    SITE + "/webhooks/{webhook_id}/deliveries",
    tags=["webhooks"],
    operation_id="listWebhookDeliveries",
    summary="The delivery log: each delivery with every attempt",
    responses=problem_responses(*KEY_ERRORS, 404, 422),
)
async def deliveries(
    key: WebhooksKey, webhook_id: WebhookId, resources: ResourcesDep
) -> DeliveryList:
    return DeliveryList(
        deliveries=await delivery_log(
            engine=resources.engine, site_id=key.site_id, webhook_id=webhook_id
        )
    )
