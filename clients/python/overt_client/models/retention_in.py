from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime


T = TypeVar("T", bound="RetentionIn")


@_attrs_define
class RetentionIn:
    """
    Attributes:
        site_id (str):
        date_range (list[datetime.date]): First and last day, inclusive, in the site's time zone.
        definition_version (int | None | Unset):
    """

    site_id: str
    date_range: list[datetime.date]
    definition_version: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        site_id = self.site_id

        date_range = []
        for date_range_item_data in self.date_range:
            date_range_item: str
            if isinstance(date_range_item_data, datetime.date):
                date_range_item = date_range_item_data.isoformat()

            date_range.append(date_range_item)

        definition_version: int | None | Unset
        if isinstance(self.definition_version, Unset):
            definition_version = UNSET
        else:
            definition_version = self.definition_version

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "site_id": site_id,
                "date_range": date_range,
            }
        )
        if definition_version is not UNSET:
            field_dict["definition_version"] = definition_version

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        site_id = d.pop("site_id")

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

        def _parse_definition_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        definition_version = _parse_definition_version(
            d.pop("definition_version", UNSET)
        )

        retention_in = cls(
            site_id=site_id,
            date_range=date_range,
            definition_version=definition_version,
        )

        return retention_in
