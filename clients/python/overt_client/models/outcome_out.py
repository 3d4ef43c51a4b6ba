from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.outcome_kind import OutcomeKind
from typing import cast
import datetime


T = TypeVar("T", bound="OutcomeOut")


@_attrs_define
class OutcomeOut:
    """
    Attributes:
        id (str):
        kind (OutcomeKind):
        subject_id (None | str):
        utm_campaign (None | str):
        utm_source (None | str):
        amount (None | str):
        currency (None | str):
        occurred_at (datetime.datetime):
        recorded_at (datetime.datetime):
    """

    id: str
    kind: OutcomeKind
    subject_id: None | str
    utm_campaign: None | str
    utm_source: None | str
    amount: None | str
    currency: None | str
    occurred_at: datetime.datetime
    recorded_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        id = self.id

        kind = self.kind.value

        subject_id: None | str
        subject_id = self.subject_id

        utm_campaign: None | str
        utm_campaign = self.utm_campaign

        utm_source: None | str
        utm_source = self.utm_source

        amount: None | str
        amount = self.amount

        currency: None | str
        currency = self.currency

        occurred_at = self.occurred_at.isoformat()

        recorded_at = self.recorded_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "id": id,
                "kind": kind,
                "subject_id": subject_id,
                "utm_campaign": utm_campaign,
                "utm_source": utm_source,
                "amount": amount,
                "currency": currency,
                "occurred_at": occurred_at,
                "recorded_at": recorded_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        id = d.pop("id")

        kind = OutcomeKind(d.pop("kind"))

        def _parse_subject_id(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        subject_id = _parse_subject_id(d.pop("subject_id"))

        def _parse_utm_campaign(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        utm_campaign = _parse_utm_campaign(d.pop("utm_campaign"))

        def _parse_utm_source(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        utm_source = _parse_utm_source(d.pop("utm_source"))

        def _parse_amount(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        amount = _parse_amount(d.pop("amount"))

        def _parse_currency(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        currency = _parse_currency(d.pop("currency"))

        occurred_at = datetime.datetime.fromisoformat(d.pop("occurred_at"))

        recorded_at = datetime.datetime.fromisoformat(d.pop("recorded_at"))

        outcome_out = cls(
            id=id,
            kind=kind,
            subject_id=subject_id,
            utm_campaign=utm_campaign,
            utm_source=utm_source,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            recorded_at=recorded_at,
        )

        outcome_out.additional_properties = d
        return outcome_out

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
