from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.destination_kind import DestinationKind
from ..models.webhook_event import WebhookEvent
from ..types import UNSET, Unset
from typing import cast


T = TypeVar("T", bound="WebhookIn")


@_attrs_define
class WebhookIn:
    """
    Attributes:
        url (str):
        events (list[WebhookEvent]): what to send (for slack and hubspot: the triggers, contact.intent_threshold_crossed
            and contact.goal_completed). contact.withdrawn (the subject's identification consent ended: data {subject_id,
            reason: withdrawn | expired | gpc_opt_out | refused}) and contact.deleted (erased) reach every destination that
            ever got the subject, whether listed here or not, and nothing else about it is sent after them
        kind (DestinationKind | Unset):
        cooldown_hours (int | None | Unset): slack: at most one alert per contact in this many hours (default: the
            site's alert_cooldown_hours, 24 unless set, followed when the site changes it)
        access_token (None | str | Unset): hubspot: a private app's access token (crm.objects.contacts.write); stored
            sealed, never shown again
    """

    url: str
    events: list[WebhookEvent]
    kind: DestinationKind | Unset = UNSET
    cooldown_hours: int | None | Unset = UNSET
    access_token: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        url = self.url

        events = []
        for events_item_data in self.events:
            events_item = events_item_data.value
            events.append(events_item)

        kind: str | Unset = UNSET
        if not isinstance(self.kind, Unset):
            kind = self.kind.value

        cooldown_hours: int | None | Unset
        if isinstance(self.cooldown_hours, Unset):
            cooldown_hours = UNSET
        else:
            cooldown_hours = self.cooldown_hours

        access_token: None | str | Unset
        if isinstance(self.access_token, Unset):
            access_token = UNSET
        else:
            access_token = self.access_token

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "url": url,
                "events": events,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if cooldown_hours is not UNSET:
            field_dict["cooldown_hours"] = cooldown_hours
        if access_token is not UNSET:
            field_dict["access_token"] = access_token

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        url = d.pop("url")

        events = []
        _events = d.pop("events")
        for events_item_data in _events:
            events_item = WebhookEvent(events_item_data)

            events.append(events_item)

        _kind = d.pop("kind", UNSET)
        kind: DestinationKind | Unset
        if isinstance(_kind, Unset):
            kind = UNSET
        else:
            kind = DestinationKind(_kind)

        def _parse_cooldown_hours(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        cooldown_hours = _parse_cooldown_hours(d.pop("cooldown_hours", UNSET))

        def _parse_access_token(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        access_token = _parse_access_token(d.pop("access_token", UNSET))

        webhook_in = cls(
            url=url,
            events=events,
            kind=kind,
            cooldown_hours=cooldown_hours,
            access_token=access_token,
        )

        return webhook_in
