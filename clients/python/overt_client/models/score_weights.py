from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset


T = TypeVar("T", bound="ScoreWeights")


@_attrs_define
class ScoreWeights:
    """Points per signal; the sum is capped.

    Attributes:
        per_engaged_second (float | Unset):  Default: 0.1.
        per_pageview (float | Unset):  Default: 1.0.
        per_high_intent_page (float | Unset):  Default: 5.0.
        per_goal (float | Unset):  Default: 10.0.
        per_return_visit (float | Unset):  Default: 3.0.
        cap (float | Unset):  Default: 100.0.
    """

    per_engaged_second: float | Unset = 0.1
    per_pageview: float | Unset = 1.0
    per_high_intent_page: float | Unset = 5.0
    per_goal: float | Unset = 10.0
    per_return_visit: float | Unset = 3.0
    cap: float | Unset = 100.0

    def to_dict(self) -> dict[str, Any]:
        per_engaged_second = self.per_engaged_second

        per_pageview = self.per_pageview

        per_high_intent_page = self.per_high_intent_page

        per_goal = self.per_goal

        per_return_visit = self.per_return_visit

        cap = self.cap

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if per_engaged_second is not UNSET:
            field_dict["per_engaged_second"] = per_engaged_second
        if per_pageview is not UNSET:
            field_dict["per_pageview"] = per_pageview
        if per_high_intent_page is not UNSET:
            field_dict["per_high_intent_page"] = per_high_intent_page
        if per_goal is not UNSET:
            field_dict["per_goal"] = per_goal
        if per_return_visit is not UNSET:
            field_dict["per_return_visit"] = per_return_visit
        if cap is not UNSET:
            field_dict["cap"] = cap

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        d = dict(src_dict)
        per_engaged_second = d.pop("per_engaged_second", UNSET)

        per_pageview = d.pop("per_pageview", UNSET)

        per_high_intent_page = d.pop("per_high_intent_page", UNSET)

        per_goal = d.pop("per_goal", UNSET)

        per_return_visit = d.pop("per_return_visit", UNSET)

        cap = d.pop("cap", UNSET)

        score_weights = cls(
            per_engaged_second=per_engaged_second,
            per_pageview=per_pageview,
            per_high_intent_page=per_high_intent_page,
            per_goal=per_goal,
            per_return_visit=per_return_visit,
            cap=cap,
        )

        return score_weights
