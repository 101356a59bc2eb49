"""The Cypher statements over result nodes (`graph.result_store` describes the nodes and their links).

Labels and relationship types come from `graph.vocabulary` only; everything else is a `$parameter`.
`STATEMENTS` lists them; tests/workflows/test_result_store.py runs each at least once.
"""

from __future__ import annotations

from graph.cypher import Query, Statements
from graph.vocabulary import PORTFOLIO_LABELS, NodeLabel, RelType

RESULT_KINDS: tuple[NodeLabel, ...] = (
    NodeLabel.SCENARIO_ANALYSIS,
    NodeLabel.RISK_ASSESSMENT,
    NodeLabel.ROADMAP_VERSION,
    NodeLabel.PORTFOLIO_REVIEW,
    NodeLabel.INSIGHT_DIGEST,
)
"""Labels of result nodes, each keyed by workflow id (RoadmapHead is bookkeeping, not a result)."""

STATEMENTS = Statements()
_define = STATEMENTS.define


_HEAD = NodeLabel.ROADMAP_HEAD.value
_VERSION = NodeLabel.ROADMAP_VERSION.value
_REVIEW = NodeLabel.PORTFOLIO_REVIEW.value
_RISK = NodeLabel.RISK_ASSESSMENT.value
_CITES = RelType.CITES.value
_CURRENT = RelType.CURRENT.value
_FOLLOWS = RelType.FOLLOWS.value
_INCLUDES = RelType.INCLUDES.value

MERGE_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.merge.{label.value}",
        f"MERGE (r:{label.value} {{id: $id}}) ON CREATE SET r += $props RETURN r.run_id AS run_id",
    )
    for label in RESULT_KINDS
}
CITE: dict[tuple[NodeLabel, NodeLabel], Query] = {
    (label, target): _define(
        f"results.cite.{label.value}.{target.value}",
        f"MATCH (r:{label.value} {{id: $id}}) UNWIND $ids AS cited_id "
        f"MATCH (n:{target.value} {{id: cited_id}}) MERGE (r)-[:{_CITES}]->(n)",
    )
    for label in RESULT_KINDS
    for target in PORTFOLIO_LABELS
}
GET_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.get.{label.value}",
        f"MATCH (r:{label.value} {{id: $id}}) OPTIONAL MATCH (r)-[:{_CITES}]->(n) "
        "RETURN properties(r) AS props, collect(n.id) AS cited",
    )
    for label in RESULT_KINDS
}
PAGE_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.page.{label.value}",
        f"OPTIONAL MATCH (a:{label.value} {{id: $after}}) WITH a "
        f"MATCH (r:{label.value}) WHERE ($status IS NULL OR r.status = $status) "
        "AND ($after IS NULL OR (a IS NOT NULL AND (r.recorded_at < a.recorded_at "
        "OR (r.recorded_at = a.recorded_at AND r.id < a.id)))) "
        "RETURN r {.*, report_z: null} AS props ORDER BY r.recorded_at DESC, r.id DESC LIMIT $limit",
    )
    for label in RESULT_KINDS
}
COUNT_ALL_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.count_all.{label.value}",
        f"MATCH (r:{label.value}) WHERE $status IS NULL OR r.status = $status RETURN count(r) AS count",
    )
    for label in RESULT_KINDS
}
COUNT_RESULT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.count.{label.value}", f"MATCH (r:{label.value} {{id: $id}}) RETURN count(r) AS count"
    )
    for label in RESULT_KINDS
}
DELETE_RESULTS: dict[NodeLabel, Query] = {
    label: _define(
        f"results.delete_all.{label.value}",
        f"MATCH (r:{label.value}) DETACH DELETE r RETURN count(*) AS deleted",
    )
    for label in (*RESULT_KINDS, NodeLabel.ROADMAP_HEAD, NodeLabel.THEME)
}

LOCK_ROADMAP_HEAD = _define(
    "results.roadmap.lock_head",
    f"MERGE (h:{_HEAD} {{id: $head}}) SET h.touched_by = $id, h.touched_at = $at RETURN h.id AS id",
)
LATEST_ROADMAP_VERSION = _define(
    "results.roadmap.latest_version",
    f"MATCH (v:{_VERSION}) RETURN coalesce(max(v.version), 0) AS latest",
)
ROADMAP_STATE = _define(
    "results.roadmap.state",
    f"MATCH (v:{_VERSION} {{id: $id}}) RETURN v.status AS status, v.version AS version",
)
SET_DRAFT_VERSION = _define(
    "results.roadmap.set_draft_version",
    f"MATCH (v:{_VERSION} {{id: $id}}) WHERE v.version IS NULL "
    "SET v.version = $version, v.status = $status, v.current = false RETURN v.id AS id",
)
RETIRE_CURRENT_ROADMAP = _define(
    "results.roadmap.retire_current",
    f"MATCH (h:{_HEAD} {{id: $head}})-[c:{_CURRENT}]->(old:{_VERSION}) "
    "SET old.current = false, old.superseded_by = $id, old.superseded_at = $at DELETE c RETURN old.id AS id",
)
PUBLISH_ROADMAP = _define(
    "results.roadmap.publish",
    f"MATCH (h:{_HEAD} {{id: $head}}) MATCH (v:{_VERSION} {{id: $id}}) "
    "SET v.status = $status, v.current = true, v.reviewer = $reviewer, v.review_comment = $comment, "
    f"v.decided_at = $at CREATE (h)-[:{_CURRENT}]->(v) RETURN v.id AS id",
)
CLOSE_ROADMAP = _define(
    "results.roadmap.close",
    f"MATCH (v:{_VERSION} {{id: $id}}) SET v.status = $status, v.reviewer = $reviewer, "
    "v.review_comment = $comment, v.decided_at = $at RETURN v.id AS id",
)
CURRENT_ROADMAP = _define(
    "results.roadmap.current",
    f"MATCH (:{_HEAD} {{id: $head}})-[:{_CURRENT}]->(v:{_VERSION}) RETURN v.id AS id",
)
COUNT_CURRENT_ROADMAPS = _define(
    "results.roadmap.count_current",
    f"MATCH (v:{_VERSION}) WHERE v.current = true WITH count(v) AS flagged "
    f"OPTIONAL MATCH (:{_HEAD})-[c:{_CURRENT}]->() RETURN flagged, count(c) AS pointers",
)
PREVIOUS_REVIEW = _define(
    "results.review.previous",
    f"MATCH (r:{_REVIEW}) WHERE r.id <> $id AND r.recorded_at <= $at "
    "RETURN r.id AS id ORDER BY r.recorded_at DESC, r.id DESC LIMIT 1",
)
LINK_PREVIOUS_REVIEW = _define(
    "results.review.link_previous",
    f"MATCH (r:{_REVIEW} {{id: $id}}) MATCH (p:{_REVIEW} {{id: $previous}}) MERGE (r)-[:{_FOLLOWS}]->(p)",
)
LINK_REVIEW_RISK = _define(
    "results.review.link_risk",
    f"MATCH (r:{_REVIEW} {{id: $id}}) MATCH (a:{_RISK} {{id: $risk}}) MERGE (r)-[:{_INCLUDES}]->(a)",
)
REVIEW_LINKS = _define(
    "results.review.links",
    f"MATCH (r:{_REVIEW} {{id: $id}}) OPTIONAL MATCH (r)-[:{_FOLLOWS}]->(p:{_REVIEW}) "
    f"OPTIONAL MATCH (r)-[:{_INCLUDES}]->(a:{_RISK}) RETURN collect(p.id) AS previous, collect(a.id) AS risk",
)


# -- result summaries: a result node without its large properties ----------------------------------
# ResultStore.get_result reads a result with its compressed report and every CITES target; the API keeps parsed
# reports, so on most reads it needs the node's properties only.

_SUMMARY_PROPERTIES = ".*, report_z: null, cited_ids: null, fig_commitment_ids: null, fig_exploration_ids: null, fig_risk_keys: null"
"""A result node's properties without the large ones, which never change once written: the compressed
report and the cited ids (thousands for a roadmap) come with `RESULT_REPORT`; the id lists among the
figures are in the report too. The nulls are dropped in `graph.entity_reads.EntityReads.result_properties`."""

RESULT_SUMMARY: dict[NodeLabel, Query] = {
    label: _define(
        f"results.summary.{label.value}",
        f"MATCH (r:{label.value} {{id: $id}}) RETURN r {{{_SUMMARY_PROPERTIES}}} AS props",
    )
    for label in RESULT_KINDS
}
RESULT_REPORT: dict[NodeLabel, Query] = {
    label: _define(
        f"results.report.{label.value}",
        f"MATCH (r:{label.value} {{id: $id}}) RETURN r.report_z AS report_z, r.cited_ids AS cited_ids",
    )
    for label in RESULT_KINDS
}
CURRENT_ROADMAP_SUMMARY = _define(
    "results.summary.current_roadmap",
    f"MATCH (:{NodeLabel.ROADMAP_HEAD.value} {{id: $head}})-[:{RelType.CURRENT.value}]->"
    f"(r:{NodeLabel.ROADMAP_VERSION.value}) RETURN r {{{_SUMMARY_PROPERTIES}}} AS props",
)
