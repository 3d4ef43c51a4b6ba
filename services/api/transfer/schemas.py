"""Wire models of transfer: an export asked for, a job's state."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.api.days import check_date_range
from shared.storable import StorableBody


class ExportIn(StorableBody):
    model_config = ConfigDict(extra="forbid")

    date_range: tuple[date, date] = Field(
        description="First and last day, inclusive, in the site's time zone."
    )

    @model_validator(mode="after")
    def _valid_range(self) -> ExportIn:
        check_date_range(*self.date_range)
        return self


class JobOut(BaseModel):
    id: str
    kind: Literal["import", "export"]
    format: str = Field(description="plausible (Plausible's CSV export) or umami")
    status: Literal["pending", "running", "completed", "failed"]
    date_range: list[date] | None = Field(
        description="[first, last]: the days exported, or the first and last day an import holds"
    )
    filename: str
    size: int = Field(description="bytes of the upload, or of the export's zip so far")
    progress: int = Field(description="rows read (import) or written (export) so far")
    total: int | None = Field(description="rows in all, when known (an import's)")
    error: str | None = Field(description="why the job failed")
    created_at: datetime
    finished_at: datetime | None
    file: str | None = Field(
        default=None, description="where a completed export's zip is (GET, same key)"
    )


class JobsOut(BaseModel):
    jobs: list[JobOut]
