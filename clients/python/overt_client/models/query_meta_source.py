from enum import StrEnum


class QueryMetaSource(StrEnum):
    RAW = "raw"
    ROLLUP = "rollup"

    def __str__(self) -> str:
        return str(self.value)
