"""The Cypher statements of customer insight (`graph.insight_store` describes the nodes and relationships).

Labels and relationship types come from `graph.vocabulary` only; everything else is a `$parameter`. Reads
over portfolio nodes keep only the committed revision's (`graph.visibility`); `feedback.existing` does not,
as a staged node still holds its id.
`STATEMENTS` lists them; tests/insight/test_insight_store.py runs each against the real database.
"""

from __future__ import annotations

from graph.cypher import Statements
from graph.visibility import REVISION_SCOPE, visible_node, visible_relationship
from graph.vocabulary import PORTFOLIO_REVISION_LABEL, NodeLabel, RelType

STATEMENTS = Statements("insight.")
_define = STATEMENTS.define

_DIGEST = NodeLabel.INSIGHT_DIGEST.value
_THEME = NodeLabel.THEME.value
_FEEDBACK = NodeLabel.FEEDBACK.value
_FEATURE = NodeLabel.FEATURE.value
_CUSTOMER = NodeLabel.CUSTOMER.value
_FOUND = RelType.FOUND.value
_IN_THEME = RelType.IN_THEME.value
_SUGGESTS = RelType.SUGGESTS.value
_DECISION = RelType.LINK_DECISION.value
_FROM = RelType.FROM.value
_ABOUT = RelType.ABOUT.value

# -- a run's themes and suggestions ------------------------------------------------------------------

WRITE_THEMES = _define(
    "themes.write",
    f"MATCH (d:{_DIGEST} {{id: $digest}}) UNWIND $themes AS theme "
    f"MERGE (t:{_THEME} {{id: theme.id}}) ON CREATE SET t += theme.props MERGE (d)-[:{_FOUND}]->(t)",
)
WRITE_MEMBERS = _define(
    "themes.write_members",
    f"UNWIND $rows AS row MATCH (t:{_THEME} {{id: row.theme_id}}) MATCH (f:{_FEEDBACK} {{id: row.feedback_id}}) "
    f"MERGE (f)-[m:{_IN_THEME}]->(t) ON CREATE SET m.sentiment = row.sentiment",
)
CLEAR_SUGGESTIONS = _define(
    "suggestions.clear",
    f"MATCH (:{_FEEDBACK})-[s:{_SUGGESTS}]->(:{_FEATURE}) WHERE s.digest_id <> $digest "
    "WITH s LIMIT $limit DELETE s RETURN count(*) AS deleted",
)
WRITE_SUGGESTIONS = _define(
    "suggestions.write",
    f"UNWIND $rows AS row MATCH (f:{_FEEDBACK} {{id: row.feedback_id}}) MATCH (x:{_FEATURE} {{id: row.feature_id}}) "
    f"WHERE NOT EXISTS {{ (f)-[:{_DECISION}]->(x) }} "
    f"MERGE (f)-[s:{_SUGGESTS}]->(x) SET s.score = row.score, s.digest_id = $digest",
)
REJECTED_LINKS = _define(
    "links.rejected",
    f"MATCH (f:{_FEEDBACK})-[d:{_DECISION}]->(x:{_FEATURE}) WHERE d.status = 'rejected' "
    "RETURN f.id AS feedback_id, x.id AS feature_id ORDER BY feedback_id, feature_id",
)

# -- reading themes ------------------------------------------------------------------------------------

LATEST_DIGEST = _define(
    "digest.latest",
    f"MATCH (d:{_DIGEST}) RETURN d.id AS id ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1",
)
PAGE_THEMES = _define(
    "themes.page",
    f"OPTIONAL MATCH (a:{_THEME} {{id: $after}}) WITH a "
    f"MATCH (:{_DIGEST} {{id: $digest}})-[:{_FOUND}]->(t:{_THEME}) WHERE t.merged_into IS NULL "
    "AND ($after IS NULL OR (a IS NOT NULL AND t.rank > a.rank)) "
    "RETURN properties(t) AS props ORDER BY t.rank LIMIT $limit",
)
COUNT_THEMES = _define(
    "themes.count",
    f"MATCH (:{_DIGEST} {{id: $digest}})-[:{_FOUND}]->(t:{_THEME}) WHERE t.merged_into IS NULL "
    "RETURN count(t) AS count",
)
GET_THEMES = _define(
    "themes.get",
    f"UNWIND $ids AS theme_id MATCH (t:{_THEME} {{id: theme_id}}) "
    f"OPTIONAL MATCH (d:{_DIGEST})-[:{_FOUND}]->(t) RETURN properties(t) AS props, d.id AS digest_id",
)
THEME_MEMBERS = _define(
    "themes.members",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[m:{_IN_THEME}]->(:{_THEME} {{id: $id}}) WHERE {visible_node('f')} "
    f"OPTIONAL MATCH (f)-[l:{_FROM}]->(c:{_CUSTOMER}) WHERE {visible_relationship('l')} "
    "RETURN f.id AS id, f.text AS text, f.created_at AS created_at, f.source AS source, "
    "f.sentiment AS imported_sentiment, m.sentiment AS sentiment, c.id AS customer_id, c.arr AS arr "
    "ORDER BY f.id SKIP $skip LIMIT $limit",
)
THEME_MEMBER_FIGURES = _define(
    "themes.member_figures",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[m:{_IN_THEME}]->(:{_THEME} {{id: $id}}) WHERE {visible_node('f')} "
    f"OPTIONAL MATCH (f)-[l:{_FROM}]->(c:{_CUSTOMER}) WHERE {visible_relationship('l')} "
    "RETURN f.id AS id, m.sentiment AS sentiment, c.id AS customer_id, c.arr AS arr",
)
# -- changing themes -----------------------------------------------------------------------------------

RENAME_THEME = _define(
    "themes.rename",
    f"MATCH (t:{_THEME} {{id: $id}}) SET t.label = $label, t.renamed_by = $by, t.renamed_at = $at "
    "RETURN t.id AS id",
)
COPY_MEMBERS = _define(
    "themes.copy_members",
    f"MATCH (f:{_FEEDBACK})-[m:{_IN_THEME}]->(:{_THEME} {{id: $source}}) MATCH (t:{_THEME} {{id: $target}}) "
    f"MERGE (f)-[n:{_IN_THEME}]->(t) ON CREATE SET n.sentiment = m.sentiment RETURN count(n) AS copied",
)
DROP_MEMBERS = _define(
    "themes.drop_members",
    f"MATCH (:{_FEEDBACK})-[m:{_IN_THEME}]->(:{_THEME} {{id: $source}}) DELETE m RETURN count(*) AS dropped",
)
MARK_MERGED = _define(
    "themes.mark_merged",
    f"MATCH (s:{_THEME} {{id: $source}}) SET s.merged_into = $target, s.merged_by = $by, s.merged_at = $at "
    "RETURN s.id AS id",
)
SET_THEME_FIGURES = _define(
    "themes.set_figures",
    f"MATCH (t:{_THEME} {{id: $id}}) SET t += $props RETURN t.id AS id",
)

# -- links -----------------------------------------------------------------------------------------------

PAGE_SUGGESTIONS = _define(
    "suggestions.page",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[s:{_SUGGESTS}]->(x:{_FEATURE}) "
    f"WHERE {visible_node('f')} AND {visible_node('x')} AND ($feature IS NULL OR x.id = $feature) AND ($feedback IS NULL OR f.id = $feedback) "
    "RETURN f.id AS feedback_id, x.id AS feature_id, s.score AS score, null AS status, "
    "null AS decided_by, null AS decided_at ORDER BY s.score DESC, feedback_id, feature_id SKIP $skip LIMIT $limit",
)
COUNT_SUGGESTIONS = _define(
    "suggestions.count",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[s:{_SUGGESTS}]->(x:{_FEATURE}) "
    f"WHERE {visible_node('f')} AND {visible_node('x')} AND ($feature IS NULL OR x.id = $feature) AND ($feedback IS NULL OR f.id = $feedback) "
    "RETURN count(s) AS count",
)
PAGE_DECISIONS = _define(
    "links.page",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[d:{_DECISION}]->(x:{_FEATURE}) WHERE d.status = $status "
    f"AND {visible_node('f')} AND {visible_node('x')} "
    "AND ($feature IS NULL OR x.id = $feature) AND ($feedback IS NULL OR f.id = $feedback) "
    "RETURN f.id AS feedback_id, x.id AS feature_id, d.score AS score, d.status AS status, "
    "d.decided_by AS decided_by, d.decided_at AS decided_at "
    "ORDER BY d.decided_at DESC, feedback_id, feature_id SKIP $skip LIMIT $limit",
)
COUNT_DECISIONS = _define(
    "links.count",
    f"{REVISION_SCOPE}MATCH (f:{_FEEDBACK})-[d:{_DECISION}]->(x:{_FEATURE}) WHERE d.status = $status "
    f"AND {visible_node('f')} AND {visible_node('x')} "
    "AND ($feature IS NULL OR x.id = $feature) AND ($feedback IS NULL OR f.id = $feedback) "
    "RETURN count(d) AS count",
)
LINK_ENDS = _define(
    "links.ends",
    f"{REVISION_SCOPE}RETURN COUNT {{ (f:{_FEEDBACK} {{id: $feedback}}) WHERE {visible_node('f')} }} AS feedback, "
    f"COUNT {{ (x:{_FEATURE} {{id: $feature}}) WHERE {visible_node('x')} }} AS feature",
)
LINK_SCORES = _define(
    "links.scores",
    f"MATCH (:{_FEEDBACK} {{id: $feedback}})-[r]->(:{_FEATURE} {{id: $feature}}) "
    f"WHERE type(r) IN ['{_SUGGESTS}', '{_DECISION}'] RETURN type(r) AS type, r.score AS score",
)
DROP_SUGGESTION = _define(
    "suggestions.drop",
    f"MATCH (:{_FEEDBACK} {{id: $feedback}})-[s:{_SUGGESTS}]->(:{_FEATURE} {{id: $feature}}) DELETE s "
    "RETURN count(*) AS dropped",
)
DECIDE_LINK = _define(
    "links.decide",
    f"MATCH (f:{_FEEDBACK} {{id: $feedback}}) MATCH (x:{_FEATURE} {{id: $feature}}) "
    f"MERGE (f)-[d:{_DECISION}]->(x) SET d.status = $status, d.decided_by = $by, d.decided_at = $at, "
    "d.score = $score RETURN d.status AS status",
)
MARK_PORTFOLIO_CHANGED = _define(
    "revision.mark",
    f"MATCH (r:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) WHERE r.settling IS NULL "
    "SET r.token = $token RETURN r.token AS token",
)
"""A confirmed link or an appended feedback item changes the portfolio snapshot: readers that cache by the
revision token (`api.portfolio_cache`) must see a new one. Not while a committed staged import settles: its
markers name the current token (`graph.staging_statements`), so the token stays until they are gone."""

# -- appending feedback --------------------------------------------------------------------------------------

EXISTING_FEEDBACK = _define(
    "feedback.existing",
    f"UNWIND $ids AS feedback_id MATCH (f:{_FEEDBACK} {{id: feedback_id}}) RETURN f.id AS id",
)
KNOWN_CUSTOMERS = _define(
    "feedback.known_customers",
    f"{REVISION_SCOPE}UNWIND $ids AS customer_id MATCH (c:{_CUSTOMER} {{id: customer_id}}) "
    f"WHERE {visible_node('c')} RETURN c.id AS id",
)
KNOWN_FEATURES = _define(
    "feedback.known_features",
    f"{REVISION_SCOPE}UNWIND $ids AS feature_id MATCH (x:{_FEATURE} {{id: feature_id}}) "
    f"WHERE {visible_node('x')} RETURN x.id AS id",
)
CREATE_FEEDBACK = _define(
    "feedback.create",
    f"UNWIND $rows AS row MATCH (c:{_CUSTOMER} {{id: row.customer_id}}) "
    f"CREATE (f:{_FEEDBACK}) SET f = row.props CREATE (f)-[:{_FROM}]->(c)",
)
LINK_FEEDBACK_FEATURES = _define(
    "feedback.about",
    f"UNWIND $rows AS row MATCH (f:{_FEEDBACK} {{id: row.feedback_id}}) MATCH (x:{_FEATURE} {{id: row.feature_id}}) "
    f"CREATE (f)-[:{_ABOUT}]->(x)",
)
