from enum import StrEnum


class Metric(StrEnum):
    AVERAGE_REVENUE = "average_revenue"
    BOUNCE_RATE = "bounce_rate"
    CONVERSIONS = "conversions"
    CONVERSION_RATE = "conversion_rate"
    ENGAGED_SESSIONS = "engaged_sessions"
    ENGAGED_TIME_P50 = "engaged_time_p50"
    ENGAGED_TIME_P90 = "engaged_time_p90"
    ENGAGED_TIME_TOTAL = "engaged_time_total"
    ENGAGEMENT_RATE = "engagement_rate"
    EVENTS = "events"
    GROUP_CONVERSION_RATE = "group_conversion_rate"
    PAGEVIEWS = "pageviews"
    PERCENTAGE = "percentage"
    RETURNING_VISITORS = "returning_visitors"
    SCROLL_DEPTH_P50 = "scroll_depth_p50"
    SESSIONS = "sessions"
    TIME_ON_PAGE = "time_on_page"
    TOTAL_REVENUE = "total_revenue"
    VIEWS_PER_VISIT = "views_per_visit"
    VISITORS = "visitors"
    VISITS = "visits"
    VISIT_DURATION = "visit_duration"

    def __str__(self) -> str:
        return str(self.value)
