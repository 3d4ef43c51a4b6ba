from enum import StrEnum


class AfterTheClickInBy(StrEnum):
    MEDIUM = "medium"
    REFERRER = "referrer"
    SOURCE = "source"
    UTM_CAMPAIGN = "utm_campaign"
    UTM_MEDIUM = "utm_medium"
    UTM_SOURCE = "utm_source"

    def __str__(self) -> str:
        return str(self.value)
