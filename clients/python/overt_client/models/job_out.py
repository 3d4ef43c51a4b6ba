from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.job_out_kind import JobOutKind
from ..models.job_out_status import JobOutStatus
from ..types import UNSET, Unset
from typing import cast
import datetime


T = TypeVar("T", bound="JobOut")


@_attrs_define
class JobOut:
    """
    Attributes:
        id (str):
        kind (JobOutKind):
        format_ (str): plausible (Plausible's CSV export) or umami
        status (JobOutStatus):
        date_range (list[datetime.date] | None): [first, last]: the days exported, or the first and last day an import
            holds
        filename (str):
        size (int): bytes of the upload, or of the export's zip so far
        progress (int): rows read (import) or written (export) so far
        total (int | None): rows in all, when known (an import's)
        error (None | str): why the job failed
        created_at (datetime.datetime):
        finished_at (datetime.datetime | None):
        file (None | str | Unset): where a completed export's zip is (GET, same key)
    """

    id: str
    kind: JobOutKind
    format_: str
    status: JobOutStatus
    date_range: list[datetime.date] | None
    filename: str
    size: int
    progress: int
    total: int | None
    error: None | str
    created_at: datetime.datetime
    finished_at: datetime.datetime | None
    file: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind.value

        format_ = self.format_

        status = self.status.value

        date_range: list[str] | None
        if isinstance(self.date_range, list):
            date_range = []
            for date_range_type_0_item_data in self.date_range:
                date_range_type_0_item = date_range_type_0_item_data.isoformat()
                date_range.append(date_range_type_0_item)

        else:
            date_range = self.date_range

        filename = self.filename

        size = self.size

        progress = self.progress

        total: int | None
        total = self.total

        error: None | str
        error = self.error

        created_at = self.created_at.isoformat()

        finished_at: None | str
        if isinstance(self.finished_at, datetime.datetime):
            finished_at = self.finished_at.isoformat()
        else:
            finished_at = self.finished_at

        file: None | str | Unset
        if isinstance(self.file, Unset):
            file = UNSET
        else:
            file = self.file

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "format": format_,
                "status": status,
                "date_range": date_range,
                "filename": filename,
                "size": size,
                "progress": progress,
                "total": total,
                "error": error,
                "created_at": created_at,
                "finished_at": finished_at,
            }
        )
        if file is not UNSET:
            field_dict["file"] = file

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        kind = JobOutKind(d.pop("kind"))

        format_ = d.pop("format")

        status = JobOutStatus(d.pop("status"))

        def _parse_date_range(data: object) -> list[datetime.date] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                date_range_type_0 = []
                _date_range_type_0 = data
                for date_range_type_0_item_data in _date_range_type_0:
                    date_range_type_0_item = datetime.date.fromisoformat(
                        date_range_type_0_item_data
                    )

                    date_range_type_0.append(date_range_type_0_item)

                return date_range_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[datetime.date] | None, data)

        date_range = _parse_date_range(d.pop("date_range"))

        filename = d.pop("filename")

        size = d.pop("size")

        progress = d.pop("progress")

        def _parse_total(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        total = _parse_total(d.pop("total"))

        def _parse_error(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        error = _parse_error(d.pop("error"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        def _parse_finished_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                finished_at_type_0 = datetime.datetime.fromisoformat(data)

                return finished_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        finished_at = _parse_finished_at(d.pop("finished_at"))

        def _parse_file(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        file = _parse_file(d.pop("file", UNSET))

        job_out = cls(
            id=id,
            kind=kind,
            format_=format_,
            status=status,
            date_range=date_range,
            filename=filename,
            size=size,
            progress=progress,
            total=total,
            error=error,
            created_at=created_at,
            finished_at=finished_at,
            file=file,
        )

        job_out.additional_properties = d
        return job_out

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
