from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.filter_op import FilterOp
from typing import cast


T = TypeVar("T", bound="Condition")


@_attrs_define
class Condition:
    """One test on a dimension; several values mean 'any of them' (for is_not: none of them).
    A missing value reads as "(none)"; contains is case-insensitive; matches is a regular
    expression in RE2 syntax (no backreferences or lookarounds), searched for in the value;
    contains_not and matches_not hold where contains and matches do not.

        Attributes:
            dimension (str): any dimension but time (the date range bounds time), or `segment`: a saved segment's filter
                tree, by its id (is / is_not)
            op (FilterOp):
            values (list[str]):
    """

    dimension: str
    op: FilterOp
    values: list[str]

    def to_dict(self) -> dict[str, Any]:
        dimension = self.dimension

        op = self.op.value

        values = self.values

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "dimension": dimension,
                "op": op,
                "values": values,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dimension = d.pop("dimension")

        op = FilterOp(d.pop("op"))

        values = cast(list[str], d.pop("values"))

        condition = cls(
            dimension=dimension,
            op=op,
            values=values,
        )

        return condition
