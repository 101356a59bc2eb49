"""Mutations. Each returns a union of its payload and the error types a client can act on
(`ValidationErrors`, `NotFound`, `InvalidState`, `PermissionDenied`), not only top-level errors.

Roles: planner starts and cancels runs; approver approves or rejects roadmap drafts; admin imports
portfolios and manages the review schedule (see `api.permissions`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, Any

import strawberry
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.erasure import CustomerErased, CustomerIdArgument, NothingToErase, erase_customer
from api.permissions import IsAdmin, IsApprover, IsPlanner, PermissionDenied, typed_permission
from api.result_types import RoadmapVersion, roadmap_version_by_id
from api.runs import Run, RunKind, run_by_id, temporal, wait_until_closed
from api.schedules import MIN_INTERVAL_SECONDS, SCHEDULE_ID, ReviewSchedule, ReviewScheduleInput, describe
from api.schedules import create as create_schedule
from api.types import Info, graphql_enum
from engines.roadmap import CapacityModelChoice
from graph.cypher import finish_even_if_cancelled
from graph.import_recovery import ImportInProgressError, ImportSupersededError
from graph.portfolio_files import parse_json
from graph.store import ImportSummary
from graph.validation import PortfolioValidationError
from workflows import client as runs_client
from workflows import schedules
from workflows.client import RequestT, RunState, WorkflowStarter
from workflows.payloads import (
    PortfolioReviewRequest,
    RiskAssessmentRequest,
    RoadmapDraftingRequest,
    ScenarioSimulationRequest,
)

# -- error types -------------------------------------------------------------------------------------


@strawberry.type(description="One problem with the input, and where it is.")
class ValidationIssue:
    location: str = strawberry.field(
        description="Where: `features[3].effort_low` in an imported document, `input.trials` in arguments."
    )
    message: str = strawberry.field(description="What is wrong, in a sentence.")
    collection: str | None = strawberry.field(
        default=None,
        description="For an imported document: the collection (`features`, `teams`, ...); null otherwise.",
    )
    row: int | None = strawberry.field(
        default=None,
        description="For an imported document: the 0-based row in the collection (the CSV file's row); null otherwise.",
    )
    field: str | None = strawberry.field(
        default=None,
        description="For an imported document: the field of the row; null for a problem of the whole row.",
    )


@strawberry.type(description="The input was refused; nothing was changed.")
class ValidationErrors:
    message: str = strawberry.field(description="How many problems the input has.")
    issues: list[ValidationIssue] = strawberry.field(
        description="Every problem found, each with where it is."
    )


@strawberry.type(description="No such run (or result, or schedule).")
class NotFound:
    message: str = strawberry.field(description="What was not found.")
    id: strawberry.ID = strawberry.field(description="The id that was asked for.")


@strawberry.type(description="The target exists but is not in a state that allows this.")
class InvalidState:
    message: str = strawberry.field(description="Why the target's state does not allow this.")


class InputProblems(Exception):
    """Issues collected while checking mutation arguments."""

    def __init__(self, issues: Sequence[ValidationIssue]) -> None:
        super().__init__(f"{len(issues)} problem(s)")
        self.issues = list(issues)

    def result(self) -> ValidationErrors:
        count = len(self.issues)
        return ValidationErrors(
            message=f"{count} problem{'s' if count != 1 else ''} with the input", issues=self.issues
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{_camel(str(part))}"
    return path


def _issues_of(error: ValidationError, prefix: str) -> list[ValidationIssue]:
    return [
        ValidationIssue(location=_path(prefix, detail["loc"]), message=detail["msg"])
        for detail in error.errors()
    ]


def _build(model: type[BaseModel], prefix: str, issues: list[ValidationIssue], **values: Any) -> Any:
    try:
        return model(**values)
    except ValidationError as error:
        issues += _issues_of(error, prefix)
        return None


# -- inputs --------------------------------------------------------------------------------------------


@strawberry.input(description="Settings every analysis accepts.")
class AnalysisOptions:
    as_of: date | None = strawberry.field(
        default=None, description="Analysis date; default: the day the run starts."
    )
    seed: int = strawberry.field(
        default=0,
        description="Random seed of the Monte Carlo trials; the same seed and portfolio give the same numbers.",
    )
    trials: int = strawberry.field(default=10_000, description="Monte Carlo trials, 100 to 100,000.")
    horizon_weeks: int = strawberry.field(
        default=260, description="How far ahead the forecast looks, 4 to 1,040 weeks."
    )
    top_n: int = strawberry.field(
        default=8, description="How many items the analysis' summaries list, 1 to 25."
    )


def _options(options: AnalysisOptions | None) -> dict[str, Any]:
    chosen = options or AnalysisOptions()
    return {
        "as_of": chosen.as_of,
        "seed": chosen.seed,
        "trials": chosen.trials,
        "horizon_weeks": chosen.horizon_weeks,
        "top_n": chosen.top_n,
    }


@strawberry.input(description="Change a team's capacity (person-weeks per week), optionally for a period.")
class CapacityChangeInput:
    team_id: strawberry.ID = strawberry.field(description="The team whose capacity changes.")
    delta: float = strawberry.field(description="Person-weeks per week to add (negative: remove).")
    start: date | None = strawberry.field(
        default=None, description="First day of the change; null: from the analysis date."
    )
    end: date | None = strawberry.field(default=None, description="Last day of the change; null: no end.")


@strawberry.input(description="Take features out of scope.")
class RemoveScopeInput:
    feature_ids: list[strawberry.ID] = strawberry.field(description="The features to take out.")


@strawberry.input(description="New estimates: all of low / likely / high, or a factor on the current ones.")
class ReestimateInput:
    feature_id: strawberry.ID = strawberry.field(description="The feature to re-estimate.")
    effort_low: float | None = strawberry.field(
        default=None, description="New optimistic effort, person-weeks (0 or more)."
    )
    effort_likely: float | None = strawberry.field(
        default=None, description="New most likely effort, person-weeks (0 or more)."
    )
    effort_high: float | None = strawberry.field(
        default=None, description="New pessimistic effort, person-weeks (0 or more)."
    )
    factor: float | None = strawberry.field(
        default=None,
        description="Multiply the current estimates by this (above 0) instead of giving new ones.",
    )


@strawberry.input(description="Nothing starts before `start`: all features, a team's, or the listed ones.")
class ShiftStartInput:
    start: date = strawberry.field(description="The earliest start date.")
    team_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this team's features (not with `featureIds`)."
    )
    feature_ids: list[strawberry.ID] = strawberry.field(
        description="Only these features (not with `teamId`); all features when neither is given.",
        default_factory=list,
    )


@strawberry.input(description="Give a feature a new priority (lower goes first); null clears it.")
class ReprioritiseInput:
    feature_id: strawberry.ID = strawberry.field(description="The feature to reprioritise.")
    priority: int | None = strawberry.field(
        description="The new priority, 0 or more (lower goes first); null clears it."
    )


@strawberry.input(one_of=True, description="Exactly one change.")
class ScenarioChangeInput:
    capacity: CapacityChangeInput | None = strawberry.field(
        default=strawberry.UNSET, description="Change a team's capacity."
    )
    remove_scope: RemoveScopeInput | None = strawberry.field(
        default=strawberry.UNSET, description="Take features out of scope."
    )
    reestimate: ReestimateInput | None = strawberry.field(
        default=strawberry.UNSET, description="Re-estimate a feature."
    )
    shift_start: ShiftStartInput | None = strawberry.field(
        default=strawberry.UNSET, description="Delay when work may start."
    )
    reprioritise: ReprioritiseInput | None = strawberry.field(
        default=strawberry.UNSET, description="Give a feature a new priority."
    )


@strawberry.input(description="A named what-if: changes applied to the portfolio before simulating.")
class ScenarioInput:
    id: strawberry.ID = strawberry.field(description="The scenario's id, unique within the simulation.")
    name: str = strawberry.field(description="The scenario's name.")
    description: str = strawberry.field(default="", description="What the scenario tries.")
    changes: list[ScenarioChangeInput] = strawberry.field(description="The changes, applied in order.")


@strawberry.input(description="What to simulate: scenarios, each against the same baseline forecast.")
class ScenarioSimulationInput:
    scenarios: list[ScenarioInput] = strawberry.field(
        description="The scenarios to simulate against the baseline; at least one."
    )
    options: AnalysisOptions | None = strawberry.field(
        default=None, description="Analysis settings; defaults when null."
    )


@strawberry.input(description="Force a feature into a quarter (quarters are 1-based).")
class PinInput:
    feature_id: strawberry.ID = strawberry.field(description="The feature to pin.")
    quarter: int = strawberry.field(
        description="The quarter the feature starts in, 1-based: 1 starts on the analysis date, up to `quarters` (the numbering of `RoadmapItem.quarter`); a feature needing more than one quarter runs on from there."
    )


graphql_enum(
    CapacityModelChoice,
    "How the roadmap planner sets each team's capacity per quarter.",
    {
        CapacityModelChoice.THROUGHPUT: "What the team finishes by each quarter's end with 85% probability under "
        "the forecast's throughput model (its throughput history, or a prior on its capacity).",
        CapacityModelChoice.NOMINAL: "The team's stated capacity x 13 weeks x 0.85 utilisation, whatever its "
        "history says.",
    },
)


@strawberry.input(
    description="What to draft: how many quarters, pins, exclusions and how long to wait for a review."
)
class RoadmapDraftInput:
    quarters: int = strawberry.field(default=4, description="How many quarters to draft, 1 to 8.")
    pins: list[PinInput] = strawberry.field(
        description="Features forced into a quarter.", default_factory=list
    )
    exclusions: list[strawberry.ID] = strawberry.field(
        description="Ids of features to leave out.", default_factory=list
    )
    planner_time_limit_seconds: float = strawberry.field(
        default=10.0, description="Time the optimiser may take, in seconds (above 0, at most 600)."
    )
    review_timeout_seconds: float = strawberry.field(
        default=7 * 24 * 3600.0, description="How long the draft waits for a review before it expires."
    )
    capacity_model: CapacityModelChoice = strawberry.field(
        default=CapacityModelChoice.THROUGHPUT, description="How team capacity per quarter is set."
    )
    options: AnalysisOptions | None = strawberry.field(
        default=None, description="Analysis settings; defaults when null."
    )


@strawberry.input(description="What to assess: the risk horizon and the analysis settings.")
class RiskAssessmentInput:
    risk_horizon_weeks: int = strawberry.field(
        default=26, description="How far ahead the risks are assessed, 1 to 260 weeks."
    )
    options: AnalysisOptions | None = strawberry.field(
        default=None, description="Analysis settings; defaults when null."
    )


# -- payloads ------------------------------------------------------------------------------------------


@strawberry.type(description="Changes of one node label or relationship type.")
class ChangeCount:
    type: str = strawberry.field(description="The node label or relationship type.")
    created: int = strawberry.field(description="How many were created.")
    updated: int = strawberry.field(description="How many existing ones changed.")
    deleted: int = strawberry.field(description="How many were removed (absent from the document).")
    unchanged: int = strawberry.field(description="How many were already as the document says.")


@strawberry.type(description="The portfolio was written to the graph.")
class PortfolioImported:
    changed: bool = strawberry.field(description="False when the graph already held exactly this portfolio.")
    nodes: list[ChangeCount] = strawberry.field(description="Changes by node label.")
    relationships: list[ChangeCount] = strawberry.field(description="Changes by relationship type.")
    transactions: int = strawberry.field(description="How many write transactions the import took.")
    single_transaction: bool = strawberry.field(
        description="True when the whole import was one transaction (all or nothing)."
    )
    seconds: float = strawberry.field(description="How long the import took, in seconds.")

    @classmethod
    def of(cls, summary: ImportSummary) -> PortfolioImported:
        def counts(groups: dict[str, Any]) -> list[ChangeCount]:
            return [
                ChangeCount(
                    type=name,
                    created=changes.created,
                    updated=changes.updated,
                    deleted=changes.deleted,
                    unchanged=changes.unchanged,
                )
                for name, changes in sorted(groups.items())
            ]

        return cls(
            changed=summary.changed,
            nodes=counts(summary.nodes),
            relationships=counts(summary.relationships),
            transactions=summary.transactions,
            single_transaction=summary.single_transaction,
            seconds=summary.seconds,
        )


@strawberry.type(
    description="Another import (another API replica, or the CLI) is writing the portfolio, or finishing "
    "its clean-up: nothing was written; try again when it finishes."
)
class ImportInProgress:
    message: str = strawberry.field(description="What is in progress, by whom, and what to do.")
    revision: str = strawberry.field(description="The revision token the running import will set.")
    since: datetime = strawberry.field(description="When the running import started writing.")
    rows: int = strawberry.field(description="Rows (nodes + relationships) of the running import's document.")
    committed: bool = strawberry.field(
        description="True when it has committed (readers see it) and only its clean-up is left."
    )
    last_heartbeat: datetime | None = strawberry.field(
        description="When the running import last wrote; null if it never recorded one."
    )

    @classmethod
    def of(cls, error: ImportInProgressError) -> ImportInProgress:
        running = error.running
        return cls(
            message=str(error),
            revision=running.revision,
            since=datetime.fromisoformat(running.since),
            rows=running.rows,
            committed=error.committed,
            last_heartbeat=datetime.fromisoformat(running.heartbeat) if running.heartbeat else None,
        )


@strawberry.type(description="The run was started.")
class RunStarted:
    run: Run = strawberry.field(description="The run just started.")


@strawberry.type(description="The draft was reviewed: published as the current roadmap, or rejected.")
class RoadmapReviewed:
    run: Run = strawberry.field(description="The drafting run, after the review.")
    version: RoadmapVersion | None = strawberry.field(
        description="The reviewed roadmap version; null if it could not be read."
    )


@strawberry.type(
    description="Cancellation was requested and the run given a few seconds to stop: `run.state` is the "
    "state it reached (CANCELLED), or RUNNING while it is still stopping (it stops at its next step)."
)
class RunCancelled:
    run: Run = strawberry.field(description="The run as it stood when this answer was sent.")
    cancel_requested: bool = strawberry.field(
        default=True, description="Always true: Temporal accepted the cancellation request."
    )
    closed: bool = strawberry.field(
        default=False, description="Whether the run had stopped when this answer was sent."
    )


@strawberry.type(description="The review schedule as it now stands.")
class ReviewScheduleSet:
    schedule: ReviewSchedule = strawberry.field(description="The schedule.")


@strawberry.type(description="The schedule was deleted; reviews it started stay.")
class ReviewScheduleDeleted:
    id: strawberry.ID = strawberry.field(description="The deleted schedule's id.")


ImportPortfolioResult = Annotated[
    PortfolioImported | ValidationErrors | ImportInProgress | InvalidState | PermissionDenied,
    strawberry.union(
        "ImportPortfolioResult", description="The import's summary, or why nothing was written."
    ),
]
StartRunResult = Annotated[
    RunStarted | ValidationErrors | PermissionDenied,
    strawberry.union("StartRunResult", description="The started run, or why none was started."),
]
ReviewRoadmapResult = Annotated[
    RoadmapReviewed | NotFound | InvalidState | ValidationErrors | PermissionDenied,
    strawberry.union(
        "ReviewRoadmapResult", description="The reviewed draft, or why it could not be reviewed."
    ),
]
CancelRunResult = Annotated[
    RunCancelled | NotFound | InvalidState | PermissionDenied,
    strawberry.union("CancelRunResult", description="The cancelled run, or why it could not be cancelled."),
]
ScheduleResult = Annotated[
    ReviewScheduleSet | NotFound | InvalidState | ValidationErrors | PermissionDenied,
    strawberry.union(
        "ScheduleResult", description="The review schedule as it now stands, or why it is unchanged."
    ),
]
DeleteScheduleResult = Annotated[
    ReviewScheduleDeleted | NotFound | PermissionDenied,
    strawberry.union("DeleteScheduleResult", description="The deleted schedule's id, or why it stays."),
]
EraseCustomerResult = Annotated[
    CustomerErased | NotFound | ValidationErrors | PermissionDenied,
    strawberry.union(
        "EraseCustomerResult", description="What the erasure removed, or why nothing was erased."
    ),
]


# -- checks against the graph --------------------------------------------------------------------------


async def _require_existing(
    info: Info, kind: str, references: Sequence[tuple[str, str]], issues: list[ValidationIssue]
) -> None:
    """Add an issue for each (location, id) whose node does not exist; one batched lookup per kind."""
    loader = info.context.loaders.team if kind == "team" else info.context.loaders.feature
    found = await loader.load_many([node_id for _, node_id in references])
    for (location, node_id), node in zip(references, found, strict=True):
        if node is None:
            issues.append(ValidationIssue(location=location, message=f"no {kind} with id {node_id!r}"))


_CHANGE_KINDS = ("capacity", "remove_scope", "reestimate", "shift_start", "reprioritise")
"""The fields of `ScenarioChangeInput`, each named as the `kind` of the scenario change it gives."""


def _change_values(change: ScenarioChangeInput) -> dict[str, Any]:
    """The one change given, as the scenario change model reads it: its `kind` and its fields."""
    kind = next(kind for kind in _CHANGE_KINDS if getattr(change, kind))
    return {"kind": kind, **strawberry.asdict(getattr(change, kind))}


def _scenario_values(given: ScenarioInput) -> dict[str, Any]:
    return {
        "id": given.id,
        "name": given.name,
        "description": given.description,
        "changes": [_change_values(change) for change in given.changes],
    }


def _duplicate_scenario_ids(scenarios: Sequence[dict[str, Any]]) -> list[ValidationIssue]:
    ids = [scenario["id"] for scenario in scenarios]
    return [
        ValidationIssue(location=f"input.scenarios[{i}].id", message=f"duplicate id {scenario_id!r}")
        for i, scenario_id in enumerate(ids)
        if scenario_id in ids[:i]
    ]


def _referenced_ids(scenarios: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, str]]]:
    """Kind ("team", "feature") -> (location, id) of every node the changes name."""
    references: dict[str, list[tuple[str, str]]] = {"team": [], "feature": []}
    for i, scenario in enumerate(scenarios):
        for j, change in enumerate(scenario["changes"]):
            where = _path("input", ("scenarios", i, "changes", j, change["kind"]))
            if change.get("team_id") is not None:
                references["team"].append((f"{where}.teamId", change["team_id"]))
            if "feature_id" in change:
                references["feature"].append((f"{where}.featureId", change["feature_id"]))
            references["feature"] += [
                (f"{where}.featureIds[{k}]", feature_id)
                for k, feature_id in enumerate(change.get("feature_ids", []))
            ]
    return references


async def _scenario_request(info: Info, given: ScenarioSimulationInput) -> ScenarioSimulationRequest:
    """The workflow's request: the scenario models check the changes, the graph checks the ids they name."""
    if not given.scenarios:
        raise InputProblems(
            [ValidationIssue(location="input.scenarios", message="give at least one scenario")]
        )
    scenarios = [_scenario_values(scenario) for scenario in given.scenarios]
    issues = _duplicate_scenario_ids(scenarios)
    request = _build(
        ScenarioSimulationRequest,
        "input",
        issues,
        scenarios=scenarios,
        requested_by=_requester(info),
        **_options(given.options),
    )
    for kind, references in _referenced_ids(scenarios).items():
        await _require_existing(info, kind, references, issues)
    if issues:
        raise InputProblems(issues)
    return request


def _pin_quarter_issues(given: RoadmapDraftInput) -> list[ValidationIssue]:
    """Pins are 1-based here and 0-based in the request, whose quarters they must fall in."""
    return [
        ValidationIssue(
            location=f"input.pins[{k}].quarter", message=f"must be between 1 and {given.quarters}"
        )
        for k, pin in enumerate(given.pins)
        if not 1 <= pin.quarter <= given.quarters
    ]


def _request(model: type[BaseModel], **values: Any) -> Any:
    issues: list[ValidationIssue] = []
    built = _build(model, "input", issues, **values)
    if issues:
        raise InputProblems(issues)
    return built


async def _start(
    info: Info, client: Client, start: WorkflowStarter[RequestT], request: RequestT
) -> RunStarted:
    """Start the run on the API's task queue; returns it as Temporal reports it."""
    workflow_id = await start(client, request, task_queue=info.context.services.task_queue)
    run = await run_by_id(client, workflow_id)
    assert run is not None, "Temporal does not know the run it just started"
    return RunStarted(run=run)


def _reviewer(info: Info) -> str:
    principal = info.context.principal
    assert principal is not None, "the permission check lets no anonymous caller through"
    return principal.name


def _requester(info: Info) -> str:
    """Who starts a run: the caller's key name (the run's `LodestarRequestedBy` search attribute)."""
    return _reviewer(info)


_SAFE_UPDATE_MESSAGE = re.compile(r"^[\w\s().,;:'`!?<>=/-]{1,300}$")


async def _review(info: Info, run_id: str, comment: str, *, approve: bool) -> Any:
    client = temporal(info)
    run = await run_by_id(client, run_id)
    if run is None:
        return NotFound(message=f"no run with id {run_id!r}", id=strawberry.ID(run_id))
    if run.kind is not RunKind.ROADMAP_DRAFTING:
        return InvalidState(message=f"run {run_id!r} is a {run.kind.name.lower()} run, not a roadmap draft")
    if run.state is not RunState.RUNNING:
        return InvalidState(message=f"run {run_id!r} is {run.state.value}; its draft no longer awaits review")
    if len(comment) > 4_000:
        return ValidationErrors(
            message="1 problem with the input",
            issues=[ValidationIssue(location="comment", message="at most 4000 characters")],
        )
    review = runs_client.approve_roadmap if approve else runs_client.reject_roadmap
    try:
        await review(client, run_id, reviewer=_reviewer(info), comment=comment)
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        detail = str(getattr(cause, "message", "") or cause or "")
        if not _SAFE_UPDATE_MESSAGE.match(detail):
            detail = "the draft cannot be reviewed now"
        return InvalidState(message=detail)
    refreshed = await run_by_id(client, run_id)
    return RoadmapReviewed(run=refreshed or run, version=await roadmap_version_by_id(info, run_id))


# -- the mutation root ---------------------------------------------------------------------------------

RunIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The run's id.")]
RoadmapRunArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The id of the roadmap drafting run whose draft waits.")
]
ReviewCommentArgument = Annotated[
    str, strawberry.argument(description="Why, for the record; at most 4,000 characters.")
]
ScheduleIdArgument = Annotated[strawberry.ID, strawberry.argument(description="The schedule's id.")]
ScheduleNoteArgument = Annotated[
    str, strawberry.argument(description="Why, shown on the schedule; at most 500 characters are kept.")
]


@strawberry.type(
    description="Writes: import a portfolio, start, review and cancel runs, manage the review schedule."
)
class Mutation:
    @strawberry.mutation(
        extensions=[typed_permission(IsAdmin)],
        description="Validate a portfolio JSON document and write it to the graph; an invalid one writes nothing.",
    )
    async def import_portfolio(
        self,
        info: Info,
        document: Annotated[
            str, strawberry.argument(description="The portfolio as one JSON document (see the README).")
        ],
    ) -> ImportPortfolioResult:
        limit = info.context.settings.max_import_bytes
        if len(document.encode()) > limit:
            return ValidationErrors(
                message="the document is too large",
                issues=[ValidationIssue(location="document", message=f"at most {limit} bytes")],
            )
        try:
            portfolio = parse_json(document)
            # A timed-out request does not interrupt an import half-way: it completes or fails as a whole.
            summary = await finish_even_if_cancelled(info.context.services.store.import_portfolio(portfolio))
        except PortfolioValidationError as error:
            issues = [
                ValidationIssue(
                    location=issue.location,
                    message=issue.message,
                    collection=issue.collection,
                    row=issue.row,
                    field=issue.field,
                )
                for issue in error.issues
            ]
            return InputProblems(issues).result()
        except ImportInProgressError as error:
            return ImportInProgress.of(error)
        except ImportSupersededError as error:
            # Its lease lapsed while it wrote, and another import rolled it back: nothing of it is visible.
            return InvalidState(message=str(error))
        return PortfolioImported.of(summary)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Start a scenario simulation against the baseline forecast; returns the run.",
    )
    async def start_scenario_simulation(
        self,
        info: Info,
        input: Annotated[ScenarioSimulationInput, strawberry.argument(description="What to simulate.")],
    ) -> StartRunResult:
        client = temporal(info)
        try:
            request = await _scenario_request(info, input)
        except InputProblems as problems:
            return problems.result()
        return await _start(info, client, runs_client.start_scenario_simulation, request)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Start drafting a roadmap; the draft then waits for approval. Returns the run.",
    )
    async def start_roadmap_draft(
        self,
        info: Info,
        input: Annotated[
            RoadmapDraftInput | None, strawberry.argument(description="What to draft; defaults when null.")
        ] = None,
    ) -> StartRunResult:
        client = temporal(info)
        given = input or RoadmapDraftInput()
        issues = _pin_quarter_issues(given)
        await _require_existing(
            info,
            "feature",
            [(f"input.pins[{k}].featureId", pin.feature_id) for k, pin in enumerate(given.pins)]
            + [(f"input.exclusions[{k}]", fid) for k, fid in enumerate(given.exclusions)],
            issues,
        )
        try:
            if issues:
                raise InputProblems(issues)
            request = _request(
                RoadmapDraftingRequest,
                quarters=given.quarters,
                pins={pin.feature_id: pin.quarter - 1 for pin in given.pins},
                exclusions=list(given.exclusions),
                planner_time_limit_s=given.planner_time_limit_seconds,
                capacity_model=given.capacity_model.value,
                review_timeout_seconds=given.review_timeout_seconds,
                requested_by=_requester(info),
                **_options(given.options),
            )
        except InputProblems as problems:
            return problems.result()
        return await _start(info, client, runs_client.start_roadmap_drafting, request)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Start a risk assessment; returns the run.",
    )
    async def start_risk_assessment(
        self,
        info: Info,
        input: Annotated[
            RiskAssessmentInput | None, strawberry.argument(description="What to assess; defaults when null.")
        ] = None,
    ) -> StartRunResult:
        client = temporal(info)
        given = input or RiskAssessmentInput()
        try:
            request = _request(
                RiskAssessmentRequest,
                risk_horizon_weeks=given.risk_horizon_weeks,
                requested_by=_requester(info),
                **_options(given.options),
            )
        except InputProblems as problems:
            return problems.result()
        return await _start(info, client, runs_client.start_risk_assessment, request)

    @strawberry.mutation(
        extensions=[typed_permission(IsApprover)],
        description="Approve the draft a roadmap run waits with: it becomes the current roadmap.",
    )
    async def approve_roadmap(
        self, info: Info, run_id: RoadmapRunArgument, comment: ReviewCommentArgument = ""
    ) -> ReviewRoadmapResult:
        return await _review(info, run_id, comment, approve=True)

    @strawberry.mutation(
        extensions=[typed_permission(IsApprover)],
        description="Reject the draft a roadmap run waits with.",
    )
    async def reject_roadmap(
        self, info: Info, run_id: RoadmapRunArgument, comment: ReviewCommentArgument = ""
    ) -> ReviewRoadmapResult:
        return await _review(info, run_id, comment, approve=False)

    @strawberry.mutation(
        extensions=[typed_permission(IsPlanner)],
        description="Stop a running run and answer the state it reached; it leaves no partial result behind.",
    )
    async def cancel_run(self, info: Info, id: RunIdArgument) -> CancelRunResult:
        client = temporal(info)
        run = await run_by_id(client, id)
        if run is None:
            return NotFound(message=f"no run with id {id!r}", id=id)
        if run.state is not RunState.RUNNING:
            return InvalidState(message=f"run {id!r} is {run.state.value}, not running")
        try:
            await runs_client.cancel_run(client, id)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return InvalidState(message=f"run {id!r} is no longer running")
            raise
        settled = await wait_until_closed(client, id, info.context.settings.cancel_wait_s) or run
        return RunCancelled(run=settled, closed=settled.state is not RunState.RUNNING)

    @strawberry.mutation(
        extensions=[typed_permission(IsAdmin)],
        description="Create the schedule that runs portfolio reviews (weekly unless told otherwise).",
    )
    async def create_review_schedule(
        self,
        info: Info,
        input: Annotated[ReviewScheduleInput, strawberry.argument(description="The schedule to create.")],
    ) -> ScheduleResult:
        client = temporal(info)
        issues: list[ValidationIssue] = []
        if not SCHEDULE_ID.match(input.id):
            issues.append(
                ValidationIssue(location="input.id", message="letters, digits and _ . : - (up to 64)")
            )
        if input.every_seconds is not None and input.every_seconds < MIN_INTERVAL_SECONDS:
            issues.append(
                ValidationIssue(
                    location="input.everySeconds", message=f"at least {MIN_INTERVAL_SECONDS:g} seconds"
                )
            )
        if len(input.cron_expressions) > 10 or any(len(cron) > 100 for cron in input.cron_expressions):
            issues.append(
                ValidationIssue(location="input.cronExpressions", message="at most 10, of 100 characters")
            )
        if len(input.note) > 500:
            issues.append(ValidationIssue(location="input.note", message="at most 500 characters"))
        try:
            if issues:
                raise InputProblems(issues)
            request = _request(
                PortfolioReviewRequest,
                risk_horizon_weeks=input.risk_horizon_weeks,
                as_of=input.as_of,
                trials=input.trials,
                seed=input.seed,
            )
        except InputProblems as problems:
            return problems.result()
        created = await create_schedule(
            client, input, task_queue=info.context.services.task_queue, request=request
        )
        if isinstance(created, str):
            return InvalidState(message=created)
        return ReviewScheduleSet(schedule=created)

    @strawberry.mutation(extensions=[typed_permission(IsAdmin)], description="Pause the review schedule.")
    async def pause_review_schedule(
        self, info: Info, id: ScheduleIdArgument, note: ScheduleNoteArgument = "paused"
    ) -> ScheduleResult:
        client = temporal(info)
        if await describe(client, id) is None:
            return NotFound(message=f"no schedule with id {id!r}", id=id)
        return ReviewScheduleSet(
            schedule=ReviewSchedule.of(await schedules.pause_review_schedule(client, id, note=note[:500]))
        )

    @strawberry.mutation(
        extensions=[typed_permission(IsAdmin)], description="Resume a paused review schedule."
    )
    async def unpause_review_schedule(
        self, info: Info, id: ScheduleIdArgument, note: ScheduleNoteArgument = "unpaused"
    ) -> ScheduleResult:
        client = temporal(info)
        if await describe(client, id) is None:
            return NotFound(message=f"no schedule with id {id!r}", id=id)
        return ReviewScheduleSet(
            schedule=ReviewSchedule.of(await schedules.unpause_review_schedule(client, id, note=note[:500]))
        )

    @strawberry.mutation(
        extensions=[typed_permission(IsAdmin)],
        description="Start a review now, outside the schedule's times (skipped while one is running).",
    )
    async def trigger_review_schedule(self, info: Info, id: ScheduleIdArgument) -> ScheduleResult:
        client = temporal(info)
        if await describe(client, id) is None:
            return NotFound(message=f"no schedule with id {id!r}", id=id)
        await schedules.trigger_review_schedule(client, id)
        triggered = await describe(client, id)
        if triggered is None:
            return NotFound(message=f"no schedule with id {id!r}", id=id)
        return ReviewScheduleSet(schedule=triggered)

    @strawberry.mutation(extensions=[typed_permission(IsAdmin)], description="Delete the review schedule.")
    async def delete_review_schedule(self, info: Info, id: ScheduleIdArgument) -> DeleteScheduleResult:
        client = temporal(info)
        if await describe(client, id) is None:
            return NotFound(message=f"no schedule with id {id!r}", id=id)
        await schedules.delete_review_schedule(client, id)
        return ReviewScheduleDeleted(id=id)

    @strawberry.mutation(
        extensions=[typed_permission(IsAdmin)],
        description="Erase a customer (GDPR): its node, requests, product usage and feedback, and every mention "
        "in stored results; records an erasure entry without personal data. Admin only; see `graph.erasure`.",
    )
    async def erase_customer(self, info: Info, id: CustomerIdArgument) -> EraseCustomerResult:
        try:
            return await erase_customer(info, str(id), requested_by=_requester(info))
        except ValidationError:
            return ValidationErrors(
                message="1 problem with the input",
                issues=[ValidationIssue(location="id", message=f"{str(id)!r} is not a valid id")],
            )
        except NothingToErase:
            return NotFound(
                message=f"nothing to erase: no customer or stored result holds {str(id)!r}", id=id
            )
