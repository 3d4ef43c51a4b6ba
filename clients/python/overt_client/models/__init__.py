"""Contains all the data models used in inputs/outputs"""

from .after_the_click_in import AfterTheClickIn
from .after_the_click_in_by import AfterTheClickInBy
from .after_the_click_in_filters_type_0 import AfterTheClickInFiltersType0
from .after_the_click_out import AfterTheClickOut
from .after_the_click_row import AfterTheClickRow
from .after_the_click_row_outcomes_type_0 import AfterTheClickRowOutcomesType0
from .attempt_out import AttemptOut
from .campaign_outcomes import CampaignOutcomes
from .campaign_outcomes_outcomes import CampaignOutcomesOutcomes
from .campaign_outcomes_revenue import CampaignOutcomesRevenue
from .cohort import Cohort
from .comparison import Comparison
from .comparison_mode import ComparisonMode
from .condition import Condition
from .consent_ended_data import ConsentEndedData
from .consent_ended_event import ConsentEndedEvent
from .contact import Contact
from .contact_detail import ContactDetail
from .contact_identity import ContactIdentity
from .contact_list import ContactList
from .contact_summary import ContactSummary
from .contribution import Contribution
from .definition import Definition
from .definition_in import DefinitionIn
from .delivery_list import DeliveryList
from .delivery_out import DeliveryOut
from .destination_kind import DestinationKind
from .engaged_on_page_rule import EngagedOnPageRule
from .export_in import ExportIn
from .filter_op import FilterOp
from .funnel_in import FunnelIn
from .funnel_in_filters_type_0 import FunnelInFiltersType0
from .funnel_out import FunnelOut
from .funnel_step import FunnelStep
from .funnel_step_out import FunnelStepOut
from .goal import Goal
from .goal_completed_data import GoalCompletedData
from .goal_completed_event import GoalCompletedEvent
from .goal_in import GoalIn
from .goal_in_props_type_0 import GoalInPropsType0
from .goal_list import GoalList
from .goal_out import GoalOut
from .goal_out_props_type_0 import GoalOutPropsType0
from .goal_rule import GoalRule
from .healthz_response_healthz import HealthzResponseHealthz
from .include import Include
from .intent_crossed_data import IntentCrossedData
from .intent_crossed_event import IntentCrossedEvent
from .intent_signal_out import IntentSignalOut
from .job_out import JobOut
from .job_out_kind import JobOutKind
from .job_out_status import JobOutStatus
from .jobs_out import JobsOut
from .lift_row import LiftRow
from .metric import Metric
from .order import Order
from .order_direction import OrderDirection
from .outcome_in import OutcomeIn
from .outcome_kind import OutcomeKind
from .outcome_out import OutcomeOut
from .outcome_report import OutcomeReport
from .outcome_report_in import OutcomeReportIn
from .page_repeat_rule import PageRepeatRule
from .problem import Problem
from .problem_errors_type_0_item import ProblemErrorsType0Item
from .query_in import QueryIn
from .query_in_date_range_type_1 import QueryInDateRangeType1
from .query_in_filters_type_0 import QueryInFiltersType0
from .query_in_output import QueryInOutput
from .query_in_output_date_range_type_1 import QueryInOutputDateRangeType1
from .query_in_output_filters_type_0 import QueryInOutputFiltersType0
from .query_meta import QueryMeta
from .query_meta_source import QueryMetaSource
from .query_out import QueryOut
from .readyz_response_readyz import ReadyzResponseReadyz
from .realtime_out import RealtimeOut
from .realtime_row import RealtimeRow
from .repeat_sessions_rule import RepeatSessionsRule
from .retention_in import RetentionIn
from .retention_out import RetentionOut
from .row_comparison import RowComparison
from .score_weights import ScoreWeights
from .segment_in import SegmentIn
from .segment_in_filters import SegmentInFilters
from .segment_list import SegmentList
from .segment_out import SegmentOut
from .segment_out_filters import SegmentOutFilters
from .start_import_format_type_0 import StartImportFormatType0
from .timeline_event import TimelineEvent
from .webhook_created import WebhookCreated
from .webhook_event import WebhookEvent
from .webhook_in import WebhookIn
from .webhook_list import WebhookList
from .webhook_out import WebhookOut

__all__ = (
    "AfterTheClickIn",
    "AfterTheClickInBy",
    "AfterTheClickInFiltersType0",
    "AfterTheClickOut",
    "AfterTheClickRow",
    "AfterTheClickRowOutcomesType0",
    "AttemptOut",
    "CampaignOutcomes",
    "CampaignOutcomesOutcomes",
    "CampaignOutcomesRevenue",
    "Cohort",
    "Comparison",
    "ComparisonMode",
    "Condition",
    "ConsentEndedData",
    "ConsentEndedEvent",
    "Contact",
    "ContactDetail",
    "ContactIdentity",
    "ContactList",
    "ContactSummary",
    "Contribution",
    "Definition",
    "DefinitionIn",
    "DeliveryList",
    "DeliveryOut",
    "DestinationKind",
    "EngagedOnPageRule",
    "ExportIn",
    "FilterOp",
    "FunnelIn",
    "FunnelInFiltersType0",
    "FunnelOut",
    "FunnelStep",
    "FunnelStepOut",
    "Goal",
    "GoalCompletedData",
    "GoalCompletedEvent",
    "GoalIn",
    "GoalInPropsType0",
    "GoalList",
    "GoalOut",
    "GoalOutPropsType0",
    "GoalRule",
    "HealthzResponseHealthz",
    "Include",
    "IntentCrossedData",
    "IntentCrossedEvent",
    "IntentSignalOut",
    "JobOut",
    "JobOutKind",
    "JobOutStatus",
    "JobsOut",
    "LiftRow",
    "Metric",
    "Order",
    "OrderDirection",
    "OutcomeIn",
    "OutcomeKind",
    "OutcomeOut",
    "OutcomeReport",
    "OutcomeReportIn",
    "PageRepeatRule",
    "Problem",
    "ProblemErrorsType0Item",
    "QueryIn",
    "QueryInDateRangeType1",
    "QueryInFiltersType0",
    "QueryInOutput",
    "QueryInOutputDateRangeType1",
    "QueryInOutputFiltersType0",
    "QueryMeta",
    "QueryMetaSource",
    "QueryOut",
    "ReadyzResponseReadyz",
    "RealtimeOut",
    "RealtimeRow",
    "RepeatSessionsRule",
    "RetentionIn",
    "RetentionOut",
    "RowComparison",
    "ScoreWeights",
    "SegmentIn",
    "SegmentInFilters",
    "SegmentList",
    "SegmentOut",
    "SegmentOutFilters",
    "StartImportFormatType0",
    "TimelineEvent",
    "WebhookCreated",
    "WebhookEvent",
    "WebhookIn",
    "WebhookList",
    "WebhookOut",
)
