from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.after_the_click_in_by import AfterTheClickInBy
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.after_the_click_in_filters_type_0 import AfterTheClickInFiltersType0


T = TypeVar("T", bound="AfterTheClickIn")


@_attrs_define
class AfterTheClickIn:
    """
    Attributes:
        site_id (str):
        date_range (list[datetime.date]): First and last day, inclusive, in the site's time zone.
        definition_version (int | None | Unset):
        filters (AfterTheClickInFiltersType0 | None | Unset): The filter tree of POST /v1/query, tested on each event
            the report reads. Filters on a quasi-identifier (where, which device, where from) that select, or leave out, the
            events of fewer than k visitors are refused (422 k-anonymity).
        by (AfterTheClickInBy | Unset):  Default: AfterTheClickInBy.SOURCE.
        limit (int | Unset):  Default: 100.
    """

    site_id: str
    date_range: list[datetime.date]
    definition_version: int | None | Unset = UNSET
    filters: AfterTheClickInFiltersType0 | None | Unset = UNSET
    by: AfterTheClickInBy | Unset = AfterTheClickInBy.SOURCE
    limit: int | Unset = 100

    def to_dict(self) -> dict[str, Any]:
        from ..models.after_the_click_in_filters_type_0 import (
            AfterTheClickInFiltersType0,
        )  # noqa: PLC0415

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

        filters: dict[str, Any] | None | Unset
        if isinstance(self.filters, Unset):
            filters = UNSET
        elif isinstance(self.filters, AfterTheClickInFiltersType0):
            filters = self.filters.to_dict()
        else:
            filters = self.filters

        by: str | Unset = UNSET
        if not isinstance(self.by, Unset):
            by = self.by.value

        limit = self.limit

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "site_id": site_id,
                "date_range": date_range,
            }
        )
        if definition_version is not UNSET:
            field_dict["definition_version"] = definition_version
        if filters is not UNSET:
            field_dict["filters"] = filters
        if by is not UNSET:
            field_dict["by"] = by
        if limit is not UNSET:
            field_dict["limit"] = limit

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.after_the_click_in_filters_type_0 import (
            AfterTheClickInFiltersType0,
        )  # noqa: PLC0415

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

        def _parse_filters(data: object) -> AfterTheClickInFiltersType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                filters_type_0 = AfterTheClickInFiltersType0.from_dict(data)

                return filters_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(AfterTheClickInFiltersType0 | None | Unset, data)

        filters = _parse_filters(d.pop("filters", UNSET))

        _by = d.pop("by", UNSET)
        by: AfterTheClickInBy | Unset
        if isinstance(_by, Unset):
            by = UNSET
        else:
            by = AfterTheClickInBy(_by)

        limit = d.pop("limit", UNSET)

        after_the_click_in = cls(
            site_id=site_id,
            date_range=date_range,
            definition_version=definition_version,
            filters=filters,
            by=by,
            limit=limit,
        )

        return after_the_click_in
