from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import Literal, cast


T = TypeVar("T", bound="PageRepeatRule")


@_attrs_define
class PageRepeatRule:
    """Pages matching `pattern` viewed at least `min_visits` times within `within_days`.

    Attributes:
        name (str):
        pattern (str):
        kind (Literal['page_repeat'] | Unset):  Default: 'page_repeat'.
        min_visits (int | Unset):  Default: 2.
        within_days (int | Unset):  Default: 7.
    """

    name: str
    pattern: str
    kind: Literal["page_repeat"] | Unset = "page_repeat"
    min_visits: int | Unset = 2
    within_days: int | Unset = 7

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        pattern = self.pattern

        kind = self.kind

        min_visits = self.min_visits

        within_days = self.within_days

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "pattern": pattern,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if min_visits is not UNSET:
            field_dict["min_visits"] = min_visits
        if within_days is not UNSET:
            field_dict["within_days"] = within_days

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        pattern = d.pop("pattern")

        kind = cast(Literal["page_repeat"] | Unset, d.pop("kind", UNSET))
        if kind != "page_repeat" and not isinstance(kind, Unset):
            raise ValueError(f"kind must match const 'page_repeat', got '{kind}'")

        min_visits = d.pop("min_visits", UNSET)

        within_days = d.pop("within_days", UNSET)

        page_repeat_rule = cls(
            name=name,
            pattern=pattern,
            kind=kind,
            min_visits=min_visits,
            within_days=within_days,
        )

        return page_repeat_rule
