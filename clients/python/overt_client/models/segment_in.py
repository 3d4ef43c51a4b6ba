from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.segment_in_filters import SegmentInFilters


T = TypeVar("T", bound="SegmentIn")


@_attrs_define
class SegmentIn:
    """A named filter tree: the filter tree of POST /v1/query, without segment conditions
    (a segment does not nest another).

        Attributes:
            name (str):
            filters (SegmentInFilters):
    """

    name: str
    filters: SegmentInFilters

    def to_dict(self) -> dict[str, Any]:
        from ..models.segment_in_filters import SegmentInFilters  # noqa: PLC0415

        name = self.name

        filters = self.filters.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "filters": filters,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.segment_in_filters import SegmentInFilters  # noqa: PLC0415

        d = dict(src_dict)
        name = d.pop("name")

        filters = SegmentInFilters.from_dict(d.pop("filters"))

        segment_in = cls(
            name=name,
            filters=filters,
        )

        return segment_in
