from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast


T = TypeVar("T", bound="RowComparison")


@_attrs_define
class RowComparison:
    """
    Attributes:
        dimensions (list[str]): the row's dimensions (time: the compared bucket)
        metrics (list[float | int | None]): the values in the compared period
        change (list[float | int | None]): per metric: the change in percent, rounded (100 from nothing to something);
            for bounce_rate and percentage the difference in points; null when either value is
    """

    dimensions: list[str]
    metrics: list[float | int | None]
    change: list[float | int | None]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        dimensions = self.dimensions

        metrics = []
        for metrics_item_data in self.metrics:
            metrics_item: float | int | None
            metrics_item = metrics_item_data
            metrics.append(metrics_item)

        change = []
        for change_item_data in self.change:
            change_item: float | int | None
            change_item = change_item_data
            change.append(change_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "dimensions": dimensions,
                "metrics": metrics,
                "change": change,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        dimensions = cast(list[str], d.pop("dimensions"))

        metrics = []
        _metrics = d.pop("metrics")
        for metrics_item_data in _metrics:

            def _parse_metrics_item(data: object) -> float | int | None:
                if data is None:
                    return data
                return cast(float | int | None, data)

            metrics_item = _parse_metrics_item(metrics_item_data)

            metrics.append(metrics_item)

        change = []
        _change = d.pop("change")
        for change_item_data in _change:

            def _parse_change_item(data: object) -> float | int | None:
                if data is None:
                    return data
                return cast(float | int | None, data)

            change_item = _parse_change_item(change_item_data)

            change.append(change_item)

        row_comparison = cls(
            dimensions=dimensions,
            metrics=metrics,
            change=change,
        )

        row_comparison.additional_properties = d
        return row_comparison

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
