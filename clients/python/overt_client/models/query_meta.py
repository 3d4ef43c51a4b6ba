from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.query_meta_source import QueryMetaSource
from ..types import UNSET, Unset
from typing import cast
import datetime


T = TypeVar("T", bound="QueryMeta")


@_attrs_define
class QueryMeta:
    """
    Attributes:
        timezone (str):
        definition_version (int):
        k (int): k-anonymity: in a breakdown by a quasi-identifier (where, which device, where from: see `guarded`),
            rows under k distinct engaged visitors fold into (other); totals, time, pages and goals are answered whole. 1:
            off
        folded_groups (int): groups folded into the (other) row
        suppressed (bool): the (other) row itself had fewer than k visitors and was left out
        total_rows (int): rows before limit/offset
        source (QueryMetaSource): rollup: hourly counters (no filters, day/week/month or page, UTC-aligned days); raw:
            the events
        guarded (list[str] | Unset): the quasi-identifiers this query touches (dimensions and filters): k applies to it
            only when there is one
        notes (list[str] | Unset): what k folded or left out and why, in words to show beside the answer
        date_range (list[datetime.date] | None | Unset): the days answered (a relative date_range resolved)
        comparison_date_range (list[datetime.date] | None | Unset): with `comparisons`: the days compared with
        imports_included (bool | Unset): imported data was added to this answer (`include.imports`) Default: False.
        imports_skip_reason (None | str | Unset): why imported data asked for could not be added (the answer is the
            site's own events only)
    """

    timezone: str
    definition_version: int
    k: int
    folded_groups: int
    suppressed: bool
    total_rows: int
    source: QueryMetaSource
    guarded: list[str] | Unset = UNSET
    notes: list[str] | Unset = UNSET
    date_range: list[datetime.date] | None | Unset = UNSET
    comparison_date_range: list[datetime.date] | None | Unset = UNSET
    imports_included: bool | Unset = False
    imports_skip_reason: None | str | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        timezone = self.timezone

        definition_version = self.definition_version

        k = self.k

        folded_groups = self.folded_groups

        suppressed = self.suppressed

        total_rows = self.total_rows

        source = self.source.value

        guarded: list[str] | Unset = UNSET
        if not isinstance(self.guarded, Unset):
            guarded = self.guarded

        notes: list[str] | Unset = UNSET
        if not isinstance(self.notes, Unset):
            notes = self.notes

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

        comparison_date_range: list[str] | None | Unset
        if isinstance(self.comparison_date_range, Unset):
            comparison_date_range = UNSET
        elif isinstance(self.comparison_date_range, list):
            comparison_date_range = []
            for comparison_date_range_type_0_item_data in self.comparison_date_range:
                comparison_date_range_type_0_item: str
                if isinstance(comparison_date_range_type_0_item_data, datetime.date):
                    comparison_date_range_type_0_item = (
                        comparison_date_range_type_0_item_data.isoformat()
                    )

                comparison_date_range.append(comparison_date_range_type_0_item)

        else:
            comparison_date_range = self.comparison_date_range

        imports_included = self.imports_included

        imports_skip_reason: None | str | Unset
        if isinstance(self.imports_skip_reason, Unset):
            imports_skip_reason = UNSET
        else:
            imports_skip_reason = self.imports_skip_reason

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "timezone": timezone,
                "definition_version": definition_version,
                "k": k,
                "folded_groups": folded_groups,
                "suppressed": suppressed,
                "total_rows": total_rows,
                "source": source,
            }
        )
        if guarded is not UNSET:
            field_dict["guarded"] = guarded
        if notes is not UNSET:
            field_dict["notes"] = notes
        if date_range is not UNSET:
            field_dict["date_range"] = date_range
        if comparison_date_range is not UNSET:
            field_dict["comparison_date_range"] = comparison_date_range
        if imports_included is not UNSET:
            field_dict["imports_included"] = imports_included
        if imports_skip_reason is not UNSET:
            field_dict["imports_skip_reason"] = imports_skip_reason

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        timezone = d.pop("timezone")

        definition_version = d.pop("definition_version")

        k = d.pop("k")

        folded_groups = d.pop("folded_groups")

        suppressed = d.pop("suppressed")

        total_rows = d.pop("total_rows")

        source = QueryMetaSource(d.pop("source"))

        guarded = cast(list[str], d.pop("guarded", UNSET))

        notes = cast(list[str], d.pop("notes", UNSET))

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

        def _parse_comparison_date_range(
            data: object,
        ) -> list[datetime.date] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                comparison_date_range_type_0 = []
                _comparison_date_range_type_0 = data
                for (
                    comparison_date_range_type_0_item_data
                ) in _comparison_date_range_type_0:

                    def _parse_comparison_date_range_type_0_item(
                        data: object,
                    ) -> datetime.date:
                        if not isinstance(data, str):
                            raise TypeError()
                        comparison_date_range_type_0_item_type_0 = (
                            datetime.date.fromisoformat(data)
                        )

                        return comparison_date_range_type_0_item_type_0

                    comparison_date_range_type_0_item = (
                        _parse_comparison_date_range_type_0_item(
                            comparison_date_range_type_0_item_data
                        )
                    )

                    comparison_date_range_type_0.append(
                        comparison_date_range_type_0_item
                    )

                return comparison_date_range_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[datetime.date] | None | Unset, data)

        comparison_date_range = _parse_comparison_date_range(
            d.pop("comparison_date_range", UNSET)
        )

        imports_included = d.pop("imports_included", UNSET)

        def _parse_imports_skip_reason(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        imports_skip_reason = _parse_imports_skip_reason(
            d.pop("imports_skip_reason", UNSET)
        )

        query_meta = cls(
            timezone=timezone,
            definition_version=definition_version,
            k=k,
            folded_groups=folded_groups,
            suppressed=suppressed,
            total_rows=total_rows,
            source=source,
            guarded=guarded,
            notes=notes,
            date_range=date_range,
            comparison_date_range=comparison_date_range,
            imports_included=imports_included,
            imports_skip_reason=imports_skip_reason,
        )

        query_meta.additional_properties = d
        return query_meta

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
