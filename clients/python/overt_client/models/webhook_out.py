from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.destination_kind import DestinationKind
from ..models.webhook_event import WebhookEvent
from typing import cast
import datetime


T = TypeVar("T", bound="WebhookOut")


@_attrs_define
class WebhookOut:
    """
    Attributes:
        id (str):
        kind (DestinationKind):
        url (str):
        events (list[WebhookEvent]):
        cooldown_hours (int | None): slack: the cool-down in force (hours); null for other kinds
        cooldown_from_site (bool): slack: the cool-down is the site's alert_cooldown_hours (none of its own)
        created_at (datetime.datetime):
    """

    id: str
    kind: DestinationKind
    url: str
    events: list[WebhookEvent]
    cooldown_hours: int | None
    cooldown_from_site: bool
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind.value

        url = self.url

        events = []
        for events_item_data in self.events:
            events_item = events_item_data.value
            events.append(events_item)

        cooldown_hours: int | None
        cooldown_hours = self.cooldown_hours

        cooldown_from_site = self.cooldown_from_site

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "url": url,
                "events": events,
                "cooldown_hours": cooldown_hours,
                "cooldown_from_site": cooldown_from_site,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        kind = DestinationKind(d.pop("kind"))

        url = d.pop("url")

        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = WebhookEvent(events_item_data)

            events.append(events_item)

        def _parse_cooldown_hours(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        cooldown_hours = _parse_cooldown_hours(d.pop("cooldown_hours"))

        cooldown_from_site = d.pop("cooldown_from_site")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        webhook_out = cls(
            id=id,
            kind=kind,
            url=url,
            events=events,
            cooldown_hours=cooldown_hours,
            cooldown_from_site=cooldown_from_site,
            created_at=created_at,
        )

        webhook_out.additional_properties = d
        return webhook_out

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
