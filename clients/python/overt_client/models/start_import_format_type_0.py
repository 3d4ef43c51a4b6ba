from enum import StrEnum


class StartImportFormatType0(StrEnum):
    PLAUSIBLE = "plausible"
    UMAMI = "umami"

    def __str__(self) -> str:
        return str(self.value)
