from enum import StrEnum


class WebhookEvent(StrEnum):
    CONTACT_DELETED = "contact.deleted"
    CONTACT_GOAL_COMPLETED = "contact.goal_completed"
    CONTACT_INTENT_THRESHOLD_CROSSED = "contact.intent_threshold_crossed"
    CONTACT_WITHDRAWN = "contact.withdrawn"

    def __str__(self) -> str:
        return str(self.value)
