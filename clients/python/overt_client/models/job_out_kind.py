from enum import StrEnum


class JobOutKind(StrEnum):
    EXPORT = "export"
    IMPORT = "import"

    def __str__(self) -> str:
        return str(self.value)
