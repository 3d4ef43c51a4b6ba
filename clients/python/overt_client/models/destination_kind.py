from enum import StrEnum


class DestinationKind(StrEnum):
    HUBSPOT = "hubspot"
    SLACK = "slack"
    WEBHOOK = "webhook"

    def __str__(self) -> str:
        return str(self.value)
