from enum import StrEnum


class QueryInOutputDateRangeType1(StrEnum):
    ALL = "all"
    DAY = "day"
    MONTH = "month"
    VALUE_1 = "7d"
    VALUE_2 = "28d"
    VALUE_3 = "30d"
    VALUE_5 = "6mo"
    VALUE_6 = "12mo"
    YEAR = "year"

    def __str__(self) -> str:
        return str(self.value)
