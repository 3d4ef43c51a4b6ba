from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime


T = TypeVar("T", bound="ContactIdentity")


@_attrs_define
class ContactIdentity:
    """The identity the visitor consented to share; present only while `identification`
    consent is active (read with it on every call).

        Attributes:
            kind (str): email | external_id (the site's own id for the person)
            value (str): the e-mail address or the external id
            email (None | str): the e-mail address, when that is the identity
            display_name (None | str): the name the site gave with it, if any
            method (str): site_assertion | email_link (confirmed by the visitor)
            verified_at (datetime.datetime):
    """

    kind: str
    value: str
    email: None | str
    display_name: None | str
    method: str
    verified_at: datetime.datetime
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        kind = self.kind

        value = self.value

        email: None | str
        email = self.email

        display_name: None | str
        display_name = self.display_name

        method = self.method

        verified_at = self.verified_at.isoformat()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "kind": kind,
                "value": value,
                "email": email,
                "display_name": display_name,
                "method": method,
                "verified_at": verified_at,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        kind = d.pop("kind")

        value = d.pop("value")

        def _parse_email(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        email = _parse_email(d.pop("email"))

        def _parse_display_name(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        display_name = _parse_display_name(d.pop("display_name"))

        method = d.pop("method")

        verified_at = datetime.datetime.fromisoformat(d.pop("verified_at"))

        contact_identity = cls(
            kind=kind,
            value=value,
            email=email,
            display_name=display_name,
            method=method,
            verified_at=verified_at,
        )

        contact_identity.additional_properties = d
        return contact_identity

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
