from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import Literal, cast


T = TypeVar("T", bound="RepeatSessionsRule")


@_attrs_define
class RepeatSessionsRule:
    """At least `min_sessions` sessions within `within_days`.

    Attributes:
        name (str):
        kind (Literal['repeat_sessions'] | Unset):  Default: 'repeat_sessions'.
        min_sessions (int | Unset):  Default: 2.
        within_days (int | Unset):  Default: 7.
    """

    name: str
    kind: Literal["repeat_sessions"] | Unset = "repeat_sessions"
    min_sessions: int | Unset = 2
    within_days: int | Unset = 7

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        kind = self.kind

        min_sessions = self.min_sessions

        within_days = self.within_days

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if min_sessions is not UNSET:
            field_dict["min_sessions"] = min_sessions
        if within_days is not UNSET:
            field_dict["within_days"] = within_days

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        kind = cast(Literal["repeat_sessions"] | Unset, d.pop("kind", UNSET))
        if kind != "repeat_sessions" and not isinstance(kind, Unset):
            raise ValueError(f"kind must match const 'repeat_sessions', got '{kind}'")

        min_sessions = d.pop("min_sessions", UNSET)

        within_days = d.pop("within_days", UNSET)

        repeat_sessions_rule = cls(
            name=name,
            kind=kind,
            min_sessions=min_sessions,
            within_days=within_days,
        )

        return repeat_sessions_rule
