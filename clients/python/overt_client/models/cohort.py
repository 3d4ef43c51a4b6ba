from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast


T = TypeVar("T", bound="Cohort")


@_attrs_define
class Cohort:
    """
    Attributes:
        week (str): Monday of the cohort's first week, in the site's time zone
        visitors (int): tier-1 visitors first seen that week
        returned (list[int | None]): of those, how many had a session in week 0, 1, 2... (cohorts are weeks, answered
            whole; never null since k guards only quasi-identifiers)
    """

    week: str
    visitors: int
    returned: list[int | None]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        week = self.week

        visitors = self.visitors

        returned = []
        for returned_item_data in self.returned:
            returned_item: int | None
            returned_item = returned_item_data
            returned.append(returned_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "week": week,
                "visitors": visitors,
                "returned": returned,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        week = d.pop("week")

        visitors = d.pop("visitors")

        returned = []
        _returned = d.pop("returned")
        for returned_item_data in _returned:

            def _parse_returned_item(data: object) -> int | None:
                if data is None:
                    return data
                return cast(int | None, data)

            returned_item = _parse_returned_item(returned_item_data)

            returned.append(returned_item)

        cohort = cls(
            week=week,
            visitors=visitors,
            returned=returned,
        )

        cohort.additional_properties = d
        return cohort

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
