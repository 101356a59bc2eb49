"""The graph's vocabulary: the only labels and relationship types Cypher may name, and the schema on them.

Labels and relationship types are interpolated into Cypher text (Cypher cannot parameterise them),
so they come from these enums and nowhere else; user data always travels as parameters. The
statements that create the constraints and indexes live in `graph.portfolio_statements` with the rest of the
Cypher; `GraphStore.ensure_schema()` runs them, idempotently (`IF NOT EXISTS`).

To add a node type (e.g. a result label an engine writes): add it to `NodeLabel` and to
`RESULT_LABELS`; it then gets a uniqueness constraint on `id`, a count in `GraphStore.counts()` and
a place in `GraphStore.get_nodes()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class NodeLabel(StrEnum):
    PRODUCT = "Product"
    FEATURE = "Feature"
    CUSTOMER = "Customer"
    TEAM = "Team"
    OBJECTIVE = "Objective"
    RELEASE = "Release"
    FEEDBACK = "Feedback"
    # Results the durable workflows write back (graph.result_store).
    SCENARIO_ANALYSIS = "ScenarioAnalysis"
    RISK_ASSESSMENT = "RiskAssessment"
    ROADMAP_VERSION = "RoadmapVersion"
    ROADMAP_HEAD = "RoadmapHead"
    PORTFOLIO_REVIEW = "PortfolioReview"
    # Customer insight (graph.insight_store): a run's digest and the themes it found.
    INSIGHT_DIGEST = "InsightDigest"
    THEME = "Theme"


PORTFOLIO_REVISION_LABEL = "PortfolioRevision"
"""One node, `{id: "portfolio"}`, whose `token` every import that changes the portfolio sets to a fresh
random value in its own (last) transaction: readers that cache portfolio reads key them by it."""


class RelType(StrEnum):
    PART_OF = "PART_OF"
    DEPENDS_ON = "DEPENDS_ON"
    REQUESTS = "REQUESTS"
    OWNS = "OWNS"
    SUPPORTS = "SUPPORTS"
    PLANNED_FOR = "PLANNED_FOR"
    FROM = "FROM"
    ABOUT = "ABOUT"
    USES = "USES"
    OF = "OF"
    # Result relationships (graph.result_store): a result cites portfolio nodes; the roadmap head points at the
    # current roadmap version; a review follows the previous review and includes its risk assessment.
    CITES = "CITES"
    CURRENT = "CURRENT"
    FOLLOWS = "FOLLOWS"
    INCLUDES = "INCLUDES"
    # Customer insight (graph.insight_store): a digest found its themes, feedback is in a theme, an insight
    # run suggests feedback is about a feature, and a person confirmed or rejected such a link.
    FOUND = "FOUND"
    IN_THEME = "IN_THEME"
    SUGGESTS = "SUGGESTS"
    LINK_DECISION = "LINK_DECISION"


PORTFOLIO_LABELS: tuple[NodeLabel, ...] = (
    NodeLabel.PRODUCT,
    NodeLabel.FEATURE,
    NodeLabel.CUSTOMER,
    NodeLabel.TEAM,
    NodeLabel.OBJECTIVE,
    NodeLabel.RELEASE,
    NodeLabel.FEEDBACK,
)
"""The labels a `Portfolio` document imports."""

RESULT_LABELS: tuple[NodeLabel, ...] = (
    NodeLabel.SCENARIO_ANALYSIS,
    NodeLabel.RISK_ASSESSMENT,
    NodeLabel.ROADMAP_VERSION,
    NodeLabel.ROADMAP_HEAD,
    NodeLabel.PORTFOLIO_REVIEW,
    NodeLabel.INSIGHT_DIGEST,
    NodeLabel.THEME,
)
"""Labels of nodes the durable workflows write back; `graph.result_store` holds their Cypher."""

CONSTRAINED_LABELS: tuple[NodeLabel, ...] = PORTFOLIO_LABELS + RESULT_LABELS
"""Every label whose `id` is unique (and therefore indexed)."""


@dataclass(frozen=True)
class RelationshipSpec:
    """One relationship type between two labels.

    `owner` is the endpoint whose document field defines the relationship (Feature.depends_on
    defines DEPENDS_ON, Feature.team_id defines Team-[:OWNS]->Feature). Importing a document
    makes the relationships of every entity it contains, on the owning side, exactly those the
    document states.
    """

    type: RelType
    start: NodeLabel
    end: NodeLabel
    owner_is_start: bool = True

    @property
    def owner(self) -> NodeLabel:
        return self.start if self.owner_is_start else self.end


NODE_PROPERTIES: dict[NodeLabel, tuple[str, ...]] = {
    NodeLabel.PRODUCT: ("id", "name", "description"),
    NodeLabel.TEAM: ("id", "name", "headcount", "capacity", "throughput_history", "holidays"),
    NodeLabel.FEATURE: (
        "id",
        "name",
        "status",
        "effort_low",
        "effort_likely",
        "effort_high",
        "progress",
        "target_date",
        "priority",
        "reach",
        "impact",
        "confidence",
    ),
    NodeLabel.CUSTOMER: ("id", "name", "arr", "segment", "renewal_date", "health"),
    NodeLabel.OBJECTIVE: ("id", "name", "weight", "due_date"),
    NodeLabel.RELEASE: ("id", "name", "date"),
    NodeLabel.FEEDBACK: ("id", "text", "sentiment", "created_at", "source", "external_id"),
}
"""The model fields stored as node properties (the other fields are relationships); these names may
appear in Cypher text."""


RELATIONSHIPS: tuple[RelationshipSpec, ...] = (
    RelationshipSpec(RelType.PART_OF, NodeLabel.FEATURE, NodeLabel.PRODUCT),
    RelationshipSpec(RelType.DEPENDS_ON, NodeLabel.FEATURE, NodeLabel.FEATURE),
    RelationshipSpec(RelType.REQUESTS, NodeLabel.CUSTOMER, NodeLabel.FEATURE),
    RelationshipSpec(RelType.OWNS, NodeLabel.TEAM, NodeLabel.FEATURE, owner_is_start=False),
    RelationshipSpec(RelType.SUPPORTS, NodeLabel.FEATURE, NodeLabel.OBJECTIVE),
    RelationshipSpec(RelType.PLANNED_FOR, NodeLabel.FEATURE, NodeLabel.RELEASE),
    RelationshipSpec(RelType.FROM, NodeLabel.FEEDBACK, NodeLabel.CUSTOMER),
    RelationshipSpec(RelType.ABOUT, NodeLabel.FEEDBACK, NodeLabel.FEATURE),
    RelationshipSpec(RelType.USES, NodeLabel.CUSTOMER, NodeLabel.PRODUCT),
    RelationshipSpec(RelType.OF, NodeLabel.RELEASE, NodeLabel.PRODUCT),
)
RELATIONSHIP_BY_TYPE: dict[RelType, RelationshipSpec] = {spec.type: spec for spec in RELATIONSHIPS}


@dataclass(frozen=True)
class PropertyIndex:
    label: NodeLabel
    property_name: str

    @property
    def name(self) -> str:
        return f"{self.label.value.lower()}_{self.property_name}"


PROPERTY_INDEXES: tuple[PropertyIndex, ...] = (
    PropertyIndex(NodeLabel.FEATURE, "status"),
    PropertyIndex(NodeLabel.FEATURE, "target_date"),
    PropertyIndex(NodeLabel.CUSTOMER, "segment"),
    PropertyIndex(NodeLabel.CUSTOMER, "renewal_date"),
    PropertyIndex(NodeLabel.RELEASE, "date"),
    PropertyIndex(NodeLabel.FEEDBACK, "created_at"),
    PropertyIndex(NodeLabel.FEEDBACK, "external_id"),
)
"""Secondary indexes for the filters the read models and engines use."""


def constraint_name(label: NodeLabel) -> str:
    return f"{label.value.lower()}_id_unique"
