"""Erasing a customer (GDPR art. 17): its node, requests, product usage and feedback go; what the workflows
wrote about it is rewritten without it; an erasure entry records that it happened.

One managed write transaction does it all, so an erasure is whole or absent, and it is idempotent: erasing
a customer that is gone finds nothing, changes nothing and records nothing.

- **Portfolio:** the `Customer` node with its `REQUESTS` and `USES` relationships, and every `Feedback`
  node `FROM` it (with its `ABOUT` link). The portfolio model has no contacts; a customer's people appear
  only inside feedback text, which goes with the feedback. While a staged import is pending, the figures
  and feedback ids are those readers see (`graph.visibility`); the customer's feedback that the pending
  import creates is deleted too, uncounted, and a committed item it would move to the customer stays.
- **Written results** (analyses, roadmap versions, reviews, insight digests and themes): each stored
  report and each property is rewritten without the customer: list entries about it (an object whose
  `customer_id` or `feedback_id` is one of the erased ids, or an id in a list of ids) are removed, and
  the ids and the customer's name in any text become `[erased customer]` / `[erased feedback]`. Aggregate
  figures (total ARR at risk, plan value) are left as computed: they no longer identify the customer and
  recomputing them would rewrite history; such a result gets `redacted_at`. `CITES`
  links to the customer go with its node.
- **The entry:** an `Erasure` node with who asked, when, which kinds of data and how many of each, but
  not the customer's id or name. With `LODESTAR_ERASURE_SALT` set, it also keeps `subject_hash`, an
  HMAC-SHA256 of the id under that salt, so a later request about the same id can be answered ("erased on
  ...") by whoever holds the salt; without it the entry holds nothing linked to the person.
- The portfolio revision token is replaced, so every cache keyed by it (the API's) reads afresh, and the
  next analysis reads a new snapshot (its content hash changes).

Temporal histories hold ids and figures only, no names or texts (`agents.privacy`), so erasure needs no
history rewrite; they age out with the namespace's retention.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from neo4j import AsyncManagedTransaction
from pydantic import BaseModel, Field

from graph import erasure_statements as statements
from graph.cypher import CypherRunner, QueryObserver, native
from graph.portfolio import EntityId
from graph.result_store import compress_report, decompress_report
from graph.store import EntityChanges, GraphStore, PortfolioChangeCounts
from graph.vocabulary import NodeLabel, RelType

ERASED_CUSTOMER = "[erased customer]"
ERASED_FEEDBACK = "[erased feedback]"
ERASED_ID = "erased"
"""Stands in a list of ids that held only erased ids (a finding's evidence must not be empty)."""
SALT_VARIABLE = "LODESTAR_ERASURE_SALT"
_ID_CHARS = r"[\w:\-]"
_SUBJECT_KEYS = ("customer_id", "feedback_id")
_KEPT_PROPERTIES = frozenset({"id", "run_id", "workflow_type", "snapshot_id", "report_z"})


class ErasureRequest(BaseModel):
    customer_id: EntityId
    requested_by: str = Field(
        min_length=1, max_length=200, description="Who asked: an API key's name, a CLI user."
    )


class ErasureReport(BaseModel):
    """What an erasure removed and rewrote: counts only."""

    erasure_id: str | None = Field(
        description="The erasure entry's id; None when nothing was found to erase."
    )
    erased_at: datetime
    customer_found: bool
    customers: int
    requests: int
    product_usages: int
    feedback: int
    results_redacted: int
    kinds: list[str] = Field(description="Kinds of data erased or rewritten, e.g. customer, feedback.")


class ErasureEntry(BaseModel):
    """An erasure as its entry records it."""

    id: str
    erased_at: datetime
    erased_by: str
    kinds: list[str]
    customers: int
    requests: int
    product_usages: int
    feedback: int
    results_redacted: int
    subject_hash: str | None = None


def subject_hash(customer_id: str, environ: Mapping[str, str] | None = None) -> str | None:
    """HMAC-SHA256 of the id under `LODESTAR_ERASURE_SALT`; None when no salt is configured."""
    salt = (environ if environ is not None else os.environ).get(SALT_VARIABLE, "")
    if not salt:
        return None
    return hmac.new(salt.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class _Subject:
    """What to take out of written results: exact ids and the texts that stand for them."""

    removed_ids: frozenset[str]
    replacements: tuple[tuple[re.Pattern[str], str], ...]

    @classmethod
    def of(cls, customer_id: str, name: str | None, feedback_ids: list[str]) -> _Subject:
        def id_pattern(value: str) -> re.Pattern[str]:
            return re.compile(rf"(?<![\w.:\-]){re.escape(value)}(?!{_ID_CHARS}|\.\w)")

        replacements = [(id_pattern(customer_id), ERASED_CUSTOMER)]
        replacements += [(id_pattern(item), ERASED_FEEDBACK) for item in feedback_ids]
        if name and name.strip():
            replacements.append(
                (re.compile(rf"(?<!\w){re.escape(name.strip())}(?!\w)", re.I), ERASED_CUSTOMER)
            )
        return cls(frozenset({customer_id, *feedback_ids}), tuple(replacements))

    def text(self, value: str) -> str:
        for pattern, replacement in self.replacements:
            value = pattern.sub(replacement, value)
        return value

    def is_about(self, item: dict[str, Any]) -> bool:
        return any(
            isinstance(value, str) and value in self.removed_ids
            for key, value in item.items()
            if key.endswith(_SUBJECT_KEYS)
        )

    def json_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            items: dict[str, Any] = {str(key): child for key, child in value.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
            return {
                key: self.json_value(child) for key, child in items.items() if key not in self.removed_ids
            }
        if isinstance(value, list):
            kept: list[Any] = []
            for item in value:  # pyright: ignore[reportUnknownVariableType]
                if isinstance(item, str) and item in self.removed_ids:
                    continue
                if isinstance(item, dict) and self.is_about(item):  # pyright: ignore[reportUnknownArgumentType]
                    continue
                kept.append(self.json_value(item))
            if value and not kept and all(isinstance(item, str) for item in value):  # pyright: ignore[reportUnknownVariableType]
                return [ERASED_ID]
            return kept
        return value


def _scrub_properties(props: Mapping[str, Any], subject: _Subject) -> dict[str, Any]:
    """The properties of a written node that change without the subject (empty when none does)."""
    changed: dict[str, Any] = {}
    for key, value in props.items():
        if key in _KEPT_PROPERTIES:
            continue
        if isinstance(value, str):
            new = subject.text(value)
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):  # pyright: ignore[reportUnknownVariableType]
            new = subject.json_value(value)
        else:
            continue
        if new != value:
            changed[key] = new
    report_z = props.get("report_z")
    if isinstance(report_z, str):
        report = json.loads(decompress_report(report_z))
        scrubbed = subject.json_value(report)
        if scrubbed != report:
            rewritten = json.dumps(scrubbed, separators=(",", ":"))
            changed["report_z"] = compress_report(rewritten)
            changed["report_chars"] = len(rewritten)
    return changed


class CustomerEraser:
    """Erases customers from the graph of a `GraphStore` (see the module's docstring)."""

    def __init__(self, store: GraphStore, *, query_observer: QueryObserver | None = None) -> None:
        self._cypher = CypherRunner(store.driver, store.database, observer=query_observer)

    async def erase(self, request: ErasureRequest, *, now: datetime | None = None) -> ErasureReport:
        erased_at = now or datetime.now(UTC)

        async def work(tx: AsyncManagedTransaction) -> ErasureReport:
            return await self._erase_in(tx, request, erased_at)

        return await self._cypher.write(work)

    async def _erase_in(
        self, tx: AsyncManagedTransaction, request: ErasureRequest, erased_at: datetime
    ) -> ErasureReport:
        customer_id = request.customer_id
        found = await self._cypher.records(tx, statements.CUSTOMER_DATA, id=customer_id)
        name: str | None = found[0]["name"] if found else None
        requests = int(found[0]["requests"]) if found else 0
        usages = int(found[0]["uses"]) if found else 0
        feedback_ids = sorted(str(item) for item in found[0]["feedback_ids"]) if found else []
        staged_feedback_ids = [str(item) for item in found[0]["staged_feedback_ids"]] if found else []
        feedback = 0
        if feedback_ids:
            deleted = await self._cypher.records(tx, statements.DELETE_FEEDBACK, ids=feedback_ids)
            feedback = int(deleted[0]["deleted"])
        if staged_feedback_ids:
            await self._cypher.records(tx, statements.DELETE_FEEDBACK, ids=staged_feedback_ids)
        customers = 0
        if found:
            customers = int(
                (await self._cypher.records(tx, statements.DELETE_CUSTOMER, id=customer_id))[0]["deleted"]
            )
        subject = _Subject.of(customer_id, name, feedback_ids)
        redacted = 0
        for label, read in statements.READ_WRITTEN.items():
            rows: list[dict[str, Any]] = []
            for record in await self._cypher.records(tx, read):
                props = {key: native(value) for key, value in dict(record["props"]).items()}
                changed = _scrub_properties(props, subject)
                if changed:
                    changed["redacted_at"] = erased_at
                    rows.append({"id": props["id"], "props": changed})
            if rows:
                await self._cypher.records(tx, statements.UPDATE_WRITTEN[label], rows=rows)
                redacted += len(rows)
        kinds = [
            kind
            for kind, count in (
                ("customer", customers),
                ("requests", requests),
                ("product_usage", usages),
                ("feedback", feedback),
                ("written_results", redacted),
            )
            if count
        ]
        if not kinds:
            return ErasureReport(
                erasure_id=None,
                erased_at=erased_at,
                customer_found=False,
                customers=0,
                requests=0,
                product_usages=0,
                feedback=0,
                results_redacted=0,
                kinds=[],
            )
        entry = ErasureEntry(
            id=f"erasure-{uuid.uuid4().hex}",
            erased_at=erased_at,
            erased_by=request.requested_by,
            kinds=kinds,
            customers=customers,
            requests=requests,
            product_usages=usages,
            feedback=feedback,
            results_redacted=redacted,
            subject_hash=subject_hash(customer_id),
        )
        props = entry.model_dump(exclude={"id"}, exclude_none=True)
        await self._cypher.records(tx, statements.RECORD_ERASURE, id=entry.id, props=props)
        if customers or feedback:
            changes = PortfolioChangeCounts(
                nodes={
                    NodeLabel.CUSTOMER.value: EntityChanges(deleted=customers),
                    NodeLabel.FEEDBACK.value: EntityChanges(deleted=feedback),
                },
                relationships={
                    RelType.REQUESTS.value: EntityChanges(deleted=requests),
                    RelType.USES.value: EntityChanges(deleted=usages),
                },
            )
            await self._cypher.records(
                tx,
                statements.NEW_REVISION,
                token=uuid.uuid4().hex,
                changed_at=erased_at.astimezone(UTC).isoformat(timespec="seconds"),
                changes=changes.model_dump_json(),
            )
        return ErasureReport(
            erasure_id=entry.id,
            erased_at=erased_at,
            customer_found=bool(customers),
            customers=customers,
            requests=requests,
            product_usages=usages,
            feedback=feedback,
            results_redacted=redacted,
            kinds=kinds,
        )

    async def entries(self, *, limit: int = 50) -> list[ErasureEntry]:
        """The erasure entries, newest first."""

        async def work(tx: AsyncManagedTransaction) -> list[ErasureEntry]:
            records = await self._cypher.records(tx, statements.LIST_ERASURES, limit=limit)
            return [
                ErasureEntry.model_validate(
                    {key: native(value) for key, value in dict(record["props"]).items()}
                )
                for record in records
            ]

        return await self._cypher.read(work)
