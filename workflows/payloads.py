"""Payloads of the durable workflows: requests, progress, review decisions and outcomes.

Every model here crosses a Temporal boundary, so each is small (ids, settings, headlines and key figures;
big engine output stays in the graph, see `graph.result_store`) and its shape is a durable contract: later
versions only ever ADD optional fields. Never read environment variables here: the starter (see
`workflows.client`) puts everything a run needs, including the model, into the request.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from agents.deps import AnalysisDeps
from agents.reports import RiskAnalysis, RoadmapAnalysis, ScenarioAnalysis, UsageReport
from engines.risk import RiskKind
from engines.roadmap import CapacityModel
from engines.scenario_changes import Scenario
from graph.result_store import RoadmapStatus

OFFLINE_MODEL_KEY = "offline"
"""The model key every durable agent registers for Lodestar's deterministic offline planner."""

SCENARIO_WORKFLOW = "ScenarioSimulationWorkflow"
ROADMAP_WORKFLOW = "RoadmapDraftingWorkflow"
RISK_WORKFLOW = "RiskAssessmentWorkflow"
REVIEW_WORKFLOW = "PortfolioReviewWorkflow"
INSIGHT_WORKFLOW = "CustomerInsightWorkflow"
WORKFLOW_NAMES: tuple[str, ...] = (
    SCENARIO_WORKFLOW,
    ROADMAP_WORKFLOW,
    RISK_WORKFLOW,
    REVIEW_WORKFLOW,
    INSIGHT_WORKFLOW,
)
"""Workflow type names: durable contracts (histories and schedules refer to them)."""
WORKFLOW_KINDS: dict[str, str] = {
    SCENARIO_WORKFLOW: "scenario",
    ROADMAP_WORKFLOW: "roadmap",
    RISK_WORKFLOW: "risk",
    REVIEW_WORKFLOW: "review",
    INSIGHT_WORKFLOW: "insight",
}
"""Workflow type -> its `LodestarKind` search attribute value (see `workflows.search_attributes`)."""

DEFAULT_REVIEW_TIMEOUT_SECONDS = 7 * 24 * 3600.0
MAX_PROGRESS_MESSAGES = 40


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- requests --------------------------------------------------------------------------------------


class AnalysisSettings(_Payload):
    """What every analysis request carries."""

    model: str = Field(
        default=OFFLINE_MODEL_KEY,
        description="'offline', or a pydantic-ai model string (e.g. 'openai:gpt-4o') built on the worker.",
    )
    as_of: date | None = Field(default=None, description="Analysis date; None: the day the workflow starts.")
    seed: int = 0
    trials: int = Field(default=10_000, ge=100, le=100_000)
    horizon_weeks: int = Field(default=260, ge=4, le=1_040)
    top_n: int = Field(default=8, ge=1, le=25)
    requested_by: str | None = Field(
        default=None,
        description="Who asked for the run (the API key's name, the local user for the CLI); "
        "the run's `LodestarRequestedBy` search attribute.",
    )
    max_tokens_per_run: int | None = Field(
        default=None,
        ge=1,
        description="Most tokens (in and out) the run's agent may use; over it the run fails with "
        "`UsageLimitExceeded`. None: only the agents' default limits. The starter fills it from "
        "`LODESTAR_MAX_TOKENS_PER_RUN`.",
    )

    def deps(self, snapshot_id: str, as_of: date) -> AnalysisDeps:
        return AnalysisDeps(
            snapshot_id=snapshot_id,
            as_of=as_of,
            seed=self.seed,
            trials=self.trials,
            horizon_weeks=self.horizon_weeks,
            top_n=self.top_n,
        )


class ScenarioSimulationRequest(AnalysisSettings):
    scenarios: list[Scenario] = Field(default_factory=list[Scenario], max_length=20)

    def deps(self, snapshot_id: str, as_of: date) -> AnalysisDeps:
        return super().deps(snapshot_id, as_of).model_copy(update={"scenarios": self.scenarios})


class RoadmapDraftingRequest(AnalysisSettings):
    quarters: int = Field(default=4, ge=1, le=8)
    pins: dict[str, int] = Field(
        default_factory=dict[str, int], description="Feature id -> quarter (0-based)."
    )
    exclusions: list[str] = Field(default_factory=list[str])
    planner_time_limit_s: float = Field(default=10.0, gt=0, le=600)
    capacity_model: CapacityModel = Field(
        default="throughput", description="`throughput` or `nominal` (`engines.roadmap` module doc)."
    )
    review_timeout_seconds: float = Field(
        default=DEFAULT_REVIEW_TIMEOUT_SECONDS,
        gt=0,
        description="How long the draft waits for a review before it expires.",
    )

    def deps(self, snapshot_id: str, as_of: date) -> AnalysisDeps:
        return (
            super()
            .deps(snapshot_id, as_of)
            .model_copy(
                update={
                    "quarters": self.quarters,
                    "pins": self.pins,
                    "exclusions": self.exclusions,
                    "planner_time_limit_s": self.planner_time_limit_s,
                    "capacity_model": self.capacity_model,
                }
            )
        )


class RiskAssessmentRequest(AnalysisSettings):
    risk_horizon_weeks: int = Field(default=26, ge=1, le=260)

    def deps(self, snapshot_id: str, as_of: date) -> AnalysisDeps:
        return (
            super()
            .deps(snapshot_id, as_of)
            .model_copy(update={"risk_horizon_weeks": self.risk_horizon_weeks})
        )


class PortfolioReviewRequest(RiskAssessmentRequest):
    schedule_id: str | None = Field(default=None, description="The schedule that started the review, if any.")


# -- activity payloads -----------------------------------------------------------------------------


class SnapshotRequest(_Payload):
    as_of: date


class SnapshotRef(_Payload):
    """The portfolio a run analyses: its content-hash id and size. The portfolio stays in the graph."""

    snapshot_id: str
    counts: dict[str, int]
    as_of: date


class PrecomputeKind(StrEnum):
    FORECAST = "forecast"
    SCENARIOS = "scenarios"
    ROADMAP = "roadmap"
    RISK = "risk"


class PrecomputeJob(_Payload):
    kind: PrecomputeKind
    deps: AnalysisDeps


class PrecomputeReport(_Payload):
    kind: PrecomputeKind
    seconds: float
    heartbeats: int


class ForecastFigures(_Payload):
    """Headline figures of a baseline forecast."""

    trials: int
    arr_at_risk: float
    arr_weighted_on_time: float
    late_feature_count: int
    customers_at_risk_ids: list[str]
    unscheduled_feature_count: int


class RunIdentity(_Payload):
    """Which workflow run a persisted result belongs to, and the workflow's clock when it was recorded."""

    workflow_id: str
    run_id: str
    workflow_type: str
    recorded_at: datetime


class PersistScenarioAnalysis(_Payload):
    run: RunIdentity
    deps: AnalysisDeps
    model: str
    analysis: ScenarioAnalysis
    usage: UsageReport


class PersistRoadmapDraft(_Payload):
    run: RunIdentity
    deps: AnalysisDeps
    model: str
    analysis: RoadmapAnalysis
    usage: UsageReport


class PersistRiskAssessment(_Payload):
    run: RunIdentity
    deps: AnalysisDeps
    model: str
    analysis: RiskAnalysis
    usage: UsageReport


class PersistPortfolioReview(_Payload):
    run: RunIdentity
    deps: AnalysisDeps
    risk_assessment_id: str
    forecast: ForecastFigures
    schedule_id: str | None = None


class RoadmapDecisionRecord(_Payload):
    version_id: str
    status: RoadmapStatus
    reviewer: str | None
    comment: str | None
    decided_at: datetime


# -- progress --------------------------------------------------------------------------------------


class Stage(StrEnum):
    STARTED = "started"
    LOADING_SNAPSHOT = "loading_snapshot"
    PRECOMPUTING = "precomputing"
    RUNNING_AGENT = "running_agent"
    RUNNING_CHILD = "running_child"
    FORECASTING = "forecasting"
    PERSISTING = "persisting"
    AWAITING_REVIEW = "awaiting_review"
    PUBLISHING = "publishing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class ProgressEvent(BaseModel):
    """One step of a run's progress, as the workflow recorded it."""

    seq: int = Field(ge=1, description="1 for the run's first event, then one more for each.")
    stage: Stage
    percent: int = Field(ge=0, le=100)
    message: str
    at: datetime


class WorkflowProgress(BaseModel):
    """What the `progress` query returns."""

    stage: Stage = Stage.STARTED
    percent: int = Field(default=0, ge=0, le=100)
    messages: list[str] = Field(default_factory=list[str], description="The latest messages, oldest first.")
    updated_at: datetime | None = None
    events: list[ProgressEvent] = Field(
        default_factory=list[ProgressEvent],
        description="Every stage change and the latest other events, oldest first: a reader that remembers "
        "the last `seq` it saw misses no stage, however rarely it asks.",
    )

    def record(self, stage: Stage, percent: int, message: str, at: datetime) -> None:
        """Move to `stage` (percent never goes down) and log the event; only the newest
        `MAX_PROGRESS_MESSAGES` events that did not change the stage are kept."""
        changed_stage = not self.events or self.events[-1].stage is not stage
        self.stage = stage
        self.percent = max(self.percent, min(percent, 100))
        self.messages = [*self.messages, message][-MAX_PROGRESS_MESSAGES:]
        self.updated_at = at
        seq = self.events[-1].seq + 1 if self.events else 1
        if not changed_stage and len(self.events) >= 2 and self.events[-2].stage is stage:
            # Collapse a run of same-stage events to its first and latest, so the log stays bounded.
            self.events[-1] = ProgressEvent(
                seq=seq, stage=stage, percent=self.percent, message=message, at=at
            )
        else:
            self.events.append(
                ProgressEvent(seq=seq, stage=stage, percent=self.percent, message=message, at=at)
            )


# -- review of a roadmap draft ---------------------------------------------------------------------


class ReviewVerdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class ReviewDecision(_Payload):
    """The argument of the `review` update of RoadmapDraftingWorkflow."""

    verdict: ReviewVerdict
    reviewer: str = Field(min_length=1, max_length=200)
    comment: str = Field(default="", max_length=4_000)

    @field_validator("reviewer")
    @classmethod
    def _reviewer_named(cls, reviewer: str) -> str:
        if not reviewer.strip():
            raise ValueError("the reviewer must be named")
        return reviewer.strip()


class ReviewRecord(_Payload):
    verdict: ReviewVerdict | None = Field(description="None when the draft expired or was cancelled.")
    reviewer: str | None
    comment: str | None
    decided_at: datetime


# -- outcomes --------------------------------------------------------------------------------------


class _AnalysisOutcome(_Payload):
    """What every analysis workflow's outcome starts with: the run, its inputs and the agent's answer."""

    workflow_id: str
    snapshot_id: str
    as_of: date
    model_name: str
    offline: bool
    headline: str
    recommendation: str


class ScenarioFigures(_Payload):
    scenario_id: str
    name: str
    arr_at_risk_after: float
    arr_at_risk_change: float
    arr_weighted_on_time_after: float
    features_moved: int


class ScenarioSimulationOutcome(_AnalysisOutcome):
    preferred_scenario_id: str | None
    baseline_arr_at_risk: float
    baseline_arr_weighted_on_time: float
    scenarios: list[ScenarioFigures]
    cited_ids: int
    usage: UsageReport


class RiskHeadline(_Payload):
    kind: RiskKind
    severity: float
    title: str


class RiskAssessmentOutcome(_AnalysisOutcome):
    arr_at_risk: float
    total_arr: float
    customers_at_risk_count: int
    risk_count: int
    top_risks: list[RiskHeadline]
    priority_kinds: list[RiskKind]
    cited_ids: int
    usage: UsageReport


class RoadmapDraftOutcome(_AnalysisOutcome):
    version: int
    status: RoadmapStatus
    current: bool
    commitment_count: int
    exploration_count: int
    left_out_count: int
    total_value: float
    review: ReviewRecord | None = None
    usage: UsageReport


class PortfolioReviewOutcome(_Payload):
    workflow_id: str
    snapshot_id: str
    as_of: date
    risk_assessment_id: str
    previous_review_id: str | None
    arr_at_risk: float
    arr_at_risk_change: float | None = Field(description="vs the previous review; None for the first review.")
    arr_weighted_on_time: float
    arr_weighted_on_time_change: float | None
    late_feature_count: int
    risk_count: int
    new_risks: list[str] = Field(description="Titles of risks the previous review did not have (up to 10).")
    resolved_risks: list[str] = Field(
        description="Titles of the previous review's risks now gone (up to 10)."
    )
    new_risk_count: int
    resolved_risk_count: int
    customers_newly_at_risk: list[str]
    customers_no_longer_at_risk: list[str]
