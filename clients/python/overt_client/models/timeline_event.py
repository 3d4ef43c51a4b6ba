from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime


T = TypeVar("T", bound="TimelineEvent")


@_attrs_define
class TimelineEvent:
    """
    Attributes:
        occurred_at (datetime.datetime):
        name (str):
        page (str): host and path
        engaged_ms (int | None):
        scroll_depth (int | None):
        source (None | str):
        utm_campaign (None | str):
    """

    occurred_at: datetime.datetime
    name: str
    page: str
    engaged_ms: int | None
    scroll_depth: int | None
    source: None | str
    utm_campaign: None | str
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        occurred_at = self.occurred_at.isoformat()

        name = self.name

        page = self.page

        engaged_ms: int | None
        engaged_ms = self.engaged_ms

        scroll_depth: int | None
        scroll_depth = self.scroll_depth

        source: None | str
        source = self.source

        utm_campaign: None | str
        utm_campaign = self.utm_campaign

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "occurred_at": occurred_at,
                "name": name,
                "page": page,
                "engaged_ms": engaged_ms,
                "scroll_depth": scroll_depth,
                "source": source,
                "utm_campaign": utm_campaign,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        occurred_at = datetime.datetime.fromisoformat(d.pop("occurred_at"))

        name = d.pop("name")

        page = d.pop("page")

        def _parse_engaged_ms(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        engaged_ms = _parse_engaged_ms(d.pop("engaged_ms"))

        def _parse_scroll_depth(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        scroll_depth = _parse_scroll_depth(d.pop("scroll_depth"))

        def _parse_source(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        source = _parse_source(d.pop("source"))

        def _parse_utm_campaign(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        utm_campaign = _parse_utm_campaign(d.pop("utm_campaign"))

        timeline_event = cls(
            occurred_at=occurred_at,
            name=name,
            page=page,
            engaged_ms=engaged_ms,
            scroll_depth=scroll_depth,
            source=source,
            utm_campaign=utm_campaign,
        )

        timeline_event.additional_properties = d
        return timeline_event

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
