from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.contact_identity import ContactIdentity
    from ..models.contact_summary import ContactSummary
    from ..models.contribution import Contribution
    from ..models.intent_signal_out import IntentSignalOut


T = TypeVar("T", bound="Contact")


@_attrs_define
class Contact:
    """
    Attributes:
        subject_id (str):
        identity (ContactIdentity | None): who the contact is, as they agreed to share it; null until an identity is
            linked, and gone with the consent
        score (float):
        intent (bool): an intent rule matched and the score reaches the intent threshold
        intent_threshold (float):
        signals (list[IntentSignalOut]): the intent rules that matched, explained
        explanation (list[Contribution]):
        summary (ContactSummary):
        definition_version (int):
    """

    subject_id: str
    identity: ContactIdentity | None
    score: float
    intent: bool
    intent_threshold: float
    signals: list[IntentSignalOut]
    explanation: list[Contribution]
    summary: ContactSummary
    definition_version: int
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.contact_identity import ContactIdentity  # noqa: PLC0415
        from ..models.contact_summary import ContactSummary  # noqa: PLC0415
        from ..models.contribution import Contribution  # noqa: PLC0415
        from ..models.intent_signal_out import IntentSignalOut  # noqa: PLC0415

        subject_id = self.subject_id

        identity: dict[str, Any] | None
        if isinstance(self.identity, ContactIdentity):
            identity = self.identity.to_dict()
        else:
            identity = self.identity

        score = self.score

        intent = self.intent

        intent_threshold = self.intent_threshold

        signals = []
        for signals_item_data in self.signals:
            signals_item = signals_item_data.to_dict()
            signals.append(signals_item)

        explanation = []
        for explanation_item_data in self.explanation:
            explanation_item = explanation_item_data.to_dict()
            explanation.append(explanation_item)

        summary = self.summary.to_dict()

        definition_version = self.definition_version

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "subject_id": subject_id,
                "identity": identity,
                "score": score,
                "intent": intent,
                "intent_threshold": intent_threshold,
                "signals": signals,
                "explanation": explanation,
                "summary": summary,
                "definition_version": definition_version,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.contact_identity import ContactIdentity  # noqa: PLC0415
        from ..models.contact_summary import ContactSummary  # noqa: PLC0415
        from ..models.contribution import Contribution  # noqa: PLC0415
        from ..models.intent_signal_out import IntentSignalOut  # noqa: PLC0415

        d = dict(src_dict)
        subject_id = d.pop("subject_id")

        def _parse_identity(data: object) -> ContactIdentity | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                identity_type_0 = ContactIdentity.from_dict(data)

                return identity_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ContactIdentity | None, data)

        identity = _parse_identity(d.pop("identity"))

        score = d.pop("score")

        intent = d.pop("intent")

        intent_threshold = d.pop("intent_threshold")

        signals = []
        _signals = d.pop("signals")
        for signals_item_data in _signals:
            signals_item = IntentSignalOut.from_dict(signals_item_data)

            signals.append(signals_item)

        explanation = []
        _explanation = d.pop("explanation")
        for explanation_item_data in _explanation:
            explanation_item = Contribution.from_dict(explanation_item_data)

            explanation.append(explanation_item)

        summary = ContactSummary.from_dict(d.pop("summary"))

        definition_version = d.pop("definition_version")

        contact = cls(
            subject_id=subject_id,
            identity=identity,
            score=score,
            intent=intent,
            intent_threshold=intent_threshold,
            signals=signals,
            explanation=explanation,
            summary=summary,
            definition_version=definition_version,
        )

        contact.additional_properties = d
        return contact

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
