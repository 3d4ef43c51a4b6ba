from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast

if TYPE_CHECKING:
    from ..models.goal_in_props_type_0 import GoalInPropsType0


T = TypeVar("T", bound="GoalIn")


@_attrs_define
class GoalIn:
    """A page goal (`page`) or a custom-event goal (`event`, optionally with `props`); a
    custom-event goal with a `currency` is a revenue goal.

    `page` is a path pattern with Plausible's wildcards: `*` matches within one path segment
    (no `/`), `**` matches across segments; nothing else is special. `props`: the event
    counts only when each of these props has exactly this value. `name` is what reports
    show (the `goal` dimension and filter, funnel steps): by default the event's name, or
    "Visit " and the page pattern.

        Attributes:
            name (None | str | Unset):
            page (None | str | Unset):
            event (None | str | Unset):
            props (GoalInPropsType0 | None | Unset):
            currency (None | str | Unset): ISO 4217 code: a revenue goal, whose events carry an amount in it
    """

    name: None | str | Unset = UNSET
    page: None | str | Unset = UNSET
    event: None | str | Unset = UNSET
    props: GoalInPropsType0 | None | Unset = UNSET
    currency: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.goal_in_props_type_0 import GoalInPropsType0  # noqa: PLC0415

        name: None | str | Unset
        if isinstance(self.name, Unset):
            name = UNSET
        else:
            name = self.name

        page: None | str | Unset
        if isinstance(self.page, Unset):
            page = UNSET
        else:
            page = self.page

        event: None | str | Unset
        if isinstance(self.event, Unset):
            event = UNSET
        else:
            event = self.event

        props: dict[str, Any] | None | Unset
        if isinstance(self.props, Unset):
            props = UNSET
        elif isinstance(self.props, GoalInPropsType0):
            props = self.props.to_dict()
        else:
            props = self.props

        currency: None | str | Unset
        if isinstance(self.currency, Unset):
            currency = UNSET
        else:
            currency = self.currency

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if name is not UNSET:
            field_dict["name"] = name
        if page is not UNSET:
            field_dict["page"] = page
        if event is not UNSET:
            field_dict["event"] = event
        if props is not UNSET:
            field_dict["props"] = props
        if currency is not UNSET:
            field_dict["currency"] = currency

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.goal_in_props_type_0 import GoalInPropsType0  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_name(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        name = _parse_name(d.pop("name", UNSET))

        def _parse_page(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        page = _parse_page(d.pop("page", UNSET))

        def _parse_event(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        event = _parse_event(d.pop("event", UNSET))

        def _parse_props(data: object) -> GoalInPropsType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                props_type_0 = GoalInPropsType0.from_dict(data)

                return props_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(GoalInPropsType0 | None | Unset, data)

        props = _parse_props(d.pop("props", UNSET))

        def _parse_currency(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        currency = _parse_currency(d.pop("currency", UNSET))

        goal_in = cls(
            name=name,
            page=page,
            event=event,
            props=props,
            currency=currency,
        )

        return goal_in
