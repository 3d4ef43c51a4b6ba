from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import Literal, cast


T = TypeVar("T", bound="GoalRule")


@_attrs_define
class GoalRule:
    """The goal `goal` reached at least `min_count` times.

    Attributes:
        name (str):
        goal (str):
        kind (Literal['goal'] | Unset):  Default: 'goal'.
        min_count (int | Unset):  Default: 1.
    """

    name: str
    goal: str
    kind: Literal["goal"] | Unset = "goal"
    min_count: int | Unset = 1

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        goal = self.goal

        kind = self.kind

        min_count = self.min_count

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "goal": goal,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if min_count is not UNSET:
            field_dict["min_count"] = min_count

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        goal = d.pop("goal")

        kind = cast(Literal["goal"] | Unset, d.pop("kind", UNSET))
        if kind != "goal" and not isinstance(kind, Unset):
            raise ValueError(f"kind must match const 'goal', got '{kind}'")

        min_count = d.pop("min_count", UNSET)

        goal_rule = cls(
            name=name,
            goal=goal,
            kind=kind,
            min_count=min_count,
        )

        return goal_rule
