from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, BinaryIO, TextIO, TYPE_CHECKING, Generator

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

from ..models.metric import Metric
from ..models.query_in_output_date_range_type_1 import QueryInOutputDateRangeType1
from ..types import UNSET, Unset
from typing import cast
import datetime

if TYPE_CHECKING:
    from ..models.comparison import Comparison
    from ..models.include import Include
    from ..models.order import Order
    from ..models.query_in_output_filters_type_0 import QueryInOutputFiltersType0


T = TypeVar("T", bound="QueryInOutput")


@_attrs_define
class QueryInOutput:
    """An aggregate query over one site's events.

    Attributes:
        site_id (str):
        metrics (list[Metric]):
        date_range (list[datetime.date] | QueryInOutputDateRangeType1): First and last day, inclusive, in the site's
            time zone; or relative to today there (day, 7d, 28d, 30d, month, 6mo, 12mo, year, all): day is today, 7d/28d/30d
            end today, month, 6mo, 12mo and year are whole calendar months (this one included) and whole years, all runs
            from the site's first day with data to today.
        dimensions (list[str] | Unset):
        filters (None | QueryInOutputFiltersType0 | Unset):
        order_by (list[Order] | Unset):
        limit (int | Unset):  Default: 100.
        offset (int | Unset):  Default: 0.
        definition_version (int | None | Unset): answer under this stored version; latest if absent
        comparisons (Comparison | None | Unset): each row's values in another period, beside it (`comparison`)
        include (Include | Unset): What a query adds to the site's own events.
    """

    site_id: str
    metrics: list[Metric]
    date_range: list[datetime.date] | QueryInOutputDateRangeType1
    dimensions: list[str] | Unset = UNSET
    filters: None | QueryInOutputFiltersType0 | Unset = UNSET
    order_by: list[Order] | Unset = UNSET
    limit: int | Unset = 100
    offset: int | Unset = 0
    definition_version: int | None | Unset = UNSET
    comparisons: Comparison | None | Unset = UNSET
    include: Include | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.comparison import Comparison  # noqa: PLC0415
        from ..models.include import Include  # noqa: PLC0415
        from ..models.order import Order  # noqa: PLC0415
        from ..models.query_in_output_filters_type_0 import QueryInOutputFiltersType0  # noqa: PLC0415

        site_id = self.site_id

        metrics = []
        for metrics_item_data in self.metrics:
            metrics_item = metrics_item_data.value
            metrics.append(metrics_item)

        date_range: list[str] | str
        if isinstance(self.date_range, list):
            date_range = []
            for date_range_type_0_item_data in self.date_range:
                date_range_type_0_item: str
                if isinstance(date_range_type_0_item_data, datetime.date):
                    date_range_type_0_item = date_range_type_0_item_data.isoformat()

                date_range.append(date_range_type_0_item)

        else:
            date_range = self.date_range.value

        dimensions: list[str] | Unset = UNSET
        if not isinstance(self.dimensions, Unset):
            dimensions = self.dimensions

        filters: dict[str, Any] | None | Unset
        if isinstance(self.filters, Unset):
            filters = UNSET
        elif isinstance(self.filters, QueryInOutputFiltersType0):
            filters = self.filters.to_dict()
        else:
            filters = self.filters

        order_by: list[dict[str, Any]] | Unset = UNSET
        if not isinstance(self.order_by, Unset):
            order_by = []
            for order_by_item_data in self.order_by:
                order_by_item = order_by_item_data.to_dict()
                order_by.append(order_by_item)

        limit = self.limit

        offset = self.offset

        definition_version: int | None | Unset
        if isinstance(self.definition_version, Unset):
            definition_version = UNSET
        else:
            definition_version = self.definition_version

        comparisons: dict[str, Any] | None | Unset
        if isinstance(self.comparisons, Unset):
            comparisons = UNSET
        elif isinstance(self.comparisons, Comparison):
            comparisons = self.comparisons.to_dict()
        else:
            comparisons = self.comparisons

        include: dict[str, Any] | Unset = UNSET
        if not isinstance(self.include, Unset):
            include = self.include.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "site_id": site_id,
                "metrics": metrics,
                "date_range": date_range,
            }
        )
        if dimensions is not UNSET:
            field_dict["dimensions"] = dimensions
        if filters is not UNSET:
            field_dict["filters"] = filters
        if order_by is not UNSET:
            field_dict["order_by"] = order_by
        if limit is not UNSET:
            field_dict["limit"] = limit
        if offset is not UNSET:
            field_dict["offset"] = offset
        if definition_version is not UNSET:
            field_dict["definition_version"] = definition_version
        if comparisons is not UNSET:
            field_dict["comparisons"] = comparisons
        if include is not UNSET:
            field_dict["include"] = include

        return field_dict

    @classmethod
    def from_dict(cls: type[T], src_dict: Mapping[str, Any]) -> T:
        from ..models.comparison import Comparison  # noqa: PLC0415
        from ..models.include import Include  # noqa: PLC0415
        from ..models.order import Order  # noqa: PLC0415
        from ..models.query_in_output_filters_type_0 import QueryInOutputFiltersType0  # noqa: PLC0415

        d = dict(src_dict)
        site_id = d.pop("site_id")

        metrics = []
        _metrics = d.pop("metrics")
        for metrics_item_data in _metrics:
            metrics_item = Metric(metrics_item_data)

            metrics.append(metrics_item)

        def _parse_date_range(
            data: object,
        ) -> list[datetime.date] | QueryInOutputDateRangeType1:
            try:
                if not isinstance(data, list):
                    raise TypeError()
                date_range_type_0 = []
                _date_range_type_0 = data
                for date_range_type_0_item_data in _date_range_type_0:

                    def _parse_date_range_type_0_item(data: object) -> datetime.date:
                        if not isinstance(data, str):
                            raise TypeError()
                        date_range_type_0_item_type_0 = datetime.date.fromisoformat(
                            data
                        )

                        return date_range_type_0_item_type_0

                    date_range_type_0_item = _parse_date_range_type_0_item(
                        date_range_type_0_item_data
                    )

                    date_range_type_0.append(date_range_type_0_item)

                return date_range_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, str):
                raise TypeError()
            date_range_type_1 = QueryInOutputDateRangeType1(data)

            return date_range_type_1

        date_range = _parse_date_range(d.pop("date_range"))

        dimensions = cast(list[str], d.pop("dimensions", UNSET))

        def _parse_filters(data: object) -> None | QueryInOutputFiltersType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                filters_type_0 = QueryInOutputFiltersType0.from_dict(data)

                return filters_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | QueryInOutputFiltersType0 | Unset, data)

        filters = _parse_filters(d.pop("filters", UNSET))

        _order_by = d.pop("order_by", UNSET)
        order_by: list[Order] | Unset = UNSET
        if _order_by is not UNSET:
            order_by = []
            for order_by_item_data in _order_by:
                order_by_item = Order.from_dict(order_by_item_data)

                order_by.append(order_by_item)

        limit = d.pop("limit", UNSET)

        offset = d.pop("offset", UNSET)

        def _parse_definition_version(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        definition_version = _parse_definition_version(
            d.pop("definition_version", UNSET)
        )

        def _parse_comparisons(data: object) -> Comparison | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                comparisons_type_0 = Comparison.from_dict(data)

                return comparisons_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Comparison | None | Unset, data)

        comparisons = _parse_comparisons(d.pop("comparisons", UNSET))

        _include = d.pop("include", UNSET)
        include: Include | Unset
        if isinstance(_include, Unset):
            include = UNSET
        else:
            include = Include.from_dict(_include)

        query_in_output = cls(
            site_id=site_id,
            metrics=metrics,
            date_range=date_range,
            dimensions=dimensions,
            filters=filters,
            order_by=order_by,
            limit=limit,
            offset=offset,
            definition_version=definition_version,
            comparisons=comparisons,
            include=include,
        )

        return query_in_output
