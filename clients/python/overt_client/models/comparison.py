from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.comparison_mode import ComparisonMode
from ..types import UNSET, Unset
from typing import cast
import datetime


T = TypeVar("T", bound="Comparison")


@_attrs_define
class Comparison:
    """What to compare each value with: the period of the same length just before, the same
    days a year earlier, or a custom range (Plausible's `include.comparisons`).

        Attributes:
            mode (ComparisonMode):
            date_range (list[datetime.date] | None | Unset): custom only: first and last day, inclusive
    """

    mode: ComparisonMode
    date_range: list[datetime.date] | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        mode = self.mode.value

        date_range: list[str] | None | Unset
        if isinstance(self.date_range, Unset):
            date_range = UNSET
        elif isinstance(self.date_range, list):
            date_range = []
            for date_range_type_0_item_data in self.date_range:
                date_range_type_0_item: str
                if isinstance(date_range_type_0_item_data, datetime.date):
                    date_range_type_0_item = date_range_type_0_item_data.isoformat()

                date_range.append(date_range_type_0_item)

        else:
            date_range = self.date_range

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "mode": mode,
            }
        )
        if date_range is not UNSET:
            field_dict["date_range"] = date_range

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        mode = ComparisonMode(d.pop("mode"))

        def _parse_date_range(data: object) -> list[datetime.date] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                date_range_type_0 = []
                _date_range_type_0 = data
                for date_range_type_0_item_data in _date_range_type_0:

                    def _parse_date_range_type_0_item(data: object) -> datetime.date:
                        if not isinstance(data, str):
                            raise TypeError()
                        date_range_type_0_item_type_0 = datetime.date.fromisoformat(
                            data
                        )

                        return date_range_type_0_item_type_0

                    date_range_type_0_item = _parse_date_range_type_0_item(
                        date_range_type_0_item_data
                    )

                    date_range_type_0.append(date_range_type_0_item)

                return date_range_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[datetime.date] | None | Unset, data)

        date_range = _parse_date_range(d.pop("date_range", UNSET))

        comparison = cls(
            mode=mode,
            date_range=date_range,
        )

        return comparison
