from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.contact import Contact
    from ..models.goal import Goal


T = TypeVar("T", bound="GoalCompletedData")


@_attrs_define
class GoalCompletedData:
    """
    Attributes:
        contact (Contact):
        goal (Goal):
    """

    contact: Contact
    goal: Goal
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.contact import Contact  # noqa: PLC0415
        from ..models.goal import Goal  # noqa: PLC0415

        contact = self.contact.to_dict()

        goal = self.goal.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "contact": contact,
                "goal": goal,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.contact import Contact  # noqa: PLC0415
        from ..models.goal import Goal  # noqa: PLC0415

        d = dict(src_dict)
        contact = Contact.from_dict(d.pop("contact"))

        goal = Goal.from_dict(d.pop("goal"))

        goal_completed_data = cls(
            contact=contact,
            goal=goal,
        )

        goal_completed_data.additional_properties = d
        return goal_completed_data

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
