from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.realtime_row import RealtimeRow


T = TypeVar("T", bound="RealtimeOut")


@_attrs_define
class RealtimeOut:
    """
    Attributes:
        as_of (datetime.datetime): the moment the answer was read (UTC)
        visitors (int): distinct visitors with an event in the last 5 minutes
        pages (list[RealtimeRow]): last 30 minutes: pages by visitors
        sources (list[RealtimeRow]): last 30 minutes: sources by visitors; small ones folded into (other)
        k (int):
        notes (list[str] | Unset): what k folded or left out, and why
    """

    as_of: datetime.datetime
    visitors: int
    pages: list[RealtimeRow]
    sources: list[RealtimeRow]
    k: int
    notes: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.realtime_row import RealtimeRow  # noqa: PLC0415

        as_of = self.as_of.isoformat()

        visitors = self.visitors

        pages = []
        for pages_item_data in self.pages:
            pages_item = pages_item_data.to_dict()
            pages.append(pages_item)

        sources = []
        for sources_item_data in self.sources:
            sources_item = sources_item_data.to_dict()
            sources.append(sources_item)

        k = self.k

        notes: list[str] | Unset = UNSET
        if not isinstance(self.notes, Unset):
            notes = self.notes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "as_of": as_of,
                "visitors": visitors,
                "pages": pages,
                "sources": sources,
                "k": k,
            }
        )
        if notes is not UNSET:
            field_dict["notes"] = notes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.realtime_row import RealtimeRow  # noqa: PLC0415

        d = dict(src_dict)
        as_of = datetime.datetime.fromisoformat(d.pop("as_of"))

        visitors = d.pop("visitors")

        pages = []
        _pages = d.pop("pages")
        for pages_item_data in _pages:
            pages_item = RealtimeRow.from_dict(pages_item_data)

            pages.append(pages_item)

        sources = []
        _sources = d.pop("sources")
        for sources_item_data in _sources:
            sources_item = RealtimeRow.from_dict(sources_item_data)

            sources.append(sources_item)

        k = d.pop("k")

        notes = cast(list[str], d.pop("notes", UNSET))

        realtime_out = cls(
            as_of=as_of,
            visitors=visitors,
            pages=pages,
            sources=sources,
            k=k,
            notes=notes,
        )

        realtime_out.additional_properties = d
        return realtime_out

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
