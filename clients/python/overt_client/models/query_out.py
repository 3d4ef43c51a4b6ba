from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.query_in_output import QueryInOutput
    from ..models.query_meta import QueryMeta


T = TypeVar("T", bound="QueryOut")


@_attrs_define
class QueryOut:
    """
    Attributes:
        results (list[Any]):
        meta (QueryMeta):
        query (QueryInOutput): An aggregate query over one site's events.
    """

    results: list[Any]
    meta: QueryMeta
    query: QueryInOutput
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.query_in_output import QueryInOutput  # noqa: PLC0415
        from ..models.query_meta import QueryMeta  # noqa: PLC0415

        results = self.results

        meta = self.meta.to_dict()

        query = self.query.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "results": results,
                "meta": meta,
                "query": query,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.query_in_output import QueryInOutput  # noqa: PLC0415
        from ..models.query_meta import QueryMeta  # noqa: PLC0415

        d = dict(src_dict)
        results = cast(list[Any], d.pop("results"))

        meta = QueryMeta.from_dict(d.pop("meta"))

        query = QueryInOutput.from_dict(d.pop("query"))

        query_out = cls(
            results=results,
            meta=meta,
            query=query,
        )

        query_out.additional_properties = d
        return query_out

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
