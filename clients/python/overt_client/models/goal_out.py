from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.goal_out_props_type_0 import GoalOutPropsType0


T = TypeVar("T", bound="GoalOut")


@_attrs_define
class GoalOut:
    """
    Attributes:
        id (str):
        name (str):
        page (None | str):
        event (None | str):
        props (GoalOutPropsType0 | None):
        currency (None | str):
        created_at (datetime.datetime):
    """

    id: str
    name: str
    page: None | str
    event: None | str
    props: GoalOutPropsType0 | None
    currency: None | str
    created_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.goal_out_props_type_0 import GoalOutPropsType0  # noqa: PLC0415

        id = self.id

        name = self.name

        page: None | str
        page = self.page

        event: None | str
        event = self.event

        props: dict[str, Any] | None
        if isinstance(self.props, GoalOutPropsType0):
            props = self.props.to_dict()
        else:
            props = self.props

        currency: None | str
        currency = self.currency

        created_at = self.created_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "name": name,
                "page": page,
                "event": event,
                "props": props,
                "currency": currency,
                "created_at": created_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.goal_out_props_type_0 import GoalOutPropsType0  # noqa: PLC0415

        d = dict(src_dict)
        id = d.pop("id")

        name = d.pop("name")

        def _parse_page(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        page = _parse_page(d.pop("page"))

        def _parse_event(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        event = _parse_event(d.pop("event"))

        def _parse_props(data: object) -> GoalOutPropsType0 | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                props_type_0 = GoalOutPropsType0.from_dict(data)

                return props_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GoalOutPropsType0 | None, data)

        props = _parse_props(d.pop("props"))

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        goal_out = cls(
            id=id,
            name=name,
            page=page,
            event=event,
            props=props,
            currency=currency,
            created_at=created_at,
        )

        goal_out.additional_properties = d
        return goal_out

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
