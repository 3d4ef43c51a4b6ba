"""The requests Overt sends to a webhook, documented as the OpenAPI 3.1 `webhooks` of the
API's spec (they are described here, never served: a receiver implements them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header

from services.api.people.schemas import (
    ConsentEndedEvent,
    GoalCompletedEvent,
    IntentCrossedEvent,
    WebhookEvent,
)
from shared.app import operation_id

# Readable operation ids (`contactWithdrawn`), as every route of the services has.
webhook_docs = APIRouter(tags=["webhooks"], generate_unique_id_function=operation_id)

SIGNED = (
    "Signed in the Standard Webhooks format: verify `webhook-signature` (`v1,<base64 "
    "HMAC-SHA256>` over `webhook-id.webhook-timestamp.body`, the key being the base64 "
    "decoding of the secret after `whsec_`) with any Standard Webhooks library, refuse "
    "timestamps more than five minutes off, and deduplicate on `webhook-id` (the same on "
    "every retry). Answer 2xx; anything else is retried with exponential backoff."
)

WebhookId = Annotated[str, Header(alias="webhook-id", description="the delivery id")]
WebhookTimestamp = Annotated[
    str, Header(alias="webhook-timestamp", description="Unix seconds of this attempt")
]
WebhookSignature = Annotated[
    str, Header(alias="webhook-signature", description="space-separated `v1,<base64>`")
]


@webhook_docs.post(
    WebhookEvent.intent_threshold_crossed.value,
    summary="A consented contact crossed the site's intent threshold (once per definition)",
    description="The contact, with the identity it shared (e-mail or external id, display "
    "name), its score, explanation and intent signals. Consent is checked again when the "
    "request is sent: nothing goes out after a withdrawal. " + SIGNED,
)
async def intent_threshold_crossed(
    body: IntentCrossedEvent,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Documentation only."""


@webhook_docs.post(
    WebhookEvent.goal_completed.value,
    summary="A consented contact completed a goal (each goal event once)",
    description="The contact as in contact.intent_threshold_crossed, and the goal: its "
    "name, when and on which page. Consent is checked again when the request is sent. " + SIGNED,
)
async def goal_completed(
    body: GoalCompletedEvent,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Documentation only."""


@webhook_docs.post(
    WebhookEvent.contact_withdrawn.value,
    summary="A contact's identification consent ended: stop using what you received",
    description="Sent to every subscription that ever received the subject, whatever it "
    "subscribed to and even after it was deleted; nothing else about the subject follows "
    "it. " + SIGNED,
)
async def contact_withdrawn(
    body: ConsentEndedEvent,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Documentation only."""


@webhook_docs.post(
    WebhookEvent.contact_deleted.value,
    summary="A contact was erased: delete what you hold about it",
    description="Sent to every subscription that ever received the subject. " + SIGNED,
)
async def contact_deleted(
    body: ConsentEndedEvent,
    webhook_id: WebhookId,
    webhook_timestamp: WebhookTimestamp,
    webhook_signature: WebhookSignature,
) -> None:
    """Documentation only."""
