from enum import StrEnum


class ComparisonMode(StrEnum):
    CUSTOM = "custom"
    PREVIOUS_PERIOD = "previous_period"
    YEAR_OVER_YEAR = "year_over_year"

    def __str__(self) -> str:
        return str(self.value)
