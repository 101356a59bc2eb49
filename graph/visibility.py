"""What readers of the portfolio see: the committed revision, never an import's staged writes.

`graph.staging_statements` says how a staged import marks what it writes. Every read statement over
portfolio nodes and relationships starts with `REVISION_SCOPE` (the token is looked up in the same
statement, so callers pass no parameter) and keeps the nodes it finds by label or id with
`visible_node` and the relationships it follows with `visible_relationship`.
"""

from __future__ import annotations

from graph.vocabulary import PORTFOLIO_REVISION_LABEL

STAGED = "staged_in"
"""Property of a node or relationship written by a staged import: its sequence number."""
RETIRED = "retired_in"
"""Property of a relationship that the staged import of that sequence number removes."""
COMMITTED = "committed"
"""Property of the revision node: the sequence number of the last staged import that committed (0 before one)."""

REVISION_SCOPE = (
    f"OPTIONAL MATCH (current:{PORTFOLIO_REVISION_LABEL} {{id: 'portfolio'}}) "
    f"WITH coalesce(current.{COMMITTED}, 0) AS current_revision "
)
"""The head of every read statement: binds `current_revision`, the last committed staged import's number."""


def visible_node(variable: str) -> str:
    """True for a node of the committed portfolio (needs `current_revision` in scope)."""
    return f"({variable}.{STAGED} IS NULL OR {variable}.{STAGED} <= current_revision)"


def visible_relationship(variable: str) -> str:
    """True for a relationship of the committed portfolio (needs `current_revision` in scope).

    The nodes at both ends of a visible relationship are visible: a staged relationship only joins
    nodes that exist before its import or are staged by the same import."""
    return (
        f"({variable}.{STAGED} IS NULL OR {variable}.{STAGED} <= current_revision) "
        f"AND ({variable}.{RETIRED} IS NULL OR {variable}.{RETIRED} > current_revision)"
    )
