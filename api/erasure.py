"""The `eraseCustomer` mutation's payload and its work (`graph.erasure` does the erasing)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.types import Info
from graph.cypher import finish_even_if_cancelled
from graph.erasure import CustomerEraser, ErasureReport, ErasureRequest


@strawberry.type(
    description="The customer was erased: its node, requests, product usage and feedback are gone, and the "
    "stored results that mentioned it were rewritten without it (aggregate figures stay as computed). "
    "An erasure entry records who, when and how many, never the customer's id or name."
)
class CustomerErased:
    erasure_id: strawberry.ID = strawberry.field(description="The id of the erasure entry recorded.")
    erased_at: datetime = strawberry.field(description="When the erasure committed (UTC).")
    customer_found: bool = strawberry.field(
        description="False when only stored results still mentioned an id the portfolio no longer held."
    )
    requests: int = strawberry.field(description="Feature requests removed.")
    product_usages: int = strawberry.field(description="Product usage links removed.")
    feedback: int = strawberry.field(description="Feedback entries removed (with their text).")
    results_redacted: int = strawberry.field(description="Stored results rewritten without the customer.")
    kinds: list[str] = strawberry.field(
        description="Kinds of data erased: customer, requests, product_usage, feedback, written_results."
    )

    @classmethod
    def of(cls, report: ErasureReport) -> CustomerErased:
        assert report.erasure_id is not None, "an erasure that erased nothing has no entry"
        return cls(
            erasure_id=strawberry.ID(report.erasure_id),
            erased_at=report.erased_at,
            customer_found=report.customer_found,
            requests=report.requests,
            product_usages=report.product_usages,
            feedback=report.feedback,
            results_redacted=report.results_redacted,
            kinds=report.kinds,
        )


@strawberry.type(description="An erasure as its entry records it: no personal data, counts only.")
class ErasureEntry:
    id: strawberry.ID = strawberry.field(description="The entry's id.")
    erased_at: datetime = strawberry.field(description="When the erasure committed (UTC).")
    erased_by: str = strawberry.field(description="The name of the API key (or CLI user) that asked for it.")
    kinds: list[str] = strawberry.field(description="Kinds of data erased.")
    requests: int = strawberry.field(description="Feature requests removed.")
    feedback: int = strawberry.field(description="Feedback entries removed.")
    results_redacted: int = strawberry.field(description="Stored results rewritten without the customer.")


async def erasure_entries(info: Info, limit: int) -> list[ErasureEntry]:
    entries = await CustomerEraser(info.context.services.store).entries(limit=limit)
    return [
        ErasureEntry(
            id=strawberry.ID(entry.id),
            erased_at=entry.erased_at,
            erased_by=entry.erased_by,
            kinds=entry.kinds,
            requests=entry.requests,
            feedback=entry.feedback,
            results_redacted=entry.results_redacted,
        )
        for entry in entries
    ]


class NothingToErase(Exception):
    """Neither the portfolio nor any stored result holds the id (already erased, or never there)."""


async def erase_customer(info: Info, customer_id: str, requested_by: str) -> CustomerErased:
    """Erase the customer; raises pydantic's `ValidationError` for a malformed id, `NothingToErase`."""
    request = ErasureRequest(customer_id=customer_id, requested_by=requested_by)
    services = info.context.services
    # Erasure is one transaction: a timed-out request lets it finish rather than abandon it half-way.
    report = await finish_even_if_cancelled(CustomerEraser(services.store).erase(request))
    if report.erasure_id is None:
        raise NothingToErase(customer_id)
    services.results.forget_reports()
    return CustomerErased.of(report)


CustomerIdArgument = Annotated[
    strawberry.ID, strawberry.argument(description="The id of the customer to erase.")
]
