from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast


T = TypeVar("T", bound="FunnelStepOut")


@_attrs_define
class FunnelStepOut:
    """
    Attributes:
        step (str):
        sessions (int | None):
        visitors (int | None):
        drop_off (int | None): sessions lost since the previous step
        conversion_from_start (float | None):
        suppressed (bool): always false: steps are pages and goals, counted whole (kept for clients of the earlier rule,
            which hid steps under k)
    """

    step: str
    sessions: int | None
    visitors: int | None
    drop_off: int | None
    conversion_from_start: float | None
    suppressed: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        step = self.step

        sessions: int | None
        sessions = self.sessions

        visitors: int | None
        visitors = self.visitors

        drop_off: int | None
        drop_off = self.drop_off

        conversion_from_start: float | None
        conversion_from_start = self.conversion_from_start

        suppressed = self.suppressed

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "step": step,
                "sessions": sessions,
                "visitors": visitors,
                "drop_off": drop_off,
                "conversion_from_start": conversion_from_start,
                "suppressed": suppressed,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        step = d.pop("step")

        def _parse_sessions(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        sessions = _parse_sessions(d.pop("sessions"))

        def _parse_visitors(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        visitors = _parse_visitors(d.pop("visitors"))

        def _parse_drop_off(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        drop_off = _parse_drop_off(d.pop("drop_off"))

        def _parse_conversion_from_start(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        conversion_from_start = _parse_conversion_from_start(
            d.pop("conversion_from_start")
        )

        suppressed = d.pop("suppressed")

        funnel_step_out = cls(
            step=step,
            sessions=sessions,
            visitors=visitors,
            drop_off=drop_off,
            conversion_from_start=conversion_from_start,
            suppressed=suppressed,
        )

        funnel_step_out.additional_properties = d
        return funnel_step_out

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
