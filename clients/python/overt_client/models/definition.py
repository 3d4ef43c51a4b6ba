from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.engaged_on_page_rule import EngagedOnPageRule
    from ..models.goal_rule import GoalRule
    from ..models.page_repeat_rule import PageRepeatRule
    from ..models.repeat_sessions_rule import RepeatSessionsRule
    from ..models.score_weights import ScoreWeights


T = TypeVar("T", bound="Definition")


@_attrs_define
class Definition:
    """A stored version (0: the defaults of a site that never stored one).

    Attributes:
        version (int):
        engaged_min_ms (int | Unset): engaged session: at least this long Default: 10000.
        engaged_min_pageviews (int | Unset): engaged session: or at least this many pages Default: 2.
        engaged_min_goals (int | Unset): engaged session: or this many goals (0: off) Default: 1.
        weights (ScoreWeights | Unset): Points per signal; the sum is capped.
        high_intent_pages (list[str] | Unset): globs on the path, e.g. /pricing*
        intent_rules (list[EngagedOnPageRule | GoalRule | PageRepeatRule | RepeatSessionsRule] | Unset):
        intent_threshold (float | Unset): intent needs a matched rule and at least this score Default: 30.0.
        k (int | Unset): k-anonymity: smallest group shown Default: 5.
        created_at (datetime.datetime | None | Unset):
    """

    version: int
    engaged_min_ms: int | Unset = 10000
    engaged_min_pageviews: int | Unset = 2
    engaged_min_goals: int | Unset = 1
    weights: ScoreWeights | Unset = UNSET
    high_intent_pages: list[str] | Unset = UNSET
    intent_rules: (
        list[EngagedOnPageRule | GoalRule | PageRepeatRule | RepeatSessionsRule] | Unset
    ) = UNSET
    intent_threshold: float | Unset = 30.0
    k: int | Unset = 5
    created_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.engaged_on_page_rule import EngagedOnPageRule  # noqa: PLC0415
        from ..models.goal_rule import GoalRule  # noqa: PLC0415
        from ..models.page_repeat_rule import PageRepeatRule  # noqa: PLC0415
        from ..models.repeat_sessions_rule import RepeatSessionsRule  # noqa: PLC0415
        from ..models.score_weights import ScoreWeights  # noqa: PLC0415

        version = self.version

        engaged_min_ms = self.engaged_min_ms

        engaged_min_pageviews = self.engaged_min_pageviews

        engaged_min_goals = self.engaged_min_goals

        weights: dict[str, Any] | Unset = UNSET
        if not isinstance(self.weights, Unset):
            weights = self.weights.to_dict()

        high_intent_pages: list[str] | Unset = UNSET
        if not isinstance(self.high_intent_pages, Unset):
            high_intent_pages = self.high_intent_pages

        intent_rules: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.intent_rules, Unset):
            intent_rules = []
            for intent_rules_item_data in self.intent_rules:
                intent_rules_item: dict[str, Any]
                if isinstance(intent_rules_item_data, PageRepeatRule):
                    intent_rules_item = intent_rules_item_data.to_dict()
                elif isinstance(intent_rules_item_data, EngagedOnPageRule):
                    intent_rules_item = intent_rules_item_data.to_dict()
                elif isinstance(intent_rules_item_data, RepeatSessionsRule):
                    intent_rules_item = intent_rules_item_data.to_dict()
                else:
                    intent_rules_item = intent_rules_item_data.to_dict()

                intent_rules.append(intent_rules_item)

        intent_threshold = self.intent_threshold

        k = self.k

        created_at: None | str | Unset
        if isinstance(self.created_at, Unset):
            created_at = UNSET
        elif isinstance(self.created_at, datetime.datetime):
            created_at = self.created_at.isoformat()
        else:
            created_at = self.created_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "version": version,
            }
        )
        if engaged_min_ms is not UNSET:
            field_dict["engaged_min_ms"] = engaged_min_ms
        if engaged_min_pageviews is not UNSET:
            field_dict["engaged_min_pageviews"] = engaged_min_pageviews
        if engaged_min_goals is not UNSET:
            field_dict["engaged_min_goals"] = engaged_min_goals
        if weights is not UNSET:
            field_dict["weights"] = weights
        if high_intent_pages is not UNSET:
            field_dict["high_intent_pages"] = high_intent_pages
        if intent_rules is not UNSET:
            field_dict["intent_rules"] = intent_rules
        if intent_threshold is not UNSET:
            field_dict["intent_threshold"] = intent_threshold
        if k is not UNSET:
            field_dict["k"] = k
        if created_at is not UNSET:
            field_dict["created_at"] = created_at

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.engaged_on_page_rule import EngagedOnPageRule  # noqa: PLC0415
        from ..models.goal_rule import GoalRule  # noqa: PLC0415
        from ..models.page_repeat_rule import PageRepeatRule  # noqa: PLC0415
        from ..models.repeat_sessions_rule import RepeatSessionsRule  # noqa: PLC0415
        from ..models.score_weights import ScoreWeights  # noqa: PLC0415

        d = dict(src_dict)
        version = d.pop("version")

        engaged_min_ms = d.pop("engaged_min_ms", UNSET)

        engaged_min_pageviews = d.pop("engaged_min_pageviews", UNSET)

        engaged_min_goals = d.pop("engaged_min_goals", UNSET)

        _weights = d.pop("weights", UNSET)
        weights: ScoreWeights | Unset
        if isinstance(_weights, Unset):
            weights = UNSET
        else:
            weights = ScoreWeights.from_dict(_weights)

        high_intent_pages = cast(list[str], d.pop("high_intent_pages", UNSET))

        _intent_rules = d.pop("intent_rules", UNSET)
        intent_rules: (
            list[EngagedOnPageRule | GoalRule | PageRepeatRule | RepeatSessionsRule]
            | Unset
        ) = UNSET
        if _intent_rules is not UNSET:
            intent_rules = []
            for intent_rules_item_data in _intent_rules:

                def _parse_intent_rules_item(
                    data: object,
                ) -> EngagedOnPageRule | GoalRule | PageRepeatRule | RepeatSessionsRule:
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        intent_rules_item_type_0 = PageRepeatRule.from_dict(data)

                        return intent_rules_item_type_0
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        intent_rules_item_type_1 = EngagedOnPageRule.from_dict(data)

                        return intent_rules_item_type_1
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    try:
                        if not isinstance(data, dict):
                            raise TypeError()
                        intent_rules_item_type_2 = RepeatSessionsRule.from_dict(data)

                        return intent_rules_item_type_2
                    except (TypeError, ValueError, AttributeError, KeyError):
                        pass
                    if not isinstance(data, dict):
                        raise TypeError()
                    intent_rules_item_type_3 = GoalRule.from_dict(data)

                    return intent_rules_item_type_3

                intent_rules_item = _parse_intent_rules_item(intent_rules_item_data)

                intent_rules.append(intent_rules_item)

        intent_threshold = d.pop("intent_threshold", UNSET)

        k = d.pop("k", UNSET)

        def _parse_created_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                created_at_type_0 = datetime.datetime.fromisoformat(data)

                return created_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        created_at = _parse_created_at(d.pop("created_at", UNSET))

        definition = cls(
            version=version,
            engaged_min_ms=engaged_min_ms,
            engaged_min_pageviews=engaged_min_pageviews,
            engaged_min_goals=engaged_min_goals,
            weights=weights,
            high_intent_pages=high_intent_pages,
            intent_rules=intent_rules,
            intent_threshold=intent_threshold,
            k=k,
            created_at=created_at,
        )

        return definition
