from enum import StrEnum


class FilterOp(StrEnum):
    CONTAINS = "contains"
    CONTAINS_NOT = "contains_not"
    IS = "is"
    IS_NOT = "is_not"
    MATCHES = "matches"
    MATCHES_NOT = "matches_not"

    def __str__(self) -> str:
        return str(self.value)
