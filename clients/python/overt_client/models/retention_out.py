from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
    from ..models.cohort import Cohort


T = TypeVar("T", bound="RetentionOut")


@_attrs_define
class RetentionOut:
    """
    Attributes:
        cohorts (list[Cohort]):
        k (int):
        note (str | Unset):  Default: 'tier 1 only: visitors with an analytics id (analytics consent)'.
    """

    cohorts: list[Cohort]
    k: int
    note: str | Unset = "tier 1 only: visitors with an analytics id (analytics consent)"
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.cohort import Cohort  # noqa: PLC0415

        cohorts = []
        for cohorts_item_data in self.cohorts:
            cohorts_item = cohorts_item_data.to_dict()
            cohorts.append(cohorts_item)

        k = self.k

        note = self.note

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "cohorts": cohorts,
                "k": k,
            }
        )
        if note is not UNSET:
            field_dict["note"] = note

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.cohort import Cohort  # noqa: PLC0415

        d = dict(src_dict)
        cohorts = []
        _cohorts = d.pop("cohorts")
        for cohorts_item_data in _cohorts:
            cohorts_item = Cohort.from_dict(cohorts_item_data)

            cohorts.append(cohorts_item)

        k = d.pop("k")

        note = d.pop("note", UNSET)

        retention_out = cls(
            cohorts=cohorts,
            k=k,
            note=note,
        )

        retention_out.additional_properties = d
        return retention_out

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
