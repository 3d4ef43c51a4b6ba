"""Wire models of people: contacts, outcomes and their report, webhooks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    model_validator,
)

from services.api.days import check_date_range
from shared.storable import JsonInt, StorableBody

ClientId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
SubjectId = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")]
Campaign = Annotated[str, Field(min_length=1, max_length=256)]


# --- contacts -------------------------------------------------------------------------------


class TimelineEvent(BaseModel):
    occurred_at: datetime
    name: str
    page: str = Field(description="host and path")
    engaged_ms: int | None
    scroll_depth: int | None
    source: str | None
    utm_campaign: str | None


class Contribution(BaseModel):
    signal: str
    amount: float = Field(description="the signal's measured amount (seconds, pages, ...)")
    weight: float = Field(description="points per unit, from the site's definition")
    points: float = Field(description="amount x weight; the score is their sum, capped")


class IntentSignalOut(BaseModel):
    rule: str = Field(description="the name of the site's intent rule that matched")
    explanation: str


class ContactSummary(BaseModel):
    sessions: int
    pageviews: int
    engaged_ms: int
    max_scroll_depth: int
    goals: int
    high_intent_pageviews: int
    active_days: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None


class ContactIdentity(BaseModel):
    """The identity the visitor consented to share; present only while `identification`
    consent is active (read with it on every call)."""

    kind: str = Field(description="email | external_id (the site's own id for the person)")
    value: str = Field(description="the e-mail address or the external id")
    email: str | None = Field(description="the e-mail address, when that is the identity")
    display_name: str | None = Field(description="the name the site gave with it, if any")
    method: str = Field(description="site_assertion | email_link (confirmed by the visitor)")
    verified_at: datetime


class Contact(BaseModel):
    subject_id: str
    identity: ContactIdentity | None = Field(
        description="who the contact is, as they agreed to share it; null until an identity "
        "is linked, and gone with the consent"
    )
    score: float
    intent: bool = Field(
        description="an intent rule matched and the score reaches the intent threshold"
    )
    intent_threshold: float
    signals: list[IntentSignalOut] = Field(description="the intent rules that matched, explained")
    explanation: list[Contribution]
    summary: ContactSummary
    definition_version: int


class ContactDetail(Contact):
    timeline: list[TimelineEvent]


class ContactList(BaseModel):
    contacts: list[Contact] = Field(description="highest score first")
    total: int = Field(description="consented contacts in all pages")
    definition_version: int


# --- outcomes -------------------------------------------------------------------------------


class OutcomeKind(StrEnum):
    meeting_booked = "meeting_booked"
    call_taken = "call_taken"
    call_declined = "call_declined"
    deal_won = "deal_won"
    deal_lost = "deal_lost"
    revenue = "revenue"


GOOD_OUTCOMES = frozenset(
    {OutcomeKind.meeting_booked, OutcomeKind.call_taken, OutcomeKind.deal_won, OutcomeKind.revenue}
)


class OutcomeIn(StorableBody):
    """What happened later, for one consented subject or for a campaign."""

    model_config = ConfigDict(extra="forbid")

    id: ClientId = Field(description="your id for this outcome; posting it again is a no-op")
    kind: OutcomeKind
    subject_id: SubjectId | None = None
    utm_campaign: Campaign | None = None
    utm_source: Campaign | None = None
    amount: Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=6)] | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = Field(
        default=None, description="ISO 4217 code"
    )
    occurred_at: AwareDatetime | None = Field(default=None, description="default: now")

    @model_validator(mode="after")
    def _consistent(self) -> OutcomeIn:
        campaign = self.utm_campaign is not None or self.utm_source is not None
        if (self.subject_id is None) == (not campaign):
            raise ValueError("give either subject_id or a campaign (utm_campaign / utm_source)")
        if (self.amount is None) != (self.currency is None):
            raise ValueError("amount and currency go together")
        if self.kind == OutcomeKind.revenue and self.amount is None:
            raise ValueError("revenue needs amount and currency")
        return self


class OutcomeOut(BaseModel):
    id: str
    kind: OutcomeKind
    subject_id: str | None
    utm_campaign: str | None
    utm_source: str | None
    amount: str | None
    currency: str | None
    occurred_at: datetime
    recorded_at: datetime


class OutcomeReportIn(StorableBody):
    """Score bands are fixed by the definition (quarters of its score cap), not chosen by the
    caller: caller-chosen edges would let two reports be differenced down to one subject."""

    model_config = ConfigDict(extra="forbid")

    site_id: Annotated[str, Field(min_length=1, max_length=32)]
    date_range: Annotated[
        tuple[date, date],
        Field(
            description="First and last day, inclusive, in the site's time zone (at most ten "
            "years). Subjects are scored on their events in the range; outcomes count when "
            "they occurred in it; a subject is in the report when it has either in the range."
        ),
    ]
    k: Annotated[JsonInt, Field(ge=2, le=1000)] | None = Field(
        default=None,
        description="groups with fewer subjects are not reported; at least the site's k "
        "(default 5), a caller may only raise it",
    )

    @model_validator(mode="after")
    def _ordered(self) -> OutcomeReportIn:
        check_date_range(*self.date_range)
        return self


class LiftRow(BaseModel):
    group: str
    subjects: int | None = Field(description="null when fewer than k (suppressed)")
    good_outcomes: int | None
    rate: float | None
    lift: float | None = Field(description="rate / base rate; null when suppressed or no base")
    suppressed: bool


class CampaignOutcomes(BaseModel):
    utm_source: str | None
    utm_campaign: str | None
    outcomes: dict[str, int]
    revenue: dict[str, str] = Field(description="sum of amounts per currency")


class OutcomeReport(BaseModel):
    site_id: str
    date_range: tuple[date, date]
    timezone: str = Field(description="the site's time zone, in which the date range is read")
    k: int
    definition_version: int
    subjects: int | None = Field(description="consented subjects considered; null below k")
    good_outcomes: int | None
    base_rate: float | None
    signals: list[LiftRow]
    score_bands: list[LiftRow]
    campaigns: list[CampaignOutcomes]


# --- webhooks -------------------------------------------------------------------------------


class WebhookEvent(StrEnum):
    intent_threshold_crossed = "contact.intent_threshold_crossed"
    goal_completed = "contact.goal_completed"
    contact_withdrawn = "contact.withdrawn"
    contact_deleted = "contact.deleted"


# Notices a subscription gets about every subject it ever received, whatever it subscribed to
# and even after it was deleted: the end of that subject's consent, and its erasure.
CONSENT_NOTICES = frozenset({WebhookEvent.contact_withdrawn, WebhookEvent.contact_deleted})
TRIGGERS = frozenset({WebhookEvent.intent_threshold_crossed, WebhookEvent.goal_completed})


class DestinationKind(StrEnum):
    webhook = "webhook"  # signed JSON (Standard Webhooks)
    slack = "slack"  # a Slack incoming webhook: Block Kit messages
    hubspot = "hubspot"  # HubSpot CRM v3: the contact is created, updated and deleted there


HUBSPOT_API = "https://api.hubapi.com"


class WebhookIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    kind: DestinationKind = Field(
        default=DestinationKind.webhook,
        description="webhook (signed JSON), slack (an incoming-webhook URL; Block Kit alerts "
        "naming the contact) or hubspot (url: the API base, https://api.hubapi.com)",
    )
    url: AnyHttpUrl
    events: Annotated[
        list[WebhookEvent],
        Field(
            min_length=1,
            max_length=10,
            description="what to send (for slack and hubspot: the triggers, "
            "contact.intent_threshold_crossed and contact.goal_completed). contact.withdrawn "
            "(the subject's identification consent ended: data {subject_id, reason: "
            "withdrawn | expired | gpc_opt_out | refused}) and contact.deleted (erased) reach "
            "every destination that ever got the subject, whether listed here or not, and "
            "nothing else about it is sent after them",
        ),
    ]
    cooldown_hours: Annotated[JsonInt, Field(ge=1, le=24 * 90)] | None = Field(
        default=None,
        description="slack: at most one alert per contact in this many hours (default: the "
        "site's alert_cooldown_hours, 24 unless set, followed when the site changes it)",
    )
    access_token: Annotated[SecretStr, Field(min_length=8, max_length=512)] | None = Field(
        default=None,
        description="hubspot: a private app's access token (crm.objects.contacts.write); "
        "stored sealed, never shown again",
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> WebhookIn:
        if self.kind is not DestinationKind.webhook and not set(self.events) <= TRIGGERS:
            raise ValueError(
                f"a {self.kind.value} destination takes the triggers only: "
                "contact.intent_threshold_crossed, contact.goal_completed (consent notices "
                "reach it anyway)"
            )
        if (self.access_token is not None) != (self.kind is DestinationKind.hubspot):
            raise ValueError("access_token is for (and needed by) a hubspot destination")
        if self.cooldown_hours is not None and self.kind is not DestinationKind.slack:
            raise ValueError("cooldown_hours is for a slack destination")
        return self


class WebhookOut(BaseModel):
    id: str
    kind: DestinationKind
    url: str
    events: list[WebhookEvent]
    cooldown_hours: int | None = Field(
        description="slack: the cool-down in force (hours); null for other kinds"
    )
    cooldown_from_site: bool = Field(
        description="slack: the cool-down is the site's alert_cooldown_hours (none of its own)"
    )
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="signing secret, shown once; see the verification notes (webhooks; "
        "Slack and HubSpot requests are not signed)"
    )


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None
    log: list[AttemptOut]


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


# --- what a webhook receiver gets -------------------------------------------------------------


class IntentCrossedData(BaseModel):
    contact: Contact = Field(description="the contact as GET .../contacts/{subject_id} has it")


class Goal(BaseModel):
    name: str = Field(description="the goal's event name")
    occurred_at: datetime
    page: str = Field(description="host and path")


class GoalCompletedData(IntentCrossedData):
    goal: Goal


class ConsentEndedData(BaseModel):
    subject_id: str
    reason: str = Field(
        description="contact.withdrawn: withdrawn | expired | gpc_opt_out | refused; "
        "contact.deleted: erasure"
    )


class EventEnvelope(BaseModel):
    id: str = Field(description="the delivery id, also the `webhook-id` header")
    type: str
    site_id: str
    created_at: datetime


class IntentCrossedEvent(EventEnvelope):
    data: IntentCrossedData


class GoalCompletedEvent(EventEnvelope):
    data: GoalCompletedData


class ConsentEndedEvent(EventEnvelope):
    data: ConsentEndedData
