from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime


T = TypeVar("T", bound="OutcomeReportIn")


@_attrs_define
class OutcomeReportIn:
    """Score bands are fixed by the definition (quarters of its score cap), not chosen by the
    caller: caller-chosen edges would let two reports be differenced down to one subject.

        Attributes:
            site_id (str):
            date_range (list[datetime.date]): First and last day, inclusive, in the site's time zone (at most ten years).
                Subjects are scored on their events in the range; outcomes count when they occurred in it; a subject is in the
                report when it has either in the range.
            k (int | None | Unset): groups with fewer subjects are not reported; at least the site's k (default 5), a caller
                may only raise it
    """

    site_id: str
    date_range: list[datetime.date]
    k: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        site_id = self.site_id

        date_range = []
        for date_range_item_data in self.date_range:
            date_range_item: str
            if isinstance(date_range_item_data, datetime.date):
                date_range_item = date_range_item_data.isoformat()

            date_range.append(date_range_item)

        k: int | None | Unset
        if isinstance(self.k, Unset):
            k = UNSET
        else:
            k = self.k

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "site_id": site_id,
                "date_range": date_range,
            }
        )
        if k is not UNSET:
            field_dict["k"] = k

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
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

        def _parse_k(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        k = _parse_k(d.pop("k", UNSET))

        outcome_report_in = cls(
            site_id=site_id,
            date_range=date_range,
            k=k,
        )

        return outcome_report_in
