from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
from typing import Literal, cast


T = TypeVar("T", bound="EngagedOnPageRule")


@_attrs_define
class EngagedOnPageRule:
    """At least `min_engaged_ms` engaged in one session on pages matching `pattern`
    (the high-intent pages when no pattern is given).

        Attributes:
            name (str):
            kind (Literal['engaged_on_page'] | Unset):  Default: 'engaged_on_page'.
            pattern (None | str | Unset):
            min_engaged_ms (int | Unset):  Default: 120000.
    """

    name: str
    kind: Literal["engaged_on_page"] | Unset = "engaged_on_page"
    pattern: None | str | Unset = UNSET
    min_engaged_ms: int | Unset = 120000

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        kind = self.kind

        pattern: None | str | Unset
        if isinstance(self.pattern, Unset):
            pattern = UNSET
        else:
            pattern = self.pattern

        min_engaged_ms = self.min_engaged_ms

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if kind is not UNSET:
            field_dict["kind"] = kind
        if pattern is not UNSET:
            field_dict["pattern"] = pattern
        if min_engaged_ms is not UNSET:
            field_dict["min_engaged_ms"] = min_engaged_ms

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        name = d.pop("name")

        kind = cast(Literal["engaged_on_page"] | Unset, d.pop("kind", UNSET))
        if kind != "engaged_on_page" and not isinstance(kind, Unset):
            raise ValueError(f"kind must match const 'engaged_on_page', got '{kind}'")

        def _parse_pattern(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        pattern = _parse_pattern(d.pop("pattern", UNSET))

        min_engaged_ms = d.pop("min_engaged_ms", UNSET)

        engaged_on_page_rule = cls(
            name=name,
            kind=kind,
            pattern=pattern,
            min_engaged_ms=min_engaged_ms,
        )

        return engaged_on_page_rule
