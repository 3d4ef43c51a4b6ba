from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.goal_completed_data import GoalCompletedData


T = TypeVar("T", bound="GoalCompletedEvent")


@_attrs_define
class GoalCompletedEvent:
    """
    Attributes:
        id (str): the delivery id, also the `webhook-id` header
        type_ (str):
        site_id (str):
        created_at (datetime.datetime):
        data (GoalCompletedData):
    """

    id: str
    type_: str
    site_id: str
    created_at: datetime.datetime
    data: GoalCompletedData
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.goal_completed_data import GoalCompletedData  # noqa: PLC0415

        id = self.id

        type_ = self.type_

        site_id = self.site_id

        created_at = self.created_at.isoformat()

        data = self.data.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "type": type_,
                "site_id": site_id,
                "created_at": created_at,
                "data": data,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.goal_completed_data import GoalCompletedData  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        type_ = d.pop("type")

        site_id = d.pop("site_id")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        data = GoalCompletedData.from_dict(d.pop("data"))

        goal_completed_event = cls(
            id=id,
            type_=type_,
            site_id=site_id,
            created_at=created_at,
            data=data,
        )

        goal_completed_event.additional_properties = d
        return goal_completed_event

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
