"""Portfolio reads shared by the requests of one API process, valid for one revision of the portfolio.

Every import that changes the portfolio gives it a fresh revision token (`graph.store.GraphStore`), in
its own last transaction. The cache holds the features, teams and demand figures read at one token:
each batch is read in the same transaction as the token (`EntityReads.lookup_at_revision`), so an entry
is exactly the state of its token. A request reads the current token once (one small statement) and
takes entries only when it matches; otherwise it reads the graph, and what it reads at a newer token
replaces the cache. So a request never sees data older than the token it started from, whichever API
process or cluster member serves it, and an import is visible to the next request.

Writes that bypass Lodestar's import do not change the token, and the cache would not see them: the
portfolio graph is written through `GraphStore.import_portfolio` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graph.entity_reads import Lookup

_STORED_AS: dict[Lookup, Lookup] = {Lookup.FEATURE_WITH_PREREQUISITES: Lookup.FEATURE}


class PortfolioCache:
    """Lookups by id at one revision token; at most `max_entries` (then it starts over)."""

    def __init__(self, *, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self.revision: str | None = None
        self._entries: dict[tuple[Lookup, str], Any] = {}

    def get(self, revision: str | None, lookup: Lookup, ids: Iterable[str]) -> dict[str, Any]:
        """The entries of `ids` known at `revision` (a known-missing id maps to None)."""
        if revision is None or revision != self.revision:
            return {}
        kind = _STORED_AS.get(lookup, lookup)
        return {node_id: self._entries[kind, node_id] for node_id in ids if (kind, node_id) in self._entries}

    def put(
        self, revision: str | None, lookup: Lookup, asked: Iterable[str], found: Mapping[str, Any]
    ) -> None:
        """Keep what one lookup read at `revision`: `found` by id, and None for the asked ids it lacked."""
        if revision is None:
            return
        if revision != self.revision:
            self.revision = revision
            self._entries.clear()
        kind = _STORED_AS.get(lookup, lookup)
        values = {node_id: None for node_id in asked} | dict(found)
        if len(self._entries) + len(values) > self.max_entries:
            self._entries.clear()
        for node_id, value in values.items():
            self._entries[kind, node_id] = value
