from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset


T = TypeVar("T", bound="Include")


@_attrs_define
class Include:
    """What a query adds to the site's own events.

    Attributes:
        imports (bool | Unset): add the site's completed imports (Plausible or Umami exports) where the imported
            aggregates can answer the query; `meta.imports_included` says whether they could, `meta.imports_skip_reason` why
            not. With imports included, conversion rates count visitors (converting visitors / visitors, as Plausible's),
            since imported data holds no visits Default: False.
    """

    imports: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        imports = self.imports

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if imports is not UNSET:
            field_dict["imports"] = imports

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        imports = d.pop("imports", UNSET)

        include = cls(
            imports=imports,
        )

        return include
