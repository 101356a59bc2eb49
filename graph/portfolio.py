"""The portfolio's entities: one pydantic model per node type, plus the edges that carry data.

A `Portfolio` is both the import document and the whole-portfolio snapshot the analytic
engines read. Field-level rules (ranges, id syntax) live here; rules that span entities
(unknown references, duplicate ids, dependency cycles) live in `graph.validation`.

Units: effort in person-weeks; team capacity and throughput in person-weeks per week;
ARR in the portfolio's currency per year.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

EntityId = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"),
]
"""A stable, human-readable id such as `feat-0042`. Graph keys use it, never `elementId()`."""

NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Entity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class FeatureStatus(StrEnum):
    PROPOSED = "proposed"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Segment(StrEnum):
    ENTERPRISE = "enterprise"
    MID_MARKET = "mid_market"
    SMB = "smb"


class Product(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    description: str = ""


class Team(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    headcount: int = Field(ge=0, description="People on the team; 1 means a single point of failure.")
    capacity: NonNegative = Field(description="Planned person-weeks of delivery per week.")
    throughput_history: list[NonNegative] = Field(
        default_factory=list[float],
        description="Person-weeks of effort actually delivered in each recent week, oldest first.",
    )
    holidays: list[date] = Field(
        default_factory=list[date],
        description="Days the team does not work (besides weekends); used by the working-day calendar.",
    )

    @field_validator("holidays")
    @classmethod
    def _holidays_sorted(cls, holidays: list[date]) -> list[date]:
        return sorted(set(holidays))


class Feature(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    product_id: EntityId
    team_id: EntityId | None = Field(default=None, description="Owning team; None means unowned.")
    status: FeatureStatus = FeatureStatus.PROPOSED
    effort_low: NonNegative
    effort_likely: NonNegative
    effort_high: NonNegative
    progress: Fraction = Field(default=0.0, description="Share of the effort already delivered.")
    target_date: date | None = None
    priority: int | None = Field(default=None, ge=0, description="Delivery order; lower goes first.")
    reach: NonNegative = Field(default=0.0, description="RICE reach: users affected per quarter.")
    impact: Annotated[float, Field(ge=0, le=3)] = Field(default=1.0, description="RICE impact, 0.25-3.")
    confidence: Fraction = Field(default=0.5, description="RICE confidence in the estimates.")
    depends_on: list[EntityId] = Field(default_factory=list[str])
    objective_ids: list[EntityId] = Field(default_factory=list[str])
    release_id: EntityId | None = None

    @model_validator(mode="after")
    def _effort_ordered(self) -> Self:
        if not (self.effort_low <= self.effort_likely <= self.effort_high):
            raise ValueError(
                f"effort must satisfy low <= likely <= high, got "
                f"{self.effort_low} / {self.effort_likely} / {self.effort_high}"
            )
        return self

    @property
    def remaining_likely(self) -> float:
        return self.effort_likely * (1.0 - self.progress)


class Customer(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    arr: NonNegative
    segment: Segment
    renewal_date: date | None = None
    health: Fraction = Field(default=0.7, description="Account health, 0 (churning) to 1 (thriving).")
    product_ids: list[EntityId] = Field(default_factory=list[str])


class Objective(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    weight: Annotated[float, Field(gt=0)] = 1.0
    due_date: date | None = None


class Release(_Entity):
    id: EntityId
    name: str = Field(min_length=1)
    product_id: EntityId | None = None
    date: date


class Request(_Entity):
    """Customer-[:REQUESTS {weight, requested_at}]->Feature."""

    customer_id: EntityId
    feature_id: EntityId
    weight: Annotated[float, Field(gt=0, le=10)] = 1.0
    requested_at: date | None = None


class Feedback(_Entity):
    """Feedback-[:FROM]->Customer and Feedback-[:ABOUT]->Feature. The text is data, never instructions."""

    id: EntityId
    customer_id: EntityId
    feature_id: EntityId | None = None
    text: str
    sentiment: Annotated[float, Field(ge=-1, le=1)] = 0.0
    created_at: date | None = None
    source: str | None = Field(
        default=None,
        max_length=100,
        description="Where it came from: `support`, `survey`, `sales`, a tool's name.",
    )
    external_id: str | None = Field(
        default=None, max_length=200, description="Its id in the source system; appends are idempotent on it."
    )
    confirmed_feature_ids: list[EntityId] = Field(
        default_factory=list[str],
        description="Features a person confirmed this feedback is about (graph.insight_store's confirmed links). "
        "Read from the graph into the snapshot; an import document never states them.",
    )


class Portfolio(BaseModel):
    """A whole portfolio: the import document and the snapshot the engines read."""

    model_config = ConfigDict(extra="forbid")

    products: list[Product] = Field(default_factory=list[Product])
    teams: list[Team] = Field(default_factory=list[Team])
    features: list[Feature] = Field(default_factory=list[Feature])
    customers: list[Customer] = Field(default_factory=list[Customer])
    objectives: list[Objective] = Field(default_factory=list[Objective])
    releases: list[Release] = Field(default_factory=list[Release])
    requests: list[Request] = Field(default_factory=list[Request])
    feedback: list[Feedback] = Field(default_factory=list[Feedback])

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ENTITY_COLLECTIONS}


ENTITY_COLLECTIONS: tuple[str, ...] = (
    "products",
    "teams",
    "features",
    "customers",
    "objectives",
    "releases",
    "requests",
    "feedback",
)
