from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime


T = TypeVar("T", bound="ContactSummary")


@_attrs_define
class ContactSummary:
    """
    Attributes:
        sessions (int):
        pageviews (int):
        engaged_ms (int):
        max_scroll_depth (int):
        goals (int):
        high_intent_pageviews (int):
        active_days (int):
        first_seen_at (datetime.datetime | None):
        last_seen_at (datetime.datetime | None):
    """

    sessions: int
    pageviews: int
    engaged_ms: int
    max_scroll_depth: int
    goals: int
    high_intent_pageviews: int
    active_days: int
    first_seen_at: datetime.datetime | None
    last_seen_at: datetime.datetime | None
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        sessions = self.sessions

        pageviews = self.pageviews

        engaged_ms = self.engaged_ms

        max_scroll_depth = self.max_scroll_depth

        goals = self.goals

        high_intent_pageviews = self.high_intent_pageviews

        active_days = self.active_days

        first_seen_at: None | str
        if isinstance(self.first_seen_at, datetime.datetime):
            first_seen_at = self.first_seen_at.isoformat()
        else:
            first_seen_at = self.first_seen_at

        last_seen_at: None | str
        if isinstance(self.last_seen_at, datetime.datetime):
            last_seen_at = self.last_seen_at.isoformat()
        else:
            last_seen_at = self.last_seen_at

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "sessions": sessions,
                "pageviews": pageviews,
                "engaged_ms": engaged_ms,
                "max_scroll_depth": max_scroll_depth,
                "goals": goals,
                "high_intent_pageviews": high_intent_pageviews,
                "active_days": active_days,
                "first_seen_at": first_seen_at,
                "last_seen_at": last_seen_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        sessions = d.pop("sessions")

        pageviews = d.pop("pageviews")

        engaged_ms = d.pop("engaged_ms")

        max_scroll_depth = d.pop("max_scroll_depth")

        goals = d.pop("goals")

        high_intent_pageviews = d.pop("high_intent_pageviews")

        active_days = d.pop("active_days")

        def _parse_first_seen_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                first_seen_at_type_0 = datetime.datetime.fromisoformat(data)

                return first_seen_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        first_seen_at = _parse_first_seen_at(d.pop("first_seen_at"))

        def _parse_last_seen_at(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_seen_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_seen_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        last_seen_at = _parse_last_seen_at(d.pop("last_seen_at"))

        contact_summary = cls(
            sessions=sessions,
            pageviews=pageviews,
            engaged_ms=engaged_ms,
            max_scroll_depth=max_scroll_depth,
            goals=goals,
            high_intent_pageviews=high_intent_pageviews,
            active_days=active_days,
            first_seen_at=first_seen_at,
            last_seen_at=last_seen_at,
        )

        contact_summary.additional_properties = d
        return contact_summary

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
