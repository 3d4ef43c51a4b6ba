from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset


T = TypeVar("T", bound="Contribution")


@_attrs_define
class Contribution:
    """
    Attributes:
        signal (str):
        amount (float): the signal's measured amount (seconds, pages, ...)
        weight (float): points per unit, from the site's definition
        points (float): amount x weight; the score is their sum, capped
    """

    signal: str
    amount: float
    weight: float
    points: float
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        signal = self.signal

        amount = self.amount

        weight = self.weight

        points = self.points

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "signal": signal,
                "amount": amount,
                "weight": weight,
                "points": points,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        signal = d.pop("signal")

        amount = d.pop("amount")

        weight = d.pop("weight")

        points = d.pop("points")

        contribution = cls(
            signal=signal,
            amount=amount,
            weight=weight,
            points=points,
        )

        contribution.additional_properties = d
        return contribution

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
