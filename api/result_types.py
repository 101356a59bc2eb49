"""Results of the durable runs, read from their result nodes in the graph (`graph.result_store`).

Each result node holds its full report (engine output and the agent's analysis) as compressed JSON;
`ResultReader` parses it once per result and keeps the parsed report (reports never change once
written; only a roadmap version's lifecycle fields do, and those are read from the node each time).
Every id a result mentions resolves to the graph node through the request's DataLoaders.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import strawberry

from agents.insight_runs import InsightReport
from agents.reports import RiskAssessmentReport, RoadmapReport, ScenarioReport
from api.bias_types import RoadmapBias
from api.loading import Resolved, load_now, prefetch_linked, selected, subselection, then
from api.result_reader import KeptReport, ResultReader
from api.types import (
    Customer,
    Entity,
    Feature,
    Info,
    Team,
    copied,
    entity_by_id,
    features_by_ids,
    graphql_enum,
    or_none,
)
from engines.common import CustomerAtRisk as EngineCustomerAtRisk
from engines.common import CustomerRenewalRisk as EngineCustomerRenewalRisk
from engines.forecast import FeatureForecast as EngineFeatureForecast
from engines.forecast import Forecast as EngineForecast
from engines.risk import Risk as EngineRisk
from engines.risk import RiskKind
from engines.roadmap import RoadmapItem as EngineRoadmapItem
from engines.roadmap import RoadmapPlan
from engines.scenarios import FeatureDelta as EngineFeatureDelta
from engines.scenarios import ScenarioResult
from engines.scoring import ScoreBreakdown as EngineScoreBreakdown
from graph.result_store import RoadmapLifecycle, RoadmapStatus, StoredResult
from graph.vocabulary import NodeLabel
from workflows.payloads import PortfolioReviewOutcome

graphql_enum(
    RiskKind,
    "What kind of delivery or revenue risk.",
    {
        RiskKind.CRITICAL_PATH: "The chain of dependent work that decides when everything is done ends late.",
        RiskKind.ZERO_FLOAT: "A feature with no slack: any slip in it delays the whole plan.",
        RiskKind.CROSS_TEAM_CHAIN: "A dependency chain that hands work from team to team.",
        RiskKind.TEAM_OVERLOAD: "A team committed to more work than its capacity over the horizon.",
        RiskKind.UNOWNED: "Open work no team owns: it never starts.",
        RiskKind.SINGLE_OWNER: "Work resting on a team of one person (or none).",
        RiskKind.ARR_AT_RISK: "Customers whose requested work is likely done after their renewal.",
        RiskKind.CUSTOMER_CONCENTRATION: "A large share of ARR waiting on the same work.",
        RiskKind.DEMANDED_UNPLANNED: "Work customers ask for that is not planned.",
        RiskKind.UNDEMANDED_PLANNED: "Planned work no customer asks for.",
    },
)
graphql_enum(
    RoadmapStatus,
    "Where a roadmap version is in its review: draft -> published | rejected | expired | cancelled.",
    {
        RoadmapStatus.DRAFT: "Drafted; waits for an approver's review.",
        RoadmapStatus.PUBLISHED: "Approved; the current roadmap until a later one is published.",
        RoadmapStatus.REJECTED: "An approver rejected the draft.",
        RoadmapStatus.EXPIRED: "Nobody reviewed the draft in time.",
        RoadmapStatus.CANCELLED: "The drafting run was cancelled before a review.",
    },
)


class RoadmapItemKind(StrEnum):
    COMMITMENT = "commitment"
    EXPLORATION = "exploration"


graphql_enum(
    RoadmapItemKind,
    "Where a roadmap item sits: a confident commitment or an exploration.",
    {
        RoadmapItemKind.COMMITMENT: "Confident enough in value and estimate to promise.",
        RoadmapItemKind.EXPLORATION: "Worth starting, but too uncertain to promise.",
    },
)


# -- shared pieces -----------------------------------------------------------------------------------


@strawberry.type(description="One claim of an analysis and the graph nodes that back it.")
class Finding:
    statement: str = strawberry.field(description="The claim, in a sentence.")
    evidence_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the graph nodes that back the claim."
    )

    @strawberry.field(
        description="The evidence ids resolved to graph nodes; ids no longer in the graph are left out."
    )
    async def evidence(self, info: Info) -> list[Entity]:
        return await entities(info, self.evidence_ids)


async def entities(info: Info, ids: list[str] | list[strawberry.ID]) -> list[Entity]:
    found = await asyncio.gather(*(entity_by_id(info, node_id) for node_id in ids))
    return [entity for entity in found if entity is not None]


@strawberry.type(
    description="What the language model of one run used: requests, tool calls and tokens (as the provider "
    "reported them). Offline runs count the offline planner's requests and tool calls, with the "
    "planner's synthetic token estimate."
)
class ModelUsage:
    requests: int = strawberry.field(description="Model requests the run's agent made.")
    tool_calls: int = strawberry.field(description="Tool calls the model asked for.")
    input_tokens: int = strawberry.field(description="Tokens sent to the model, over all requests.")
    output_tokens: int = strawberry.field(description="Tokens the model answered with, over all requests.")

    @strawberry.field(
        description="Input and output tokens together (what `LODESTAR_MAX_TOKENS_PER_RUN` caps)."
    )
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def model_usage_of(stored: StoredResult) -> ModelUsage | None:
    figures = stored.figures
    values = [figures.get(name) for name in ("model_requests", "tool_calls", "input_tokens", "output_tokens")]
    if not all(isinstance(value, int | float) for value in values):
        return None
    requests, tool_calls, input_tokens, output_tokens = (int(v) for v in values)  # pyright: ignore[reportArgumentType]
    return ModelUsage(
        requests=requests, tool_calls=tool_calls, input_tokens=input_tokens, output_tokens=output_tokens
    )


@strawberry.interface(description="A stored result of a run; its id is the id of the run that produced it.")
class AnalysisResult:
    id: strawberry.ID = strawberry.field(
        description="The result's id: the id of the run (workflow) that stored it."
    )
    run_id: str = strawberry.field(description="The Temporal run id within the workflow id.")
    snapshot_id: str = strawberry.field(description="Content hash of the portfolio the run analysed.")
    as_of: date = strawberry.field(description="The date the analysis was made for.")
    recorded_at: datetime = strawberry.field(description="When the run stored the result (UTC).")
    model_name: str = strawberry.field(
        description="The language model that wrote the analysis (`offline` for the deterministic planner)."
    )
    offline: bool = strawberry.field(
        description="True when the deterministic offline planner wrote the analysis."
    )
    headline: str = strawberry.field(description="The analysis in one line.")
    cited_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the graph nodes the analysis cites."
    )
    redacted_at: datetime | None = strawberry.field(
        default=None,
        description="When a customer erasure rewrote this result without that customer (its aggregate "
        "figures stay as computed); null when never redacted.",
    )
    usage: ModelUsage | None = strawberry.field(
        default=None,
        description="The model usage of the run that wrote the result; null for results without an agent "
        "run, and for results stored before usage was recorded.",
    )

    @strawberry.field(description="The graph nodes the result cites.")
    async def cited(self, info: Info) -> list[Entity]:
        return await entities(info, self.cited_ids)


def _meta(stored: StoredResult) -> dict[str, Any]:
    return {
        "id": strawberry.ID(stored.id),
        "run_id": stored.run_id,
        "snapshot_id": stored.snapshot_id,
        "as_of": stored.as_of,
        "recorded_at": stored.recorded_at,
        "model_name": stored.model_name,
        "offline": stored.offline,
        "headline": stored.headline,
        "cited_ids": [strawberry.ID(node_id) for node_id in stored.cited_ids],
        "redacted_at": stored.redacted_at,
        "usage": model_usage_of(stored),
    }


def _findings(analysis: Any) -> list[Finding]:
    return [
        Finding(statement=item.statement, evidence_ids=[strawberry.ID(i) for i in item.evidence_ids])
        for item in analysis.findings
    ]


def _feature(info: Info, feature_id: str) -> Resolved[Feature | None]:
    return then(load_now(info.context.loaders.feature, feature_id), or_none(Feature.of))


def _team(info: Info, team_id: str | None) -> Resolved[Team | None]:
    if team_id is None:
        return None
    return then(load_now(info.context.loaders.team, team_id), or_none(Team.of))


def _customer(info: Info, customer_id: str) -> Resolved[Customer | None]:
    return then(load_now(info.context.loaders.customer, customer_id), or_none(Customer.of))


# -- forecasts and scenarios -------------------------------------------------------------------------


@strawberry.type(
    description="When a feature is likely done: P50 / P85 / P95 completion dates over the Monte Carlo trials. "
    "P85 means 85 in 100 simulated futures have it done by then, given the model (docs/ENGINES.md)."
)
class FeatureForecast:
    feature_id: strawberry.ID = strawberry.field(description="The forecast feature's id.")
    team_id: strawberry.ID | None = strawberry.field(description="The owning team's id; null when unowned.")
    p50: date | None = strawberry.field(
        description="The date by which 50 in 100 simulated futures have the feature done; null: not within "
        "the horizon."
    )
    p85: date | None = strawberry.field(
        description="The date by which 85 in 100 simulated futures have the feature done, given the model "
        "(team throughput including the uncertainty of its rate, PERT efforts, delivery order); null: not "
        "within the horizon."
    )
    p95: date | None = strawberry.field(
        description="The date by which 95 in 100 simulated futures have the feature done; null: not within "
        "the horizon."
    )
    target_date: date | None = strawberry.field(description="The feature's target date; null without one.")
    on_time_probability: float | None = strawberry.field(
        description="Share of trials done on or before the target date, 0 to 1; null without a target."
    )
    beyond_horizon_probability: float = strawberry.field(
        description="Share of trials not done within the horizon, 0 to 1."
    )
    unscheduled: bool = strawberry.field(description="Never starts: unowned, or depends on unowned work.")

    @classmethod
    def of(cls, item: EngineFeatureForecast) -> FeatureForecast:
        return copied(cls, item)

    @strawberry.field(
        description="The forecast feature; null if no longer in the graph.", graphql_type=Feature | None
    )
    def feature(self, info: Info) -> Resolved[Feature | None]:
        return _feature(info, self.feature_id)


@strawberry.type(description="A customer whose requested work is likely (P85) done after their renewal.")
class CustomerAtRisk:
    customer_id: strawberry.ID = strawberry.field(description="The customer's id.")
    arr: float = strawberry.field(description="The customer's annual recurring revenue.")
    renewal_date: date = strawberry.field(description="When the customer's contract renews.")
    latest_p85: date = strawberry.field(
        description="The latest P85 date among the customer's open requested features."
    )
    late_feature_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the requested features likely (P85) done after the renewal."
    )

    @classmethod
    def of(cls, customer: EngineCustomerAtRisk) -> CustomerAtRisk:
        return copied(cls, customer)

    @strawberry.field(
        description="The customer; null if no longer in the graph.", graphql_type=Customer | None
    )
    def customer(self, info: Info) -> Resolved[Customer | None]:
        return _customer(info, self.customer_id)

    @strawberry.field(
        description="The requested features likely (P85) done after the renewal.", graphql_type=list[Feature]
    )
    def late_features(self, info: Info) -> Resolved[list[Feature]]:
        return features_by_ids(info, list(self.late_feature_ids))


@strawberry.type(
    description="A customer's expected loss at renewal: ARR x the forecast's probability of missing the renewal."
)
class CustomerRenewalRisk:
    customer_id: strawberry.ID = strawberry.field(description="The customer's id.")
    arr: float = strawberry.field(description="The customer's annual recurring revenue.")
    renewal_date: date = strawberry.field(description="When the customer's contract renews.")
    miss_probability: float = strawberry.field(
        description="1 - the forecast's probability that every open requested feature is done on or before "
        "the renewal date, 0 to 1."
    )
    expected_arr_at_risk: float = strawberry.field(description="arr x missProbability.")

    @classmethod
    def of(cls, customer: EngineCustomerRenewalRisk) -> CustomerRenewalRisk:
        return copied(cls, customer)

    @strawberry.field(
        description="The customer; null if no longer in the graph.", graphql_type=Customer | None
    )
    def customer(self, info: Info) -> Resolved[Customer | None]:
        return _customer(info, self.customer_id)


@strawberry.type(
    description="A Monte Carlo delivery forecast of the open features. Effort in person-weeks, drawn from a "
    "PERT distribution whose mean is (low + 4 x likely + high) / 6; each team's weekly throughput in "
    "person-weeks comes from its history, including the uncertainty of its true rate, with a prior centred "
    "on its capacity; dates count calendar days from asOf (docs/ENGINES.md)."
)
class Forecast:
    as_of: date = strawberry.field(description="The day the simulation starts from.")
    trials: int = strawberry.field(description="How many Monte Carlo trials were run.")
    seed: int = strawberry.field(
        description="The random seed; the same seed and portfolio give the same forecast."
    )
    horizon_weeks: int = strawberry.field(description="How far ahead the simulation looks, in weeks.")
    arr_at_risk: float = strawberry.field(description="ARR of the customers at risk (P85 after renewal).")
    arr_weighted_on_time: float = strawberry.field(
        description="ARR-weighted share of customers whose open requests are done before renewal, 0 to 1 (1 when no customer with a renewal waits on open work)."
    )
    features: list[FeatureForecast] = strawberry.field(description="Open features in delivery order.")
    customers_at_risk: list[CustomerAtRisk] = strawberry.field(
        description="Customers whose requested work is likely (P85) done after their renewal."
    )
    unscheduled_feature_ids: list[strawberry.ID] = strawberry.field(
        description="Open features that never start: unowned, or depending on unowned work."
    )

    @classmethod
    def of(cls, forecast: EngineForecast) -> Forecast:
        return copied(
            cls,
            forecast,
            features=[FeatureForecast.of(item) for item in forecast.features],
            customers_at_risk=[CustomerAtRisk.of(c) for c in forecast.customers_at_risk],
        )


@strawberry.type(description="How one feature's forecast moves under a scenario.")
class FeatureDelta:
    feature_id: strawberry.ID = strawberry.field(description="The feature's id.")
    baseline_p50: date | None = strawberry.field(
        description="P50 completion date without the scenario; null: beyond the horizon."
    )
    scenario_p50: date | None = strawberry.field(
        description="P50 completion date under the scenario; null: beyond the horizon."
    )
    baseline_p85: date | None = strawberry.field(
        description="P85 completion date without the scenario; null: beyond the horizon."
    )
    scenario_p85: date | None = strawberry.field(
        description="P85 completion date under the scenario; null: beyond the horizon."
    )
    p50_shift_days: int | None = strawberry.field(
        description="Days the P50 date moves (positive: later); null when either date is beyond the horizon."
    )
    p85_shift_days: int | None = strawberry.field(
        description="Days the P85 date moves (positive: later); null when either date is beyond the horizon."
    )
    on_time_probability_change: float | None = strawberry.field(
        description="Change in the probability of meeting the target, -1 to 1; null without a target."
    )
    beyond_horizon_probability_change: float = strawberry.field(
        description="Change in the probability of finishing beyond the horizon, -1 to 1."
    )

    @classmethod
    def of(cls, delta: EngineFeatureDelta) -> FeatureDelta:
        return copied(cls, delta)

    @strawberry.field(description="The feature; null if no longer in the graph.", graphql_type=Feature | None)
    def feature(self, info: Info) -> Resolved[Feature | None]:
        return _feature(info, self.feature_id)


@strawberry.type(description="One simulated scenario against the baseline.")
class ScenarioOutcome:
    id: strawberry.ID = strawberry.field(
        description="The scenario's id, as given when the simulation started."
    )
    name: str = strawberry.field(description="The scenario's name.")
    description: str = strawberry.field(description="What the scenario tries, as given.")
    forecast: Forecast = strawberry.field(description="The forecast with the scenario's changes applied.")
    feature_changes: list[FeatureDelta] = strawberry.field(
        description="Features that moved, biggest move first."
    )
    added_feature_ids: list[strawberry.ID] = strawberry.field(
        description="Features the scenario forecasts that the baseline does not."
    )
    removed_feature_ids: list[strawberry.ID] = strawberry.field(
        description="Features the scenario takes out of scope."
    )
    arr_at_risk_before: float = strawberry.field(description="ARR at risk in the baseline.")
    arr_at_risk_after: float = strawberry.field(description="ARR at risk under the scenario.")
    arr_at_risk_change: float = strawberry.field(description="After minus before; negative is better.")
    arr_weighted_on_time_before: float = strawberry.field(
        description="ARR-weighted on-time share in the baseline, 0 to 1."
    )
    arr_weighted_on_time_after: float = strawberry.field(
        description="ARR-weighted on-time share under the scenario, 0 to 1."
    )
    arr_weighted_on_time_change: float = strawberry.field(
        description="After minus before; positive is better."
    )
    customers_newly_at_risk: list[strawberry.ID] = strawberry.field(
        description="Ids of customers at risk under the scenario but not in the baseline."
    )
    customers_no_longer_at_risk: list[strawberry.ID] = strawberry.field(
        description="Ids of customers at risk in the baseline but not under the scenario."
    )

    @classmethod
    def of(cls, result: ScenarioResult) -> ScenarioOutcome:
        delta = result.delta
        return copied(
            cls,
            delta,
            id=strawberry.ID(result.scenario.id),
            name=result.scenario.name,
            description=result.scenario.description,
            forecast=Forecast.of(result.forecast),
            feature_changes=[FeatureDelta.of(item) for item in delta.feature_changes],
        )


@strawberry.type(description="A scenario simulation: the baseline forecast, each scenario and its deltas.")
class ScenarioAnalysis(AnalysisResult):
    recommendation: str = strawberry.field(description="What the analysis recommends, in prose.")
    findings: list[Finding] = strawberry.field(description="The analysis' claims with their evidence.")
    preferred_scenario_id: strawberry.ID | None = strawberry.field(
        description="The scenario the analysis prefers; null when none beats the baseline."
    )
    baseline: Forecast = strawberry.field(description="The forecast of the portfolio as it is.")
    scenarios: list[ScenarioOutcome] = strawberry.field(
        description="Each simulated scenario and how it moves the forecast."
    )

    @classmethod
    def of(cls, stored: StoredResult, report: ScenarioReport) -> ScenarioAnalysis:
        preferred = report.analysis.preferred_scenario_id
        return cls(
            **_meta(stored),
            recommendation=report.analysis.recommendation,
            findings=_findings(report.analysis),
            preferred_scenario_id=strawberry.ID(preferred) if preferred is not None else None,
            baseline=Forecast.of(report.baseline),
            scenarios=[ScenarioOutcome.of(result) for result in report.results],
        )


# -- roadmaps ----------------------------------------------------------------------------------------


@strawberry.type(description="One input of a score.")
class ScoreInput:
    name: str = strawberry.field(description="The input's name in the formula.")
    value: float | None = strawberry.field(description="The input's value; null when the feature lacks it.")


@strawberry.type(description="A score, the formula that produced it and its inputs.")
class ScoreBreakdown:
    score: float = strawberry.field(description="The score.")
    formula: str = strawberry.field(description="How the score is computed from its inputs.")
    inputs: list[ScoreInput] = strawberry.field(description="The formula's inputs, by name.")

    @classmethod
    def of(cls, breakdown: EngineScoreBreakdown) -> ScoreBreakdown:
        return cls(
            score=breakdown.score,
            formula=breakdown.formula,
            inputs=[ScoreInput(name=name, value=value) for name, value in sorted(breakdown.inputs.items())],
        )


@strawberry.type(description="Why a feature is worth what the planner says: RICE, WSJF and demand.")
class FeatureScores:
    method: str = strawberry.field(
        description="How `value` was computed: `blend`, `rice`, `wsjf` or `demand`."
    )
    value: float = strawberry.field(description="What the planner maximised, in [0, 1].")
    rice: ScoreBreakdown = strawberry.field(
        description="Reach x impact x confidence / effort. Reach is the stated reach scaled by the customers "
        "behind the feature, (requesting + confirmed-feedback customers) / requesting (`stated_reach` and the "
        "two counts are among the inputs)."
    )
    wsjf: ScoreBreakdown = strawberry.field(
        description="Weighted shortest job first: cost of delay / effort."
    )
    demand: ScoreBreakdown = strawberry.field(description="ARR-weighted customer demand.")
    value_breakdown: ScoreBreakdown = strawberry.field(description="How `value` combines the scores.")


@strawberry.type(description="A feature placed in a quarter of a roadmap.")
class RoadmapItem:
    feature_id: strawberry.ID = strawberry.field(description="The placed feature's id.")
    team_id: strawberry.ID = strawberry.field(description="The id of the team that delivers it.")
    quarter: int = strawberry.field(
        description="The quarter the item starts in, 1-based: 1 is the quarter that starts on the "
        "roadmap's as-of date, up to the number of quarters drafted (the same numbering as `PinInput.quarter` "
        "and `RoadmapQuarter.index`)."
    )
    kind: RoadmapItemKind = strawberry.field(description="Commitment or exploration.")
    value: float = strawberry.field(description="The feature's value to the planner, 0 to 1.")
    discounted_value: float = strawberry.field(
        description="`value` discounted for the quarter it ends in (later is worth less)."
    )
    effort: float = strawberry.field(
        description="Expected remaining effort in person-weeks: the PERT mean (low + 4 likely + high) / 6 "
        "x (1 - progress), charged from `quarter` to `endQuarter`."
    )
    confidence: float = strawberry.field(description="Confidence in the estimates, 0 to 1.")
    effort_spread: float | None = strawberry.field(
        description="(effort high - effort low) / effort likely; null when the likely effort is 0."
    )
    pinned: bool = strawberry.field(description="True when a pin forced the feature into this quarter.")
    scores: FeatureScores = strawberry.field(description="The scores behind `value`.")
    rationale: str = strawberry.field(description="Why the item is here, from its scores and placement.")
    end_quarter: int = strawberry.field(
        description="The quarter the item ends in, 1-based like `quarter`: later than `quarter` when the "
        "feature needs more than one quarter of its team's capacity and spans consecutive quarters."
    )
    quarter_efforts: list[float] | None = strawberry.field(
        description="Person-weeks charged to each quarter from `quarter` to `endQuarter`, in proportion to "
        "the team's capacity in each; null in roadmaps drafted before features could span quarters."
    )
    finish_probability: float | None = strawberry.field(
        description="The forecast's probability, 0 to 1, that the feature is done by the end of `endQuarter` "
        "when the teams work the roadmap in its order (end quarter, start quarter, dependencies, value); "
        "null in roadmaps drafted before it was computed."
    )

    @classmethod
    def of(cls, item: EngineRoadmapItem) -> RoadmapItem:
        scores = item.scores
        return copied(
            cls,
            item,
            quarter=item.quarter + 1,
            end_quarter=item.last_quarter + 1,
            kind=RoadmapItemKind(item.kind),
            scores=copied(
                FeatureScores,
                scores,
                rice=ScoreBreakdown.of(scores.rice),
                wsjf=ScoreBreakdown.of(scores.wsjf),
                demand=ScoreBreakdown.of(scores.demand),
                value_breakdown=ScoreBreakdown.of(scores.value_breakdown),
            ),
            rationale=rationale(item),
        )

    @strawberry.field(
        description="The placed feature; null if no longer in the graph.", graphql_type=Feature | None
    )
    def feature(self, info: Info) -> Resolved[Feature | None]:
        return _feature(info, self.feature_id)

    @strawberry.field(
        description="The delivering team; null if no longer in the graph.", graphql_type=Team | None
    )
    def team(self, info: Info) -> Resolved[Team | None]:
        return _team(info, self.team_id)


def rationale(item: EngineRoadmapItem) -> str:
    scores = item.scores
    placement = "pinned to" if item.pinned else "placed in"
    quarters = (
        f"quarter {item.quarter + 1}"
        if item.last_quarter == item.quarter
        else f"quarter {item.quarter + 1} through quarter {item.last_quarter + 1}"
    )
    finish = (
        ""
        if item.finish_probability is None
        else f", {item.finish_probability:.0%} likely done by the end of quarter {item.last_quarter + 1}"
    )
    return (
        f"{item.kind.capitalize()} {placement} {quarters}: value {scores.value:.3f} "
        f"({scores.method}; RICE {scores.rice.score:.3g}, WSJF {scores.wsjf.score:.3g}, "
        f"demand {scores.demand.score:.3g}), {item.effort:.1f} person-weeks for team {item.team_id}, "
        f"confidence {item.confidence:.2f}{finish}."
    )


def _roadmap_bias(report: RoadmapReport) -> RoadmapBias:
    assert report.bias is not None
    return RoadmapBias.of(report.bias)


@strawberry.type(description="A team's capacity use in one quarter.")
class TeamCapacityUse:
    team_id: strawberry.ID = strawberry.field(description="The team's id.")
    used: float = strawberry.field(
        description="Person-weeks the roadmap's items charge to the team in this quarter (an item spanning "
        "quarters charges each of them its share)."
    )
    available: float = strawberry.field(
        description="Person-weeks the team can take in the quarter. Throughput capacity: what the team "
        "delivers by the quarter's end with the roadmap's `capacityProbability` (85%) under the forecast's "
        "throughput model, minus the same figure at the previous quarter's end. Nominal capacity: capacity x "
        "13 weeks x utilisation."
    )
    source: str | None = strawberry.field(
        description="Where `available` comes from: `throughput_history` (the throughput model on the team's "
        "recorded weekly throughput), `capacity_prior` (no history: the model's prior on the team's capacity) "
        "or `nominal` (capacity x 13 x utilisation); null in roadmaps drafted before it was recorded."
    )

    @strawberry.field(description="The team; null if no longer in the graph.", graphql_type=Team | None)
    def team(self, info: Info) -> Resolved[Team | None]:
        return _team(info, self.team_id)


@strawberry.type(description="One quarter of a roadmap.")
class RoadmapQuarter:
    index: int = strawberry.field(
        description="The quarter's number, 1-based: 1 starts on the roadmap's as-of date (the numbering of `RoadmapItem.quarter` and `PinInput.quarter`)."
    )
    start: date = strawberry.field(description="The quarter's first day.")
    end: date = strawberry.field(description="The quarter's last day.")
    commitments: list[RoadmapItem] = strawberry.field(
        description="Confident items starting in the quarter, by feature id."
    )
    explorations: list[RoadmapItem] = strawberry.field(
        description="Less certain items starting in the quarter, by feature id."
    )
    capacity: list[TeamCapacityUse] = strawberry.field(description="Each team's capacity use in the quarter.")


@strawberry.type(description="A feature the roadmap leaves out, and why.")
class LeftOutFeature:
    feature_id: strawberry.ID = strawberry.field(description="The left-out feature's id.")
    team_id: strawberry.ID | None = strawberry.field(description="The owning team's id; null when unowned.")
    reason: str = strawberry.field(
        description="Why: `capacity`, `dependency`, `low_value`, `excluded` or `unowned`."
    )
    detail: str = strawberry.field(
        description="The reason in a sentence (quarters numbered from 1, as `Q1`)."
    )
    value: float | None = strawberry.field(
        description="The feature's value to the planner, 0 to 1; null when it was not scored."
    )

    @strawberry.field(
        description="The left-out feature; null if no longer in the graph.", graphql_type=Feature | None
    )
    def feature(self, info: Info) -> Resolved[Feature | None]:
        return _feature(info, self.feature_id)


@dataclass(frozen=True)
class RoadmapView:
    """A stored plan as GraphQL objects, built once per kept report (`KeptReport.built`): a stored
    plan never changes, and nothing request-specific hangs off these objects."""

    quarters: list[RoadmapQuarter]
    items: list[RoadmapItem]
    """Quarter by quarter, commitments before explorations; the same objects as in `quarters`."""

    @classmethod
    def of(cls, report: RoadmapReport) -> RoadmapView:
        quarters = [
            RoadmapQuarter(
                index=quarter.index + 1,
                start=quarter.start,
                end=quarter.end,
                commitments=[RoadmapItem.of(item) for item in quarter.commitments],
                explorations=[RoadmapItem.of(item) for item in quarter.explorations],
                capacity=[copied(TeamCapacityUse, use) for use in quarter.capacity],
            )
            for quarter in report.plan.quarters
        ]
        items = [item for quarter in quarters for item in (*quarter.commitments, *quarter.explorations)]
        return cls(quarters=quarters, items=items)


_NO_LIFECYCLE = RoadmapLifecycle(status=RoadmapStatus.DRAFT, version=0, current=False)
"""What a roadmap version without lifecycle properties reads as."""


@strawberry.type(description="A version of the roadmap: a draft waiting for review, or what became of it.")
class RoadmapVersion(AnalysisResult):
    version: int = strawberry.field(
        description="The version number: 1 for the first draft, increasing with each draft."
    )
    status: RoadmapStatus = strawberry.field(description="Where the version is in its review.")
    current: bool = strawberry.field(description="True for the one published roadmap in force.")
    reviewer: str | None = strawberry.field(
        description="Who approved or rejected the draft; null before the review."
    )
    review_comment: str | None = strawberry.field(
        description="The reviewer's comment; null before the review."
    )
    decided_at: datetime | None = strawberry.field(
        description="When the draft was approved, rejected, expired or cancelled; null while it waits."
    )
    superseded_by: strawberry.ID | None = strawberry.field(
        description="The id of the version published after this one; null while it is current or was never published."
    )
    recommendation: str = strawberry.field(description="What the analysis recommends, in prose.")
    findings: list[Finding] = strawberry.field(description="The analysis' claims with their evidence.")
    commitment_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the features committed to, quarter by quarter."
    )
    exploration_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the features explored, quarter by quarter."
    )
    method: str = strawberry.field(
        description="The scoring method behind the values: `blend`, `rice`, `wsjf` or `demand`."
    )
    utilisation: float = strawberry.field(
        description="Share of each team's nominal capacity the planner may fill, in (0, 1]; used by the "
        "`nominal` capacity model only."
    )
    capacity_model: str | None = strawberry.field(
        description="How team capacity per quarter was set: `throughput` (what the team finishes with "
        "`capacityProbability` under the forecast's throughput model) or `nominal` (capacity x 13 weeks x "
        "utilisation); null in roadmaps drafted before it was recorded, which used `nominal`."
    )
    capacity_probability: float | None = strawberry.field(
        description="With the `throughput` capacity model, the probability (0.85 by default) with which each "
        "team finishes, by each quarter's end, the work planned to end by then; null otherwise."
    )
    total_value: float = strawberry.field(
        description="Sum of the discounted values of the placed items (what the planner maximised)."
    )
    greedy_value: float | None = strawberry.field(
        description="What a greedy baseline placement would reach; null when it was not computed."
    )
    plan: strawberry.Private[RoadmapPlan]
    kept: strawberry.Private[KeptReport]

    @classmethod
    def of(cls, stored: StoredResult, kept: KeptReport) -> RoadmapVersion:
        report: RoadmapReport = kept.report
        lifecycle = stored.roadmap or _NO_LIFECYCLE
        return copied(
            cls,
            report.plan,
            **_meta(stored),
            **lifecycle.model_dump(),
            recommendation=report.analysis.recommendation,
            findings=_findings(report.analysis),
            commitment_ids=list(report.analysis.commitment_ids),
            exploration_ids=list(report.analysis.exploration_ids),
            plan=report.plan,
            kept=kept,
        )

    def _view(self) -> RoadmapView:
        return self.kept.built(RoadmapView.of)

    @strawberry.field(
        description="Whom the plan serves: the concentration of the customer demand behind it; null for "
        "versions drafted before it was computed."
    )
    def bias(self) -> RoadmapBias | None:
        report: RoadmapReport = self.kept.report
        return None if report.bias is None else self.kept.built(_roadmap_bias)

    @strawberry.field(description="The roadmap quarter by quarter.")
    async def quarters(self, info: Info) -> list[RoadmapQuarter]:
        selections = selected(info)
        items = [
            *(subselection(selections, "commitments") or []),
            *(subselection(selections, "explorations") or []),
        ]
        placed = self.plan.items()
        await asyncio.gather(
            prefetch_linked(
                info.context.loaders,
                feature_ids=(item.feature_id for item in placed),
                team_ids=(item.team_id for item in placed),
                selections=items,
            ),
            prefetch_linked(
                info.context.loaders,
                team_ids=(use.team_id for quarter in self.plan.quarters for use in quarter.capacity),
                selections=subselection(selections, "capacity") or [],
            ),
        )
        return self._view().quarters

    @strawberry.field(
        description="Items quarter by quarter, commitments before explorations; optionally one kind, the first n."
    )
    async def items(
        self,
        info: Info,
        kind: Annotated[
            RoadmapItemKind | None, strawberry.argument(description="Only items of this kind.")
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="At most this many items; all when null.")
        ] = None,
    ) -> list[RoadmapItem]:
        chosen = [item for item in self._view().items if kind is None or item.kind is kind]
        if first is not None:
            chosen = chosen[: max(first, 0)]
        await prefetch_linked(
            info.context.loaders,
            feature_ids=(item.feature_id for item in chosen),
            team_ids=(item.team_id for item in chosen),
            selections=selected(info),
        )
        return chosen

    @strawberry.field(description="Open features the roadmap leaves out, and why.")
    def left_out(self) -> list[LeftOutFeature]:
        return [copied(LeftOutFeature, item) for item in self.plan.left_out]


# -- risk ----------------------------------------------------------------------------------------------


@strawberry.type(description="A delivery or revenue risk, the nodes it concerns and what to do about it.")
class Risk:
    kind: RiskKind = strawberry.field(description="What kind of risk.")
    severity: float = strawberry.field(description="0 (negligible) to 1 (severe).")
    severity_formula: str = strawberry.field(description="How the severity is computed.")
    title: str = strawberry.field(description="The risk in a line.")
    detail: str = strawberry.field(description="The risk and its figures in a few sentences.")
    mitigation: str = strawberry.field(description="What would reduce the risk.")
    arr_at_stake: float | None = strawberry.field(
        description="The ARR the risk puts at stake; null when it concerns no revenue."
    )
    affected_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the graph nodes the risk concerns."
    )

    @classmethod
    def of(cls, risk: EngineRisk) -> Risk:
        return copied(cls, risk)

    @strawberry.field(description="The affected ids resolved to graph nodes.")
    async def affected(self, info: Info) -> list[Entity]:
        return await entities(info, self.affected_ids)


@strawberry.type(description="Committed work against capacity over the risk horizon.")
class TeamLoad:
    team_id: strawberry.ID = strawberry.field(description="The team's id.")
    committed_feature_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the team's planned and in-progress features."
    )
    committed_effort: float = strawberry.field(
        description="Expected remaining person-weeks of the committed work."
    )
    available_effort: float = strawberry.field(description="Capacity x horizon weeks, in person-weeks.")
    load_ratio: float | None = strawberry.field(
        description="Committed / available effort; above 1 is overloaded; null when nothing is available."
    )

    @strawberry.field(description="The team; null if no longer in the graph.", graphql_type=Team | None)
    def team(self, info: Info) -> Resolved[Team | None]:
        return _team(info, self.team_id)


@strawberry.type(
    description="A risk assessment: ranked risks, the critical path, team loads and ARR at risk."
)
class RiskAssessment(AnalysisResult):
    recommendation: str = strawberry.field(description="What the analysis recommends, in prose.")
    findings: list[Finding] = strawberry.field(description="The analysis' claims with their evidence.")
    priority_kinds: list[RiskKind] = strawberry.field(
        description="The kinds of risk the analysis says to act on first."
    )
    horizon_weeks: int = strawberry.field(description="How far ahead the assessment looks, in weeks.")
    arr_at_risk: float = strawberry.field(
        description="ARR of the customers at risk by the P85 rule: a requested feature's P85 date falls after "
        "the customer's renewal (all or nothing per customer)."
    )
    expected_arr_at_risk: float | None = strawberry.field(
        description="Expected ARR at risk: the sum over customers of ARR x P(miss renewal), P(miss renewal) = "
        "1 - the forecast's probability that every open requested feature is done on or before the renewal "
        "date; stable between seeds where the P85 rule flips. Null in assessments made before it was computed."
    )
    customers_expected_at_risk: list[CustomerRenewalRisk] | None = strawberry.field(
        description="Customers with a positive probability of missing their renewal, largest expected loss "
        "first; null in assessments made before it was computed."
    )
    total_arr: float = strawberry.field(description="ARR of all customers.")
    critical_path_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the features on the dependency critical path, first to last: prerequisites only, "
        "every team working all its features at once (the same as `dependencyCriticalPathIds`)."
    )
    critical_path_weeks: float = strawberry.field(
        description="Length of the dependency critical path, in weeks."
    )
    critical_path_end: date | None = strawberry.field(
        description="When the dependency critical path is expected to end; null without one."
    )
    dependency_critical_path_ids: list[strawberry.ID] = strawberry.field(
        description="Ids of the features on the dependency critical path (prerequisites only, every team "
        "working all its features at once), first to last."
    )
    resource_critical_path_ids: list[strawberry.ID] | None = strawberry.field(
        description="Ids of the features on the resource critical path, first to last: a feature also waits "
        "for the previous feature in its team's queue, each team working its features one at a time in the "
        "forecast's delivery order, as the forecast does. Null in assessments made before it was computed."
    )
    resource_critical_path_weeks: float | None = strawberry.field(
        description="Length of the resource critical path, in weeks; at least `criticalPathWeeks`."
    )
    resource_critical_path_end: date | None = strawberry.field(
        description="When the resource critical path is expected to end; null without one."
    )
    critical_path_note: str | None = strawberry.field(
        description="One line explaining the two critical paths and the weeks of team-queue waiting between them."
    )
    customers_at_risk: list[CustomerAtRisk] = strawberry.field(
        description="Customers whose requested work is likely (P85) done after their renewal."
    )
    team_loads: list[TeamLoad] = strawberry.field(
        description="Each team's committed work against its capacity."
    )
    all_risks: strawberry.Private[list[Risk]]

    @classmethod
    def of(cls, stored: StoredResult, report: RiskAssessmentReport) -> RiskAssessment:
        engine = report.report
        return cls(
            **_meta(stored),
            recommendation=report.analysis.recommendation,
            findings=_findings(report.analysis),
            priority_kinds=list(report.analysis.priority_kinds),
            horizon_weeks=engine.horizon_weeks,
            arr_at_risk=engine.arr_at_risk,
            expected_arr_at_risk=engine.expected_arr_at_risk,
            customers_expected_at_risk=None
            if engine.customers_expected_at_risk is None
            else [CustomerRenewalRisk.of(c) for c in engine.customers_expected_at_risk],
            total_arr=engine.total_arr,
            critical_path_ids=[strawberry.ID(i) for i in engine.critical_path],
            critical_path_weeks=engine.critical_path_weeks,
            critical_path_end=engine.critical_path_end,
            dependency_critical_path_ids=[strawberry.ID(i) for i in engine.critical_path],
            resource_critical_path_ids=None
            if engine.resource_critical_path is None
            else [strawberry.ID(i) for i in engine.resource_critical_path],
            resource_critical_path_weeks=engine.resource_critical_path_weeks,
            resource_critical_path_end=engine.resource_critical_path_end,
            critical_path_note=engine.critical_path_note,
            customers_at_risk=[CustomerAtRisk.of(c) for c in engine.customers_at_risk],
            team_loads=[copied(TeamLoad, load) for load in engine.team_loads],
            all_risks=[Risk.of(risk) for risk in engine.risks],
        )

    @strawberry.field(description="Risks, most severe first; optionally of one kind and at least a severity.")
    def risks(
        self,
        kind: Annotated[RiskKind | None, strawberry.argument(description="Only risks of this kind.")] = None,
        min_severity: Annotated[
            float, strawberry.argument(description="Only risks at least this severe, 0 to 1.")
        ] = 0.0,
        first: Annotated[
            int | None, strawberry.argument(description="At most this many risks; all when null.")
        ] = None,
    ) -> list[Risk]:
        chosen = [
            r for r in self.all_risks if (kind is None or r.kind is kind) and r.severity >= min_severity
        ]
        return chosen[: max(first, 0)] if first is not None else chosen

    @strawberry.field(
        description="The features on the critical path, first to last.", graphql_type=list[Feature]
    )
    def critical_path(self, info: Info) -> Resolved[list[Feature]]:
        return features_by_ids(info, list(self.critical_path_ids))

    @strawberry.field(
        description="The features on the resource critical path (team queues included), first to last; empty "
        "in assessments made before it was computed.",
        graphql_type=list[Feature],
    )
    def resource_critical_path(self, info: Info) -> Resolved[list[Feature]]:
        return features_by_ids(info, list(self.resource_critical_path_ids or []))


# -- portfolio reviews -------------------------------------------------------------------------------


@strawberry.type(
    description="A scheduled review: a risk assessment plus a forecast, and what changed since the last one."
)
class PortfolioReview(AnalysisResult):
    risk_assessment_id: strawberry.ID = strawberry.field(
        description="The id of the risk assessment the review ran."
    )
    previous_review_id: strawberry.ID | None = strawberry.field(
        description="The id of the review before this one; null for the first."
    )
    arr_at_risk: float = strawberry.field(description="ARR of the customers at risk.")
    arr_at_risk_change: float | None = strawberry.field(
        description="Change in ARR at risk since the previous review; null for the first."
    )
    arr_weighted_on_time: float = strawberry.field(description="ARR-weighted on-time share, 0 to 1.")
    arr_weighted_on_time_change: float | None = strawberry.field(
        description="Change since the previous review; null for the first."
    )
    late_feature_count: int = strawberry.field(
        description="How many features are likely (P85) late for their target."
    )
    risk_count: int = strawberry.field(description="How many risks the assessment found.")
    new_risks: list[str] = strawberry.field(description="Titles of the risks not in the previous review.")
    resolved_risks: list[str] = strawberry.field(
        description="Titles of the previous review's risks that are gone."
    )
    new_risk_count: int = strawberry.field(description="How many risks are new.")
    resolved_risk_count: int = strawberry.field(description="How many risks are resolved.")
    customers_newly_at_risk: list[strawberry.ID] = strawberry.field(
        description="Ids of customers at risk now but not at the previous review."
    )
    customers_no_longer_at_risk: list[strawberry.ID] = strawberry.field(
        description="Ids of customers at risk at the previous review but not now."
    )

    @classmethod
    def of(cls, stored: StoredResult, outcome: PortfolioReviewOutcome) -> PortfolioReview:
        return copied(cls, outcome, **_meta(stored))

    @strawberry.field(description="The risk assessment the review ran.")
    async def risk_assessment(self, info: Info) -> RiskAssessment | None:
        return await risk_assessment_by_id(info, self.risk_assessment_id)

    @strawberry.field(description="The review before this one; null for the first.")
    async def previous_review(self, info: Info) -> PortfolioReview | None:
        if self.previous_review_id is None:
            return None
        return await portfolio_review_by_id(info, self.previous_review_id)


@strawberry.type(
    description="A customer-insight digest: the agent's findings over the themes and links a run found."
)
class InsightDigest(AnalysisResult):
    findings: list[Finding] = strawberry.field(description="The agent's findings, each with its evidence.")
    recommendation: str = strawberry.field(description="What to do first.")
    feedback_count: int = strawberry.field(description="Feedback items the run analysed.")
    theme_count: int = strawberry.field(description="Themes it found (see `themes(digestId:)`).")
    suggested_link_count: int = strawberry.field(description="Feedback-to-feature links it suggested.")
    theme_ids: list[strawberry.ID] = strawberry.field(
        description="The themes the agent says to act on first."
    )
    feature_ids: list[strawberry.ID] = strawberry.field(
        description="The features the agent says feedback points to."
    )

    @classmethod
    def of(cls, stored: StoredResult, report: InsightReport) -> InsightDigest:
        return cls(
            **_meta(stored),
            findings=_findings(report.analysis),
            recommendation=report.analysis.recommendation,
            feedback_count=report.feedback_count,
            theme_count=report.theme_count,
            suggested_link_count=report.suggested_link_count,
            theme_ids=[strawberry.ID(i) for i in report.analysis.theme_ids],
            feature_ids=[strawberry.ID(i) for i in report.analysis.feature_ids],
        )


RunResult = Annotated[
    ScenarioAnalysis | RoadmapVersion | RiskAssessment | PortfolioReview | InsightDigest,
    strawberry.union("RunResult", description="What a run stored in the graph."),
]


# -- lookups -----------------------------------------------------------------------------------------


def _reader(info: Info) -> ResultReader:
    return info.context.services.results


async def scenario_analysis_by_id(info: Info, result_id: str) -> ScenarioAnalysis | None:
    found = await _reader(info).read(NodeLabel.SCENARIO_ANALYSIS, result_id)
    return ScenarioAnalysis.of(found[0], found[1].report) if found is not None else None


async def roadmap_version_by_id(info: Info, result_id: str) -> RoadmapVersion | None:
    found, _ = await asyncio.gather(
        _reader(info).read(NodeLabel.ROADMAP_VERSION, result_id), info.context.loaders.revision()
    )
    return RoadmapVersion.of(*found) if found is not None else None


async def risk_assessment_by_id(info: Info, result_id: str) -> RiskAssessment | None:
    found = await _reader(info).read(NodeLabel.RISK_ASSESSMENT, result_id)
    return RiskAssessment.of(found[0], found[1].report) if found is not None else None


async def portfolio_review_by_id(info: Info, result_id: str) -> PortfolioReview | None:
    found = await _reader(info).read(NodeLabel.PORTFOLIO_REVIEW, result_id)
    return PortfolioReview.of(found[0], found[1].report) if found is not None else None


async def insight_digest_by_id(info: Info, result_id: str) -> InsightDigest | None:
    found = await _reader(info).read(NodeLabel.INSIGHT_DIGEST, result_id)
    return InsightDigest.of(found[0], found[1].report) if found is not None else None


RESULT_BY_LABEL = {
    NodeLabel.SCENARIO_ANALYSIS: scenario_analysis_by_id,
    NodeLabel.ROADMAP_VERSION: roadmap_version_by_id,
    NodeLabel.RISK_ASSESSMENT: risk_assessment_by_id,
    NodeLabel.PORTFOLIO_REVIEW: portfolio_review_by_id,
    NodeLabel.INSIGHT_DIGEST: insight_digest_by_id,
}
