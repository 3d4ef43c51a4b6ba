from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime


T = TypeVar("T", bound="ExportIn")


@_attrs_define
class ExportIn:
    """
    Attributes:
        date_range (list[datetime.date]): First and last day, inclusive, in the site's time zone.
    """

    date_range: list[datetime.date]

    def to_dict(self) -> dict[str, Any]:
        date_range = []
        for date_range_item_data in self.date_range:
            date_range_item: str
            if isinstance(date_range_item_data, datetime.date):
                date_range_item = date_range_item_data.isoformat()

            date_range.append(date_range_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "date_range": date_range,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        date_range = []
        _date_range = d.pop("date_range")
        for date_range_item_data in _date_range:

            def _parse_date_range_item(data: object) -> datetime.date:
                if not isinstance(data, str):
                    raise TypeError()
                date_range_item_type_0 = datetime.date.fromisoformat(data)

                return date_range_item_type_0

            date_range_item = _parse_date_range_item(date_range_item_data)

            date_range.append(date_range_item)

        export_in = cls(
            date_range=date_range,
        )

        return export_in
