from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.campaign_outcomes import CampaignOutcomes
    from ..models.lift_row import LiftRow


T = TypeVar("T", bound="OutcomeReport")


@_attrs_define
class OutcomeReport:
    """
    Attributes:
        site_id (str):
        date_range (list[datetime.date]):
        timezone (str): the site's time zone, in which the date range is read
        k (int):
        definition_version (int):
        subjects (int | None): consented subjects considered; null below k
        good_outcomes (int | None):
        base_rate (float | None):
        signals (list[LiftRow]):
        score_bands (list[LiftRow]):
        campaigns (list[CampaignOutcomes]):
    """

    site_id: str
    date_range: list[datetime.date]
    timezone: str
    k: int
    definition_version: int
    subjects: int | None
    good_outcomes: int | None
    base_rate: float | None
    signals: list[LiftRow]
    score_bands: list[LiftRow]
    campaigns: list[CampaignOutcomes]
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.campaign_outcomes import CampaignOutcomes  # noqa: PLC0415
        from ..models.lift_row import LiftRow  # noqa: PLC0415

        site_id = self.site_id

        date_range = []
        for date_range_item_data in self.date_range:
            date_range_item: str
            if isinstance(date_range_item_data, datetime.date):
                date_range_item = date_range_item_data.isoformat()

            date_range.append(date_range_item)

        timezone = self.timezone

        k = self.k

        definition_version = self.definition_version

        subjects: int | None
        subjects = self.subjects

        good_outcomes: int | None
        good_outcomes = self.good_outcomes

        base_rate: float | None
        base_rate = self.base_rate

        signals = []
        for signals_item_data in self.signals:
            signals_item = signals_item_data.to_dict()
            signals.append(signals_item)

        score_bands = []
        for score_bands_item_data in self.score_bands:
            score_bands_item = score_bands_item_data.to_dict()
            score_bands.append(score_bands_item)

        campaigns = []
        for campaigns_item_data in self.campaigns:
            campaigns_item = campaigns_item_data.to_dict()
            campaigns.append(campaigns_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "site_id": site_id,
                "date_range": date_range,
                "timezone": timezone,
                "k": k,
                "definition_version": definition_version,
                "subjects": subjects,
                "good_outcomes": good_outcomes,
                "base_rate": base_rate,
                "signals": signals,
                "score_bands": score_bands,
                "campaigns": campaigns,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.campaign_outcomes import CampaignOutcomes  # noqa: PLC0415
        from ..models.lift_row import LiftRow  # noqa: PLC0415

        d = dict(src_dict)
        site_id = d.pop("site_id")

        date_range = []
        _date_range = d.pop("date_range")
        for date_range_item_data in _date_range:

            def _parse_date_range_item(data: object) -> datetime.date:
                if not isinstance(data, str):
                    raise TypeError()
                date_range_item_type_0 = datetime.date.fromisoformat(data)

                return date_range_item_type_0

            date_range_item = _parse_date_range_item(date_range_item_data)

            date_range.append(date_range_item)

        timezone = d.pop("timezone")

        k = d.pop("k")

        definition_version = d.pop("definition_version")

        def _parse_subjects(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        subjects = _parse_subjects(d.pop("subjects"))

        def _parse_good_outcomes(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        good_outcomes = _parse_good_outcomes(d.pop("good_outcomes"))

        def _parse_base_rate(data: object) -> float | None:
            if data is None:
                return data
            return cast(float | None, data)

        base_rate = _parse_base_rate(d.pop("base_rate"))

        signals = []
        _signals = d.pop("signals")
        for signals_item_data in _signals:
            signals_item = LiftRow.from_dict(signals_item_data)

            signals.append(signals_item)

        score_bands = []
        _score_bands = d.pop("score_bands")
        for score_bands_item_data in _score_bands:
            score_bands_item = LiftRow.from_dict(score_bands_item_data)

            score_bands.append(score_bands_item)

        campaigns = []
        _campaigns = d.pop("campaigns")
        for campaigns_item_data in _campaigns:
            campaigns_item = CampaignOutcomes.from_dict(campaigns_item_data)

            campaigns.append(campaigns_item)

        outcome_report = cls(
            site_id=site_id,
            date_range=date_range,
            timezone=timezone,
            k=k,
            definition_version=definition_version,
            subjects=subjects,
            good_outcomes=good_outcomes,
            base_rate=base_rate,
            signals=signals,
            score_bands=score_bands,
            campaigns=campaigns,
        )

        outcome_report.additional_properties = d
        return outcome_report

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
