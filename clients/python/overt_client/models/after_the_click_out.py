from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
    from ..models.after_the_click_row import AfterTheClickRow


T = TypeVar("T", bound="AfterTheClickOut")


@_attrs_define
class AfterTheClickOut:
    """
    Attributes:
        by (str):
        rows (list[AfterTheClickRow]):
        definition_version (int):
        k (int):
        notes (list[str] | Unset): what k folded or left out and why, in words to show beside the rows
    """

    by: str
    rows: list[AfterTheClickRow]
    definition_version: int
    k: int
    notes: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.after_the_click_row import AfterTheClickRow  # noqa: PLC0415

        by = self.by

        rows = []
        for rows_item_data in self.rows:
            rows_item = rows_item_data.to_dict()
            rows.append(rows_item)

        definition_version = self.definition_version

        k = self.k

        notes: list[str] | Unset = UNSET
        if not isinstance(self.notes, Unset):
            notes = self.notes

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "by": by,
                "rows": rows,
                "definition_version": definition_version,
                "k": k,
            }
        )
        if notes is not UNSET:
            field_dict["notes"] = notes

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.after_the_click_row import AfterTheClickRow  # noqa: PLC0415

        d = dict(src_dict)
        by = d.pop("by")

        rows = []
        _rows = d.pop("rows")
        for rows_item_data in _rows:
            rows_item = AfterTheClickRow.from_dict(rows_item_data)

            rows.append(rows_item)

        definition_version = d.pop("definition_version")

        k = d.pop("k")

        notes = cast(list[str], d.pop("notes", UNSET))

        after_the_click_out = cls(
            by=by,
            rows=rows,
            definition_version=definition_version,
            k=k,
            notes=notes,
        )

        after_the_click_out.additional_properties = d
        return after_the_click_out

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
