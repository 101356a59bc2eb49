"""The Cypher statements of a customer's erasure (`graph.erasure`).

Labels come from `graph.vocabulary` (and `ERASURE_LABEL` here); everything else is a `$parameter`.
`STATEMENTS` lists them; tests/graph/test_erasure.py runs each at least once.
"""

from __future__ import annotations

from graph.cypher import Query, Statements
from graph.visibility import REVISION_SCOPE, STAGED, visible_relationship
from graph.vocabulary import PORTFOLIO_REVISION_LABEL, NodeLabel, RelType

ERASURE_LABEL = "Erasure"
"""One node per erasure that removed something: who, when, what kinds of data and how many; no personal data."""

SCRUBBED_LABELS: tuple[NodeLabel, ...] = (
    NodeLabel.SCENARIO_ANALYSIS,
    NodeLabel.RISK_ASSESSMENT,
    NodeLabel.ROADMAP_VERSION,
    NodeLabel.PORTFOLIO_REVIEW,
    NodeLabel.INSIGHT_DIGEST,
    NodeLabel.THEME,
)
"""Nodes the workflows write whose properties or stored reports may mention a customer."""

STATEMENTS = Statements("erasure.")
_define = STATEMENTS.define

_CUSTOMER = NodeLabel.CUSTOMER.value
_FEEDBACK = NodeLabel.FEEDBACK.value

CUSTOMER_DATA = _define(
    "customer_data",
    f"{REVISION_SCOPE}MATCH (c:{_CUSTOMER} {{id: $id}}) "
    f"OPTIONAL MATCH (c)-[requests:{RelType.REQUESTS.value}]->() WHERE {visible_relationship('requests')} "
    "WITH current_revision, c, count(requests) AS requests "
    f"OPTIONAL MATCH (c)-[uses:{RelType.USES.value}]->() WHERE {visible_relationship('uses')} "
    "WITH current_revision, c, requests, count(uses) AS uses "
    f"OPTIONAL MATCH (f:{_FEEDBACK})-[author:{RelType.FROM.value}]->(c) WHERE {visible_relationship('author')} "
    "WITH current_revision, c, requests, uses, collect(f.id) AS feedback_ids "
    f"OPTIONAL MATCH (s:{_FEEDBACK})-[:{RelType.FROM.value}]->(c) WHERE s.{STAGED} > current_revision "
    "RETURN c.name AS name, requests, uses, feedback_ids, collect(s.id) AS staged_feedback_ids",
)
"""Counts and feedback ids as readers see them (`graph.visibility`); `staged_feedback_ids` are the customer's
feedback items that a pending staged import creates: erased too, but not counted, as no reader saw them."""
DELETE_FEEDBACK = _define(
    "delete_feedback",
    f"UNWIND $ids AS feedback_id MATCH (f:{_FEEDBACK} {{id: feedback_id}}) DETACH DELETE f "
    "RETURN count(*) AS deleted",
)
DELETE_CUSTOMER = _define(
    "delete_customer",
    f"MATCH (c:{_CUSTOMER} {{id: $id}}) DETACH DELETE c RETURN count(*) AS deleted",
)
READ_WRITTEN: dict[NodeLabel, Query] = {
    label: _define(f"read_written.{label.value}", f"MATCH (r:{label.value}) RETURN properties(r) AS props")
    for label in SCRUBBED_LABELS
}
UPDATE_WRITTEN: dict[NodeLabel, Query] = {
    label: _define(
        f"update_written.{label.value}",
        f"UNWIND $rows AS row MATCH (r:{label.value} {{id: row.id}}) SET r += row.props "
        "RETURN count(r) AS updated",
    )
    for label in SCRUBBED_LABELS
}
NEW_REVISION = _define(
    "new_revision",
    f"MERGE (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "
    "SET r.token = $token, r.changed_at = $changed_at, r.changes = $changes",
)
"""A fresh revision token (caches keyed by it read afresh); an import's pending markers stay as they are."""
RECORD_ERASURE = _define(
    "record", f"CREATE (e:{ERASURE_LABEL} {{id: $id}}) SET e += $props RETURN e.id AS id"
)
LIST_ERASURES = _define(
    "list",
    f"MATCH (e:{ERASURE_LABEL}) RETURN properties(e) AS props ORDER BY e.erased_at DESC, e.id DESC LIMIT $limit",
)
