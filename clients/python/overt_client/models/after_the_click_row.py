from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
    from ..models.after_the_click_row_outcomes_type_0 import (
        AfterTheClickRowOutcomesType0,
    )


T = TypeVar("T", bound="AfterTheClickRow")


@_attrs_define
class AfterTheClickRow:
    """
    Attributes:
        value (str): the source / campaign; (other) for folded small groups
        visitors (int):
        sessions (int):
        engagement_rate (float | None):
        engaged_time_p50 (int | None):
        engaged_time_total (int):
        conversions (int):
        conversion_rate (float | None):
        returning_visitors (int):
        outcomes (AfterTheClickRowOutcomesType0 | None | Unset): what followed later, when known: by utm_campaign or
            utm_source, the outcomes the site reported for that campaign in the range (a count per kind, 'revenue:CUR'
            sums); null for (other)
    """

    value: str
    visitors: int
    sessions: int
    engagement_rate: float | None
    engaged_time_p50: int | None
    engaged_time_total: int
    conversions: int
    conversion_rate: float | None
    returning_visitors: int
    outcomes: AfterTheClickRowOutcomesType0 | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.after_the_click_row_outcomes_type_0 import (
            AfterTheClickRowOutcomesType0,
        )  # noqa: PLC0415

        value = self.value

        visitors = self.visitors

        sessions = self.sessions

        engagement_rate: float | None
        engagement_rate = self.engagement_rate

        engaged_time_p50: int | None
        engaged_time_p50 = self.engaged_time_p50

        engaged_time_total = self.engaged_time_total

        conversions = self.conversions

        conversion_rate: float | None
        conversion_rate = self.conversion_rate

        returning_visitors = self.returning_visitors

        outcomes: dict[str, Any] | None | Unset
        if isinstance(self.outcomes, Unset):
            outcomes = UNSET
        elif isinstance(self.outcomes, AfterTheClickRowOutcomesType0):
            outcomes = self.outcomes.to_dict()
        else:
            outcomes = self.outcomes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "value": value,
                "visitors": visitors,
                "sessions": sessions,
                "engagement_rate": engagement_rate,
                "engaged_time_p50": engaged_time_p50,
                "engaged_time_total": engaged_time_total,
                "conversions": conversions,
                "conversion_rate": conversion_rate,
                "returning_visitors": returning_visitors,
            }
        )
        if outcomes is not UNSET:
            field_dict["outcomes"] = outcomes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.after_the_click_row_outcomes_type_0 import (
            AfterTheClickRowOutcomesType0,
        )  # noqa: PLC0415

        d = dict(src_dict)
        value = d.pop("value")

        visitors = d.pop("visitors")

        sessions = d.pop("sessions")

        def _parse_engagement_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        engagement_rate = _parse_engagement_rate(d.pop("engagement_rate"))

        def _parse_engaged_time_p50(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        engaged_time_p50 = _parse_engaged_time_p50(d.pop("engaged_time_p50"))

        engaged_time_total = d.pop("engaged_time_total")

        conversions = d.pop("conversions")

        def _parse_conversion_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        conversion_rate = _parse_conversion_rate(d.pop("conversion_rate"))

        returning_visitors = d.pop("returning_visitors")

        def _parse_outcomes(
            data: object,
        ) -> AfterTheClickRowOutcomesType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                outcomes_type_0 = AfterTheClickRowOutcomesType0.from_dict(data)

                return outcomes_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(AfterTheClickRowOutcomesType0 | None | Unset, data)

        outcomes = _parse_outcomes(d.pop("outcomes", UNSET))

        after_the_click_row = cls(
            value=value,
            visitors=visitors,
            sessions=sessions,
            engagement_rate=engagement_rate,
            engaged_time_p50=engaged_time_p50,
            engaged_time_total=engaged_time_total,
            conversions=conversions,
            conversion_rate=conversion_rate,
            returning_visitors=returning_visitors,
            outcomes=outcomes,
        )

        after_the_click_row.additional_properties = d
        return after_the_click_row

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
