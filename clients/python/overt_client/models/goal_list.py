from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.goal_out import GoalOut


T = TypeVar("T", bound="GoalList")


@_attrs_define
class GoalList:
    """
    Attributes:
        goals (list[GoalOut]):
        implicit (bool): true while the site has no goals: then every custom event (not pageview, engagement, outbound,
            download or 404) is a goal under its own name, as before goals could be registered; the first goal registered
            ends this
    """

    goals: list[GoalOut]
    implicit: bool
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.goal_out import GoalOut  # noqa: PLC0415

        goals = []
        for goals_item_data in self.goals:
            goals_item = goals_item_data.to_dict()
            goals.append(goals_item)

        implicit = self.implicit

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "goals": goals,
                "implicit": implicit,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.goal_out import GoalOut  # noqa: PLC0415

        d = dict(src_dict)
        goals = []
        _goals = d.pop("goals")
        for goals_item_data in _goals:
            goals_item = GoalOut.from_dict(goals_item_data)

            goals.append(goals_item)

        implicit = d.pop("implicit")

        goal_list = cls(
            goals=goals,
            implicit=implicit,
        )

        goal_list.additional_properties = d
        return goal_list

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
