from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from typing import cast

if TYPE_CHECKING:
    from ..models.campaign_outcomes_outcomes import CampaignOutcomesOutcomes
    from ..models.campaign_outcomes_revenue import CampaignOutcomesRevenue


T = TypeVar("T", bound="CampaignOutcomes")


@_attrs_define
class CampaignOutcomes:
    """
    Attributes:
        utm_source (None | str):
        utm_campaign (None | str):
        outcomes (CampaignOutcomesOutcomes):
        revenue (CampaignOutcomesRevenue): sum of amounts per currency
    """

    utm_source: None | str
    utm_campaign: None | str
    outcomes: CampaignOutcomesOutcomes
    revenue: CampaignOutcomesRevenue
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.campaign_outcomes_outcomes import CampaignOutcomesOutcomes  # noqa: PLC0415
        from ..models.campaign_outcomes_revenue import CampaignOutcomesRevenue  # noqa: PLC0415

        utm_source: None | str
        utm_source = self.utm_source

        utm_campaign: None | str
        utm_campaign = self.utm_campaign

        outcomes = self.outcomes.to_dict()

        revenue = self.revenue.to_dict()

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "utm_source": utm_source,
                "utm_campaign": utm_campaign,
                "outcomes": outcomes,
                "revenue": revenue,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.campaign_outcomes_outcomes import CampaignOutcomesOutcomes  # noqa: PLC0415
        from ..models.campaign_outcomes_revenue import CampaignOutcomesRevenue  # noqa: PLC0415

        d = dict(src_dict)

        def _parse_utm_source(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        utm_source = _parse_utm_source(d.pop("utm_source"))

        def _parse_utm_campaign(data: object) -> None | str:
            if data is None:
                return data
            return cast(None | str, data)

        utm_campaign = _parse_utm_campaign(d.pop("utm_campaign"))

        outcomes = CampaignOutcomesOutcomes.from_dict(d.pop("outcomes"))

        revenue = CampaignOutcomesRevenue.from_dict(d.pop("revenue"))

        campaign_outcomes = cls(
            utm_source=utm_source,
            utm_campaign=utm_campaign,
            outcomes=outcomes,
            revenue=revenue,
        )

        campaign_outcomes.additional_properties = d
        return campaign_outcomes

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
