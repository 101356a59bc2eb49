"""Lodestar's custom search attributes, so that Temporal's own tools can filter the runs.

`temporal workflow list --query 'LodestarStage="awaiting_review"'` (or the Web UI) finds every roadmap
draft waiting for a review. The attributes and their values:

| attribute | set by | value |
| --- | --- | --- |
| `LodestarKind` | the starter | `scenario`, `roadmap`, `risk` or `review` |
| `LodestarRequestedBy` | the starter | the API key's name, the local user for the CLI, `schedule:ID` |
| `LodestarStage` | the workflow, on every stage change | a `workflows.payloads.Stage` value |
| `LodestarSnapshotId` | the workflow, once the snapshot is loaded | the portfolio snapshot's id |
| `LodestarReviewer` | the roadmap workflow, on review | the reviewer's name |

Their names and types are durable contracts: queries, dashboards and registrations refer to them.
A namespace must have them registered before a run may carry them: the local dev server registers
them at start (`dev_server_arguments`), `lodestar init` (`ensure_search_attributes`) on a cluster.
The starter checks once per client (`registered_on`; a "missing" answer again after a minute) and
starts runs without them where they are missing; a workflow upserts its attributes only when it was started with them (`carries_lodestar`),
so a run on a namespace without them never fails on an unknown attribute.

This module imports nothing but `temporalio`, so that any module may import it, also one that
defines workflows (the workflow sandbox re-imports those).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import (
    SearchAttributeIndexedValueType,
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)
from temporalio.service import RPCError, RPCStatusCode

KIND = SearchAttributeKey.for_keyword("LodestarKind")
STAGE = SearchAttributeKey.for_keyword("LodestarStage")
REQUESTED_BY = SearchAttributeKey.for_keyword("LodestarRequestedBy")
REVIEWER = SearchAttributeKey.for_keyword("LodestarReviewer")
SNAPSHOT_ID = SearchAttributeKey.for_keyword("LodestarSnapshotId")
LODESTAR_KEYS: tuple[SearchAttributeKey[str], ...] = (KIND, STAGE, REQUESTED_BY, REVIEWER, SNAPSHOT_ID)

PATCH_ID = "search-attributes"
"""The `workflow.patched` id of the upserts: runs recorded before them replay without."""

_MAX_VALUE_CHARS = 256
_TRANSIENT = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)

logger = logging.getLogger(__name__)


class SearchAttributeConflictError(RuntimeError):
    """The namespace already has one of Lodestar's attribute names, with another type."""


def dev_server_arguments() -> list[str]:
    """`temporal server start-dev` arguments registering every Lodestar attribute."""
    arguments: list[str] = []
    for key in LODESTAR_KEYS:
        arguments += ["--search-attribute", f"{key.name}={_type_name(int(key.indexed_value_type))}"]
    return arguments


def _type_name(indexed_value_type: int) -> str:
    """`Keyword`, `KeywordList`, ...: the spelling of the `temporal` CLI."""
    try:
        name = SearchAttributeIndexedValueType(indexed_value_type).name
    except ValueError:
        return f"type {indexed_value_type}"
    return name.title().replace("_", "")


async def _registered_types(client: Client, namespace: str) -> dict[str, int]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(response.custom_attributes)


def _missing(registered: dict[str, int]) -> list[SearchAttributeKey[str]]:
    """The keys not registered yet; raises `SearchAttributeConflictError` for a name of another type."""
    conflicts = [
        f"{key.name} is {_type_name(registered[key.name])}, not {_type_name(int(key.indexed_value_type))}"
        for key in LODESTAR_KEYS
        if key.name in registered and registered[key.name] != int(key.indexed_value_type)
    ]
    if conflicts:
        raise SearchAttributeConflictError("registered with another type: " + "; ".join(conflicts))
    return [key for key in LODESTAR_KEYS if key.name not in registered]


async def ensure_search_attributes(client: Client, namespace: str | None = None) -> list[str]:
    """Register the Lodestar attributes missing on `namespace` (default: the client's); idempotent.

    Returns the names it added (empty when all were there). Needs the operator service and the right
    to change the namespace (a self-hosted cluster's frontend; Temporal Cloud registers them with
    `tcld`, see deploy/README.md). Raises `SearchAttributeConflictError` when a name exists with
    another type, and `temporalio.service.RPCError` when the service refuses.
    """
    chosen = namespace if namespace is not None else client.namespace
    missing = _missing(await _registered_types(client, chosen))
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=chosen,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in missing
                },
            )
        )
    if chosen == client.namespace:
        _checks.pop(client, None)
    return [key.name for key in missing]


MISSING_RECHECK_S = 60.0
"""How long a "missing" answer is trusted: attributes registered later (`lodestar init`) are used by a
running API within this long, without a restart. A "registered" answer is trusted for the client's life."""

_checks: weakref.WeakKeyDictionary[Client, tuple[asyncio.Future[bool], float]] = weakref.WeakKeyDictionary()
_warned: weakref.WeakSet[Client] = weakref.WeakSet()


async def registered_on(client: Client) -> bool:
    """Whether the client's namespace has every Lodestar attribute; asked once per client, and again
    `MISSING_RECHECK_S` after an answer that they are missing.

    When they are missing (or the service will not say), one warning is logged and runs start
    without them. A transient failure is raised and not remembered.
    """
    entry = _checks.get(client)
    if entry is None or _missing_and_stale(*entry):
        entry = _checks[client] = (asyncio.ensure_future(_check(client)), time.monotonic())
    try:
        return await asyncio.shield(entry[0])
    except Exception:
        if _checks.get(client) is entry:
            del _checks[client]
        raise


def _missing_and_stale(check: asyncio.Future[bool], asked_at: float) -> bool:
    answered_missing = (
        check.done() and not check.cancelled() and check.exception() is None and not check.result()
    )
    return answered_missing and time.monotonic() - asked_at >= MISSING_RECHECK_S


async def _check(client: Client) -> bool:
    try:
        missing = _missing(await _registered_types(client, client.namespace))
        problem = f"not registered: {', '.join(key.name for key in missing)}" if missing else ""
    except RPCError as error:
        if error.status in _TRANSIENT:
            raise
        status = error.status.name if error.status is not None else "error"
        problem = f"not listed ({status}: {error.message})"
    except SearchAttributeConflictError as error:
        problem = str(error)
    if problem and client not in _warned:
        _warned.add(client)
        logger.warning(
            "Temporal namespace %r: Lodestar's search attributes are %s; runs start without them "
            "(register them with `lodestar init`)",
            client.namespace,
            problem,
        )
    return not problem


async def start_attributes(client: Client, kind: str, requested_by: str | None) -> TypedSearchAttributes:
    """What a new run of `kind` (`workflows.payloads.WORKFLOW_KINDS`) carries: kind and requester, or
    nothing where they are not registered."""
    if not await registered_on(client):
        return TypedSearchAttributes.empty
    return run_attributes(kind, requested_by)


def run_attributes(kind: str, requested_by: str | None) -> TypedSearchAttributes:
    """Kind and requester of a new run (the requester left out when unknown)."""
    pairs = [SearchAttributePair(KIND, kind)]
    if requested_by and requested_by.strip():
        pairs.append(SearchAttributePair(REQUESTED_BY, requested_by.strip()[:_MAX_VALUE_CHARS]))
    return TypedSearchAttributes(pairs)


def carries_lodestar(attributes: TypedSearchAttributes) -> bool:
    """Whether a run was started with Lodestar's attributes (then all of them are registered)."""
    return KIND in attributes
