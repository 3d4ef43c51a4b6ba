from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast


T = TypeVar("T", bound="LiftRow")


@_attrs_define
class LiftRow:
    """
    Attributes:
        group (str):
        subjects (int | None): null when fewer than k (suppressed)
        good_outcomes (int | None):
        rate (float | None):
        lift (float | None): rate / base rate; null when suppressed or no base
        suppressed (bool):
    """

    group: str
    subjects: int | None
    good_outcomes: int | None
    rate: float | None
    lift: float | None
    suppressed: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        group = self.group

        subjects: int | None
        subjects = self.subjects

        good_outcomes: int | None
        good_outcomes = self.good_outcomes

        rate: float | None
        rate = self.rate

        lift: float | None
        lift = self.lift

        suppressed = self.suppressed

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "group": group,
                "subjects": subjects,
                "good_outcomes": good_outcomes,
                "rate": rate,
                "lift": lift,
                "suppressed": suppressed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        group = d.pop("group")

        def _parse_subjects(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        subjects = _parse_subjects(d.pop("subjects"))

        def _parse_good_outcomes(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        good_outcomes = _parse_good_outcomes(d.pop("good_outcomes"))

        def _parse_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        rate = _parse_rate(d.pop("rate"))

        def _parse_lift(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        lift = _parse_lift(d.pop("lift"))

        suppressed = d.pop("suppressed")

        lift_row = cls(
            group=group,
            subjects=subjects,
            good_outcomes=good_outcomes,
            rate=rate,
            lift=lift,
            suppressed=suppressed,
        )

        lift_row.additional_properties = d
        return lift_row

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
