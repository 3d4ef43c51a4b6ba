from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.order_direction import OrderDirection
from ..types import UNSET, Unset


T = TypeVar("T", bound="Order")


@_attrs_define
class Order:
    """
    Attributes:
        field (str): a metric or a dimension of the query
        direction (OrderDirection | Unset):  Default: OrderDirection.DESC.
    """

    field: str
    direction: OrderDirection | Unset = OrderDirection.DESC

    def to_dict(self) -> dict[str, Any]:
        field = self.field

        direction: str | Unset = UNSET
        if not isinstance(self.direction, Unset):
            direction = self.direction.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "field": field,
            }
        )
        if direction is not UNSET:
            field_dict["direction"] = direction

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        field = d.pop("field")

        _direction = d.pop("direction", UNSET)
        direction: OrderDirection | Unset
        if isinstance(_direction, Unset):
            direction = UNSET
        else:
            direction = OrderDirection(_direction)

        order = cls(
            field=field,
            direction=direction,
        )

        return order
